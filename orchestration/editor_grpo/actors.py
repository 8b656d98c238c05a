"""Editor sampler actors: Ray actors that sample editor-GRPO groups with their own copy of the pipeline.

Each actor loads the pipeline as the trainer does (:func:`orchestration.editor_grpo.policy.load_adapted_policy`:
frozen weights, the same LoRA adapter layers), takes the trainer's adapter weights after every update
(:meth:`EditorSampler.set_adapter`) and samples groups with the seeds the trainer gives it, so a group is the same
wherever it is sampled. Trajectories come back on the CPU; the trainer moves them to its own device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ray

from orchestration.editor_grpo.config import EditorGRPOConfig

__all__ = ["EditorSampler", "start_samplers", "sample_on"]


@ray.remote
class EditorSampler:
    """One copy of the editing pipeline with the trainer's adapter, sampling groups with per-step log-probs."""

    def __init__(self, config: dict[str, Any], threads: int | None = 1) -> None:
        import torch

        from orchestration.editor_grpo.policy import load_adapted_policy

        if threads:
            torch.set_num_threads(int(threads))
        self.config = EditorGRPOConfig.model_validate(config)
        self.pipeline, self.policy = load_adapted_policy(self.config)
        self.version = -1

    def set_adapter(self, state: dict[str, Any], version: int) -> int:
        """Load the learners' adapter weights (every one must land: a partial sync is a bug)."""
        from orchestration.editor_grpo.policy import load_adapter_state

        load_adapter_state(self.policy.denoiser, state)
        self.version = int(version)
        return self.version

    def sample(self, jobs: Sequence[tuple[str, Any, int]]) -> list[Any]:
        """One group per ``(prompt, image, seed)``, as CPU trajectories."""
        from agents.diffusion.sampling import sample_group

        return [sample_group(self.policy, prompt, image, group_size=self.config.group_size,
                             num_steps=self.config.num_steps, seed=seed).to("cpu") for prompt, image, seed in jobs]

    def adapter_state(self) -> dict[str, Any]:
        from orchestration.editor_grpo.policy import adapter_state

        return adapter_state(self.policy.denoiser)


def start_samplers(config: EditorGRPOConfig) -> list[Any]:
    """``config.sampler_actors`` sampler actors (Ray is started here if it is not running)."""
    from orchestration.train import init_ray

    init_ray()  # the submitted job's cluster under `ray job submit`, else a local one
    options = {"num_cpus": 0, "num_gpus": config.sampler_num_gpus}
    return [EditorSampler.options(**options).remote(config.model_dump(mode="json")) for _ in range(config.sampler_actors)]


def sample_on(samplers: Sequence[Any], tasks: Sequence[Any], seeds: Sequence[int]) -> list[Any]:
    """The groups of ``tasks`` (each with its seed) sampled round-robin over ``samplers``, in the order of ``tasks``."""
    shards = [list(range(k, len(tasks), len(samplers))) for k in range(len(samplers))]
    futures = [actor.sample.remote([(tasks[i].prompt, tasks[i].image, seeds[i]) for i in shard])
               for actor, shard in zip(samplers, shards) if shard]
    out: list[Any] = [None] * len(tasks)
    for shard, groups in zip([s for s in shards if s], ray.get(futures)):
        for i, group in zip(shard, groups):
            out[i] = group
    return out
