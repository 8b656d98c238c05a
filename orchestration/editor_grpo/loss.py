"""GRPO's clipped objective per denoising step, and the choice of steps to train: pure tensor functions.

Every step of a trajectory is one action; its advantage is the group-normalised reward of the whole edit (DDPO and
Flow-GRPO give every step the final reward's advantage). Log-probs are per-element means
(:func:`agents.diffusion.logprob.gaussian_log_prob`), so useful clip ranges are small: DDPO and Flow-GRPO use 1e-4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["clipped_step_loss", "select_steps"]


def clipped_step_loss(log_prob: Tensor, old_log_prob: Tensor, advantages: Tensor,
                      clip_range: float) -> tuple[Tensor, dict[str, float]]:
    """``mean(max(-A rho, -A clip(rho, 1 - c, 1 + c)))`` over a group for one step, ``rho = exp(logp - logp_old)``.

    Args:
        log_prob: ``G`` log-probs under the current weights (differentiable).
        old_log_prob: ``G`` the sampler's log-probs.
        advantages: ``G`` group advantages.
        clip_range: ``c > 0``.

    Returns:
        ``(loss, stats)`` with ``clip_frac`` (share of rows whose ratio left the range), ``approx_kl``
        (``mean((logp - logp_old)^2) / 2``, DDPO's estimate) and ``ratio`` (mean).

    >>> lp = torch.zeros(2, requires_grad=True)
    >>> loss, stats = clipped_step_loss(lp, torch.zeros(2), torch.tensor([1.0, -1.0]), 0.1)
    >>> float(loss), stats["clip_frac"]
    (0.0, 0.0)
    """
    if not clip_range > 0:
        raise ValueError(f"clip_range must be > 0, got {clip_range}")
    if not log_prob.shape == old_log_prob.shape == advantages.shape:
        raise ValueError(f"log_prob, old_log_prob and advantages must have one shape, got {tuple(log_prob.shape)}, "
                         f"{tuple(old_log_prob.shape)} and {tuple(advantages.shape)}")
    delta = log_prob - old_log_prob.detach()
    ratio = torch.exp(delta)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = torch.maximum(unclipped, clipped).mean()
    with torch.no_grad():
        stats = {"clip_frac": float(((ratio - 1.0).abs() > clip_range).float().mean()),
                 "approx_kl": float(0.5 * (delta**2).mean()), "ratio": float(ratio.mean())}
    return loss, stats


def select_steps(num_steps: int, fixed: Sequence[int] | None, fraction: float, generator: torch.Generator) -> list[int]:
    """The denoising steps to train this time.

    ``fixed`` (indices) wins when given; otherwise a random ``ceil(fraction * num_steps)`` of the steps, drawn anew
    every call (DanceGRPO's timestep subsampling; Flow-GRPO's ``timestep_fraction``), sorted.

    >>> select_steps(4, [0, 2], 1.0, torch.Generator().manual_seed(0))
    [0, 2]
    >>> len(select_steps(10, None, 0.3, torch.Generator().manual_seed(0)))
    3
    """
    if fixed is not None:
        bad = [s for s in fixed if not 0 <= s < num_steps]
        if bad:
            raise ValueError(f"train_steps {bad} are outside [0, {num_steps}); use indices below num_steps")
        return sorted(set(int(s) for s in fixed))
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"step fraction must be in (0, 1], got {fraction}")
    count = max(1, math.ceil(fraction * num_steps - 1e-9))  # the epsilon keeps 0.3 * 10 at 3, not 4
    if count >= num_steps:
        return list(range(num_steps))
    return sorted(torch.randperm(num_steps, generator=generator)[:count].tolist())
