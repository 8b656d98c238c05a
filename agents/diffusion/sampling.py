"""Sampling a group of edits with per-step log-probs, and recomputing those log-probs with gradients.

The sampler and the learner run the same functions (:meth:`DenoisingPolicy.model_output`, ``step_mean_std``,
:func:`agents.diffusion.logprob.gaussian_log_prob`) on the same stored tensors, so with unchanged weights the
recomputed log-prob equals the sampled one up to float rounding (tests check it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from agents.diffusion.logprob import gaussian_log_prob
from agents.diffusion.policy import DenoisingPolicy, Schedule

__all__ = ["Trajectory", "sample_group", "step_log_prob", "step_mean_std"]


@dataclass
class Trajectory:
    """One group of ``G`` edits of one prompt and image, step by step.

    Attributes:
        latents: ``T+1 x G x ...`` float32: the initial noise, then the latent after each step.
        log_probs: ``T x G`` the sampler's log-prob of each step (per-element mean).
        schedule: the timesteps and schedule values of the ``T`` steps.
        conditioning: the tensors every denoiser call of the group takes (text embeddings, image latents, ids).
        images: the ``G`` decoded PIL images.
        prompt: the prompt the group was sampled for.
    """

    latents: Tensor
    log_probs: Tensor
    schedule: Schedule
    conditioning: dict[str, Any]
    images: list[Any]
    prompt: str

    @property
    def num_steps(self) -> int:
        return int(self.log_probs.shape[0])

    def to(self, device: Any) -> "Trajectory":
        """The same trajectory with every tensor on ``device`` (a sampler on another device or in another process
        hands it to the learner this way); the images and the prompt are shared."""
        from dataclasses import replace

        def move(value: Any) -> Any:
            if isinstance(value, (tuple, list)):
                return type(value)(move(v) for v in value)
            return value.to(device) if isinstance(value, Tensor) else value

        schedule = replace(self.schedule, timesteps=move(self.schedule.timesteps), values=move(self.schedule.values))
        return replace(self, latents=move(self.latents), log_probs=move(self.log_probs), schedule=schedule,
                       conditioning={k: move(v) for k, v in self.conditioning.items()})

    @property
    def timesteps(self) -> Tensor:
        return self.schedule.timesteps


def step_mean_std(policy: DenoisingPolicy, trajectory: Trajectory, step: int) -> tuple[Tensor, Tensor]:
    """The Gaussian transition of step ``step`` of the stored trajectory under the policy's current weights:
    ``(mean, std)``, the mean differentiable through the denoiser when gradients are enabled."""
    if not 0 <= step < trajectory.num_steps:
        raise ValueError(f"step must be in [0, {trajectory.num_steps}), got {step}")
    latents = trajectory.latents[step]
    out = policy.model_output(latents, step, trajectory.conditioning, trajectory.schedule)
    return policy.step_mean_std(out, latents, step, trajectory.schedule)


def step_log_prob(policy: DenoisingPolicy, trajectory: Trajectory, step: int) -> Tensor:
    """``G`` log-probs of step ``step`` of the stored trajectory under the policy's current weights.

    Differentiable through the denoiser when gradients are enabled (the caller decides).
    """
    mean, std = step_mean_std(policy, trajectory, step)
    return gaussian_log_prob(trajectory.latents[step + 1], mean, std)


def sample_group(policy: DenoisingPolicy, prompt: str, image: Any, *, group_size: int, num_steps: int,
                 seed: int) -> Trajectory:
    """Sample ``group_size`` edits of ``image`` for ``prompt`` with stochastic steps, keeping every step.

    Args:
        policy: from :func:`agents.diffusion.support.policy_for`.
        prompt: the editing instruction.
        image: the PIL source image.
        group_size: edits per group (GRPO's ``G``).
        num_steps: denoising steps.
        seed: seeds the initial noise and every step's noise (the group's edits differ from each other).
    """
    if group_size < 1 or num_steps < 1:
        raise ValueError(f"group_size and num_steps must be at least 1, got {group_size} and {num_steps}")
    generator = torch.Generator(device=policy.device).manual_seed(int(seed))
    with torch.no_grad():
        conditioning, latents, schedule = policy.prepare(prompt, image, group_size, num_steps, generator)
        if len(schedule) != num_steps:
            raise RuntimeError(f"the schedule has {len(schedule)} steps, expected {num_steps}")
        states, log_probs = [latents], []
        for step in range(num_steps):
            out = policy.model_output(latents, step, conditioning, schedule)
            mean, std = policy.step_mean_std(out, latents, step, schedule)
            noise = torch.randn(mean.shape, generator=generator, device=policy.device, dtype=mean.dtype)
            latents = mean + std * noise
            log_probs.append(gaussian_log_prob(latents, mean, std))
            states.append(latents)
        images = policy.decode(latents, conditioning)
    return Trajectory(latents=torch.stack(states), log_probs=torch.stack(log_probs), schedule=schedule,
                      conditioning=conditioning, images=images, prompt=prompt)

