"""GRPO on a diffusers editing pipeline, read top to bottom: sample groups with per-step log-probs, score the edits,
normalise rewards within each group, and for each group take one AdamW step on the clipped objective summed over
the chosen denoising steps. Only LoRA adapters on the denoiser are trained; everything else is frozen.

Where it departs from the papers:

- One optimiser step per group (minibatch = a group); DDPO and Flow-GRPO accumulate over several prompts. With
  ``epochs_per_iteration = 1`` the first group's ratio is exactly 1 and later groups' are slightly off-policy.
- No KL term to the frozen model (Flow-GRPO adds one with weight 0.04 for some tasks; DDPO has none).
- Classifier-free guidance is recomputed exactly as sampled (all guidance branches through the adapted denoiser);
  Flow-GRPO does the same; DanceGRPO's guidance-free variants are not implemented.
- A standalone trainer, not an RLlib Algorithm: the text policies' learner batches tokens, while here a batch is a
  trajectory of latents with conditioning tensors and no token axis; the reward registry, group normalisation
  (``rewards.group_normalize``) and config style are shared.

Sampling runs in this process, or with ``sampler_actors: N`` in N Ray actors that hold their own copy of the
pipeline with the same adapter layers (:mod:`orchestration.editor_grpo.actors`): after every update the trainer
pushes the adapter's weights to them (one ``ray.put``), and each group is sampled with the seed it would have here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.diffusion.sampling import Trajectory, sample_group, step_log_prob
from agents.diffusion.support import policy_for
from orchestration.editor_grpo.config import EditorGRPOConfig
from orchestration.editor_grpo.loss import clipped_step_loss, select_steps
from orchestration.editor_grpo.rewards import EditorTask, score_image

__all__ = ["EditorGRPOTrainer", "load_adapted_policy"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_adapted_policy(config: EditorGRPOConfig) -> tuple[Any, Any]:
    """The pipeline of ``config.model`` with everything frozen, its denoising policy, and fresh LoRA adapters on the
    denoiser (seeded by ``config.seed``, trained in float32): what the trainer trains and a sampler actor samples
    with."""
    from diffusers import DiffusionPipeline
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    from agents.diffusers_editor import _dtype_kwarg
    from agents.weights import require_safetensors

    dtype = _DTYPES[config.dtype]
    require_safetensors(config.model)
    pipeline = DiffusionPipeline.from_pretrained(config.model, use_safetensors=True, **{_dtype_kwarg(): dtype})
    pipeline.set_progress_bar_config(disable=True)
    pipeline.to(config.device)
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            component.requires_grad_(False)
    policy = policy_for(pipeline, device=config.device, dtype=dtype, **config.sampler)
    denoiser = policy.denoiser
    missing = [t for t in config.lora_targets if not any(n == t or n.endswith("." + t) for n, _ in denoiser.named_modules())]
    if missing:
        raise ValueError(f"lora_targets {missing} match no module of {type(denoiser).__name__}; pick names from its "
                         "named_modules() (e.g. to_q, to_k, to_v, to_out.0)")
    # peft draws the adapters' initial A matrices from torch's global generator: seed it so runs repeat.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        denoiser.add_adapter(LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                                        target_modules=list(config.lora_targets), init_lora_weights="gaussian"))
    # Adapters train in float32 even on a bf16 model: bf16 Adam updates of small LoRA weights round to nothing.
    cast_training_params(denoiser, dtype=torch.float32)
    return pipeline, policy


class EditorGRPOTrainer:
    """Loads the pipeline, puts LoRA adapters on its denoiser, and trains them (module docstring)."""

    def __init__(self, config: EditorGRPOConfig) -> None:
        self.config = config
        self.pipeline, self.policy = load_adapted_policy(config)
        denoiser = self.policy.denoiser
        self.trainable = [p for p in denoiser.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=config.lr)
        self.step_generator = torch.Generator().manual_seed(config.seed)
        self.iteration = 0
        # With sampler_actors, editor actors sample with their own copy of the pipeline and this adapter, pushed to
        # them after every update (version: the updates the adapter has had).
        self.samplers: list[Any] = []
        self.version, self._synced = 0, -1
        if config.sampler_actors:
            from orchestration.editor_grpo.actors import start_samplers

            self.samplers = start_samplers(config)

    # -- one iteration ---------------------------------------------------------------------------------------

    def sample(self, tasks: Sequence[EditorTask]) -> tuple[list[Trajectory], list[np.ndarray]]:
        """One group per task: trajectories and their rewards. Sampled here, or by the sampler actors (each group's
        seed is the same either way, so the same adapter samples the same edits)."""
        seeds = [self.config.seed * 1_000_003 + self.iteration * 1009 + index for index in range(len(tasks))]
        if self.samplers:
            from orchestration.editor_grpo.actors import sample_on

            self.sync_adapter()
            trajectories = [t.to(self.policy.device) for t in sample_on(self.samplers, tasks, seeds)]
        else:
            trajectories = [sample_group(self.policy, task.prompt, task.image, group_size=self.config.group_size,
                                         num_steps=self.config.num_steps, seed=seed) for task, seed in zip(tasks, seeds)]
        rewards = [np.array([score_image(task, image, self.config) for image in t.images])
                   for task, t in zip(tasks, trajectories)]
        return trajectories, rewards

    def sync_adapter(self) -> tuple[float, int]:
        """Push the adapter to the sampler actors if they do not hold this version yet (one ``ray.put``); returns
        the seconds and bytes it took (0, 0 when there was nothing to send)."""
        if not self.samplers or self._synced == self.version:
            return 0.0, 0
        import ray

        start = time.perf_counter()
        state = self.adapter_state()
        ref = ray.put(state)
        ray.get([actor.set_adapter.remote(ref, self.version) for actor in self.samplers])
        self._synced = self.version
        return time.perf_counter() - start, int(sum(t.numel() * t.element_size() for t in state.values()))

    def close(self) -> None:
        """Stop the sampler actors (a trainer without them has nothing to stop)."""
        import ray

        for actor in self.samplers:
            ray.kill(actor)
        self.samplers = []

    def advantages(self, rewards: np.ndarray) -> torch.Tensor:
        from rewards import group_normalize

        adv = group_normalize(rewards, scale_by_std=self.config.scale_by_std)
        return torch.as_tensor(np.clip(adv, -self.config.adv_clip_max, self.config.adv_clip_max), dtype=torch.float32,
                               device=self.policy.device)

    def train_group(self, trajectory: Trajectory, advantages: torch.Tensor) -> dict[str, float]:
        """One optimiser step on the clipped objective summed over this group's chosen steps (mean over steps)."""
        steps = select_steps(trajectory.num_steps, self.config.train_steps, self.config.train_step_fraction,
                             self.step_generator)
        self.optimizer.zero_grad(set_to_none=True)
        totals = {"loss": 0.0, "clip_frac": 0.0, "approx_kl": 0.0, "ratio": 0.0}
        for step in steps:
            # One backward per step keeps one denoiser graph in memory at a time.
            log_prob = step_log_prob(self.policy, trajectory, step)
            loss, stats = clipped_step_loss(log_prob, trajectory.log_probs[step].to(log_prob.device), advantages,
                                            self.config.clip_range)
            (loss / len(steps)).backward()
            totals["loss"] += float(loss.detach()) / len(steps)
            for key in ("clip_frac", "approx_kl", "ratio"):
                totals[key] += stats[key] / len(steps)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.trainable, self.config.grad_clip)
        self.optimizer.step()
        return {**totals, "grad_norm": float(grad_norm), "steps_trained": float(len(steps))}

    def run_iteration(self, tasks: Sequence[EditorTask]) -> dict[str, float]:
        """Sample one group per task, then train ``epochs_per_iteration`` passes over them."""
        start = time.perf_counter()
        trajectories, rewards = self.sample(tasks)
        sampled = time.perf_counter()
        advantages = [self.advantages(r) for r in rewards]
        rows: list[dict[str, float]] = []
        for _ in range(self.config.epochs_per_iteration):
            for trajectory, adv in zip(trajectories, advantages):
                if bool((adv == 0).all()):
                    continue  # a group whose edits all scored the same carries no signal
                rows.append(self.train_group(trajectory, adv))
        all_rewards = np.concatenate(rewards)
        metrics = {"reward_mean": float(all_rewards.mean()), "reward_std": float(all_rewards.std()),
                   "zero_variance_groups": float(sum(float(np.ptp(r)) == 0.0 for r in rewards) / len(rewards)),
                   "sample_seconds": sampled - start, "train_seconds": time.perf_counter() - sampled}
        for key in ("loss", "clip_frac", "approx_kl", "ratio", "grad_norm"):
            metrics[key] = float(np.mean([r[key] for r in rows])) if rows else 0.0
        self.iteration += 1
        if rows:
            self.version += 1
            if self.samplers:  # the actors sample the next iteration with this update
                metrics["sync_seconds"], metrics["sync_bytes"] = self.sync_adapter()
        return metrics

    def train(self, tasks: Sequence[EditorTask], *, log_dir: str | Path | None = None) -> list[dict[str, float]]:
        """``config.iterations`` iterations over ``tasks`` (``groups_per_iteration`` of them each, in turn); the
        metrics of each, also written to TensorBoard under ``editor_grpo/`` when ``log_dir`` is given."""
        if not tasks:
            raise ValueError("no tasks to train on: pass at least one EditorTask")
        writer = None
        if log_dir is not None:
            from tensorboardX import SummaryWriter

            writer = SummaryWriter(str(log_dir))
        history = []
        per = self.config.groups_per_iteration
        try:
            for it in range(self.config.iterations):
                batch = [tasks[(it * per + k) % len(tasks)] for k in range(per)]
                metrics = self.run_iteration(batch)
                history.append(metrics)
                if writer is not None:
                    for key, value in metrics.items():
                        writer.add_scalar(f"editor_grpo/{key}", value, it)
        finally:
            if writer is not None:
                writer.close()
        return history

    # -- adapters --------------------------------------------------------------------------------------------

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The LoRA weights (what changes in training), detached copies on the CPU."""
        from peft.utils import get_peft_model_state_dict

        return {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(self.policy.denoiser).items()}

    def save_adapter(self, path: str | Path) -> Path:
        """Save the adapters with diffusers' ``save_lora_adapter`` (safetensors), loadable by ``load_lora_adapter``."""
        path = Path(path)
        self.policy.denoiser.save_lora_adapter(str(path))
        return path

    def describe(self) -> dict[str, Any]:
        return {"pipeline": type(self.pipeline).__name__, "step_kind": self.policy.step_kind,
                "trainable_parameters": sum(p.numel() for p in self.trainable),
                "frozen_parameters": sum(p.numel() for c in self.pipeline.components.values()
                                         if isinstance(c, torch.nn.Module) for p in c.parameters() if not p.requires_grad)}
