"""GRPO on a diffusers editing pipeline, read top to bottom: sample groups with per-step log-probs, score the edits,
normalise rewards within each group, and for each group take one AdamW step on the clipped objective averaged over
the chosen denoising steps. Only LoRA adapters on the denoiser are trained; everything else is frozen.

The update runs on RLlib's learner stack: a ``LearnerGroup`` of :class:`~orchestration.editor_grpo.learner.
EditorGRPOLearner` over a :class:`~orchestration.editor_grpo.module.DenoiserModule`, built from an ``AlgorithmConfig``
as GRPO's text policies are. ``num_learners: 0`` is one learner in this process, which also samples with the
learner's own pipeline (one copy, nothing to sync); ``num_learners: K >= 1`` starts K Ray learner actors (with a
GPU each when ``device`` is cuda), RLlib's DDP averaging their gradients, and the trainer takes the adapter from
the first learner after every update for whatever samples (its own copy of the pipeline, or the sampler actors).

Where it departs from the papers:

- One optimiser step per group (minibatch = a group); DDPO and Flow-GRPO accumulate over several prompts. With
  ``epochs_per_iteration = 1`` the first group's ratio is exactly 1 and later groups' are slightly off-policy.
- The KL term to the frozen model is off by default (``kl_coef``; DDPO has none, Flow-GRPO uses 0.04 on some
  tasks): with it, each step's KL to the step the adapters-off denoiser takes, Flow-GRPO's closed form.
- Classifier-free guidance is recomputed exactly as sampled (all guidance branches through the adapted denoiser);
  Flow-GRPO does the same; DanceGRPO's guidance-free variants are not implemented.
- Not an RLlib ``Algorithm`` driven by ``editrl train``: ``editrl train-editor`` drives the iterations, evaluation,
  checkpoints and resume (:mod:`orchestration.editor_grpo.run`).

Sampling runs in this process, or with ``sampler_actors: N`` in N Ray actors that hold their own copy of the
pipeline with the same adapter layers (:mod:`orchestration.editor_grpo.actors`): after every update the trainer
pushes the adapter's weights to them (one ``ray.put``), and each group is sampled with the seed it would have here.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.diffusion.sampling import Trajectory, sample_group
from orchestration.editor_grpo.config import EditorGRPOConfig
from orchestration.editor_grpo.learner import ROWS_TOTAL
from orchestration.editor_grpo.loss import select_steps
from orchestration.editor_grpo.module import EDITOR_MODULE
from orchestration.editor_grpo.rewards import EditorTask, score_image

__all__ = ["EditorGRPOTrainer", "build_learner_group"]

#: What the learners log per update (:mod:`orchestration.editor_grpo.learner`), reported as means per iteration.
LEARNER_METRICS = ("loss", "clip_frac", "approx_kl", "ratio", "grad_norm", "kl_ref")


def build_learner_group(config: EditorGRPOConfig) -> Any:
    """RLlib's ``LearnerGroup`` for ``config``: ``num_learners`` learners (0: one in this process), each holding the
    pipeline's adapted denoiser, with a GPU each when ``device`` is cuda."""
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from orchestration.editor_grpo.learner import EditorGRPOLearner
    from orchestration.editor_grpo.module import PLACEHOLDER_SPACE, DenoiserModule

    spec = MultiRLModuleSpec(rl_module_specs={EDITOR_MODULE: RLModuleSpec(
        module_class=DenoiserModule, observation_space=PLACEHOLDER_SPACE, action_space=PLACEHOLDER_SPACE,
        model_config={"editor": config.model_dump(mode="json")})})
    cuda = config.device.startswith("cuda")
    if config.num_learners or cuda:
        from orchestration.train import init_ray

        # the submitted job's cluster under `ray job submit`, else a local one; also on one GPU learner in this
        # process, whose device lookup would otherwise start Ray with its defaults
        init_ray()
    algo = (AlgorithmConfig()
            .framework("torch")
            .training(lr=config.lr)
            .learners(learner_class=EditorGRPOLearner, num_learners=config.num_learners,
                      num_gpus_per_learner=1 if cuda else 0,
                      # the one in-process learner's GPU is the pipeline's (cuda:N); Ray gives remote ones theirs
                      local_gpu_idx=int(config.device.partition(":")[2] or 0) if cuda else 0,
                      learner_config_dict={"clip_range": config.clip_range, "grad_clip": config.grad_clip,
                                           "kl_coef": config.kl_coef})
            .debugging(seed=config.seed))
    return algo.build_learner_group(rl_module_spec=spec)


def _first_learner_module(learner_group: Any, fn: Any, what: str) -> Any:
    """``fn(module)`` on the first learner's :class:`~orchestration.editor_grpo.module.DenoiserModule`."""
    from orchestration.grpo.actors import on_first_learner

    return on_first_learner(learner_group, lambda learner: fn(learner.module[EDITOR_MODULE].unwrapped()), what)


class EditorGRPOTrainer:
    """Builds the learners, samples groups and trains the denoiser's adapters through them (module docstring)."""

    def __init__(self, config: EditorGRPOConfig) -> None:
        self.config = config
        self.learner_group = build_learner_group(config)
        self.pipeline: Any = None
        self.policy: Any = None
        self.samplers: list[Any] = []
        try:
            if config.num_learners == 0:  # the learner is in this process: sample with its pipeline
                self.pipeline, self.policy = _first_learner_module(
                    self.learner_group, lambda m: (m.pipeline, m.policy), "share its pipeline")
            elif not config.sampler_actors:  # remote learners: this process samples with its own copy
                from orchestration.editor_grpo.policy import load_adapted_policy

                if config.device.startswith("cuda"):
                    warnings.warn("num_learners >= 1 on cuda without sampler_actors: this process loads a second "
                                  "copy of the pipeline to sample with, likely on the GPU Ray gave the first learner; "
                                  "set sampler_actors to sample in actors of their own", stacklevel=2)
                self.pipeline, self.policy = load_adapted_policy(config)
            self.step_generator = torch.Generator().manual_seed(config.seed)
            self.iteration = 0
            # The adapter's version (the updates it has had) and the version the samplers hold: the sampler actors,
            # and this process's own copy when the learners are remote.
            self.version, self._synced = 0, 0
            if config.sampler_actors:
                from orchestration.editor_grpo.actors import start_samplers

                self.samplers = start_samplers(config)
                self._synced = -1
        except BaseException:
            self.close()  # the learners (and any sampler) started so far
            raise

    # -- one iteration ---------------------------------------------------------------------------------------

    def sample(self, tasks: Sequence[EditorTask]) -> tuple[list[Trajectory], list[np.ndarray]]:
        """One group per task: trajectories and their rewards. Sampled here, or by the sampler actors (each group's
        seed is the same either way, so the same adapter samples the same edits)."""
        seeds = [self.config.seed * 1_000_003 + self.iteration * 1009 + index for index in range(len(tasks))]
        trajectories = self._sample_groups(tasks, seeds)
        rewards = [np.array([score_image(task, image, self.config) for image in t.images])
                   for task, t in zip(tasks, trajectories)]
        return trajectories, rewards

    def _sample_groups(self, tasks: Sequence[EditorTask], seeds: Sequence[int]) -> list[Trajectory]:
        """One group per task with its seed, under the learners' current adapter, where this run samples."""
        self.sync_adapter()
        if self.samplers:
            from orchestration.editor_grpo.actors import sample_on

            return sample_on(self.samplers, tasks, seeds)
        return [sample_group(self.policy, task.prompt, task.image, group_size=self.config.group_size,
                             num_steps=self.config.num_steps, seed=seed) for task, seed in zip(tasks, seeds)]

    def evaluate(self, tasks: Sequence[EditorTask], seed: int) -> float:
        """The mean reward of one group per task, sampled with the current adapter and seeds ``seed + index`` (keep
        them apart from the training seeds), where this run samples (here or on the sampler actors)."""
        if not tasks:
            raise ValueError("no tasks to evaluate on")
        trajectories = self._sample_groups(tasks, [seed + index for index in range(len(tasks))])
        return float(np.mean([score_image(task, image, self.config)
                              for task, t in zip(tasks, trajectories) for image in t.images]))

    def sync_adapter(self) -> tuple[float, int]:
        """Bring the learners' adapter to whatever samples, if it does not hold this version yet: the sampler actors
        (one ``ray.put``) or this process's own copy; returns the seconds and bytes it took (0, 0 when there was
        nothing to send, as with the one in-process learner, whose pipeline is the sampler's)."""
        if self._synced == self.version or (self.config.num_learners == 0 and not self.samplers):
            return 0.0, 0
        start = time.perf_counter()
        state = self.adapter_state()
        if self.samplers:
            import ray

            ref = ray.put(state)
            ray.get([actor.set_adapter.remote(ref, self.version) for actor in self.samplers])
        else:
            from orchestration.editor_grpo.policy import load_adapter_state

            load_adapter_state(self.policy.denoiser, state)
        self._synced = self.version
        return time.perf_counter() - start, int(sum(t.numel() * t.element_size() for t in state.values()))

    def close(self) -> None:
        """Stop the sampler actors and the learners."""
        import ray

        for actor in self.samplers:
            ray.kill(actor)
        self.samplers = []
        self.learner_group.shutdown()

    def advantages(self, rewards: np.ndarray) -> np.ndarray:
        from rewards import group_normalize

        adv = group_normalize(rewards, scale_by_std=self.config.scale_by_std)
        return np.clip(adv, -self.config.adv_clip_max, self.config.adv_clip_max).astype(np.float32)

    def group_batch(self, group: int, trajectory: Trajectory, advantages: np.ndarray) -> dict[str, np.ndarray]:
        """The learner rows of one group: one per chosen denoising step (``group`` indexes the iteration's
        trajectories as the learners hold them)."""
        steps = select_steps(trajectory.num_steps, self.config.train_steps, self.config.train_step_fraction,
                             self.step_generator)
        old = trajectory.log_probs.detach().float().cpu().numpy()
        rows = len(steps)
        return {"group": np.full(rows, group, dtype=np.int64), "step": np.asarray(steps, dtype=np.int64),
                "advantages": np.tile(advantages, (rows, 1)), "old_logp": old[steps],
                ROWS_TOTAL: np.full(rows, rows, dtype=np.float32)}

    def train_group(self, columns: dict[str, np.ndarray]) -> dict[str, float]:
        """One optimiser step of the learners on one group's rows; the learners' metrics of that step."""
        from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
        from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

        rows = len(columns["step"])
        results = self.learner_group.update(batch=MultiAgentBatch({EDITOR_MODULE: SampleBatch(columns)}, env_steps=rows),
                                            timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: self.iteration})
        return learner_metrics(results)

    def run_iteration(self, tasks: Sequence[EditorTask]) -> dict[str, float]:
        """Sample one group per task, then train ``epochs_per_iteration`` passes over them."""
        start = time.perf_counter()
        trajectories, rewards = self.sample(tasks)
        sampled = time.perf_counter()
        # The learners get the iteration's trajectories once, without their images; rows index them. Learner actors
        # take them through the object store (on the CPU); the in-process learner takes them where they are.
        shipped = [dataclasses.replace(t.to("cpu") if self.config.num_learners else t, images=[]) for t in trajectories]
        for result in self.learner_group.foreach_learner(
                lambda learner: learner.module[EDITOR_MODULE].unwrapped().set_trajectories(shipped)):
            if not result.ok:  # a learner without this iteration's trajectories cannot take its share of the update
                raise result.get()
        advantages = [self.advantages(r) for r in rewards]
        rows: list[dict[str, float]] = []
        for _ in range(self.config.epochs_per_iteration):
            for group, (trajectory, adv) in enumerate(zip(trajectories, advantages)):
                if bool((adv == 0).all()):
                    continue  # a group whose edits all scored the same carries no signal
                rows.append(self.train_group(self.group_batch(group, trajectory, adv)))
        all_rewards = np.concatenate(rewards)
        metrics = {"reward_mean": float(all_rewards.mean()), "reward_std": float(all_rewards.std()),
                   "zero_variance_groups": float(sum(float(np.ptp(r)) == 0.0 for r in rewards) / len(rewards)),
                   "sample_seconds": sampled - start, "train_seconds": time.perf_counter() - sampled}
        for key in LEARNER_METRICS:
            if key != "kl_ref" or self.config.kl_coef > 0:
                metrics[key] = float(np.mean([r[key] for r in rows])) if rows else 0.0
        self.iteration += 1
        if rows:
            self.version += 1
            if self.samplers or self.config.num_learners:  # whatever samples the next iteration gets this update
                metrics["sync_seconds"], metrics["sync_bytes"] = self.sync_adapter()
        return metrics

    # -- adapters --------------------------------------------------------------------------------------------

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The LoRA weights the learners hold (what changes in training), CPU copies in PEFT's naming."""
        return _first_learner_module(self.learner_group, lambda m: m.adapter_state(), "read its adapter")

    def save_adapter(self, path: str | Path) -> Path:
        """Save the learners' adapter with diffusers' ``save_lora_adapter`` (safetensors), loadable by
        ``load_lora_adapter`` (written by the first learner: with learners on other nodes, a shared filesystem)."""
        path = Path(path)
        _first_learner_module(self.learner_group, lambda m: m.save_adapter(str(path)), "save its adapter")
        return path

    def describe(self) -> dict[str, Any]:
        def count(module: Any) -> dict[str, Any]:
            components = [c for c in module.pipeline.components.values() if isinstance(c, torch.nn.Module)]
            return {"pipeline": type(module.pipeline).__name__, "step_kind": module.policy.step_kind,
                    "trainable_parameters": sum(p.numel() for p in module.denoiser.parameters() if p.requires_grad),
                    "frozen_parameters": sum(p.numel() for c in components for p in c.parameters() if not p.requires_grad)}

        return {**_first_learner_module(self.learner_group, count, "describe it"), "num_learners": self.config.num_learners}


def learner_metrics(results: Any) -> dict[str, float]:
    """The editor module's :data:`LEARNER_METRICS` from ``LearnerGroup.update``'s results (RLlib's stats per learner,
    one dict each): each learner's means weighted by its rows, so they are means over all the update's rows."""
    per_learner = results if isinstance(results, list) else [results]
    modules = [r[EDITOR_MODULE] for r in per_learner if EDITOR_MODULE in r]
    out = {}
    for key in LEARNER_METRICS:
        pairs = [(_value(m[key]), _value(m["rows"]) if "rows" in m else 1.0) for m in modules if key in m]
        out[key] = float(np.average([v for v, _ in pairs], weights=[w for _, w in pairs])) if pairs else 0.0
    return out


def _value(stat: Any) -> float:
    return float(stat.peek() if hasattr(stat, "peek") else stat)
