"""What the sampler and the learner need from an editing pipeline: conditioning, one guided denoiser call, the
step's Gaussian mean and std, and decoding. One subclass per supported pipeline family (:mod:`agents.diffusion.support`).

The conditioning (text embeddings, image latents, positional ids) is computed once per group under ``no_grad`` and
kept in the trajectory: only the denoiser is trained (LoRA adapters), so the learner recomputes a step's log-prob
from exactly the tensors the sampler used.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["Schedule", "DenoisingPolicy"]


@dataclass(frozen=True)
class Schedule:
    """The sampled timesteps and, per step, the two schedule values the step's math takes.

    Attributes:
        timesteps: ``T`` the denoiser's timestep input per step.
        values: ``T x 2``: ``(alpha_prod_t, alpha_prod_t_prev)`` for DDIM steps, ``(sigma, sigma_next)`` for
            flow-matching SDE steps.
        sigma_max: the largest sigma below 1 (flow matching only; 0 for DDIM).
    """

    timesteps: Tensor
    values: Tensor
    sigma_max: float = 0.0

    def __len__(self) -> int:
        return int(self.timesteps.shape[0])


class DenoisingPolicy(ABC):
    """A loaded editing pipeline seen as a stochastic policy over denoising steps.

    Attributes:
        pipeline: the diffusers pipeline (its scheduler is never mutated: the policy keeps its own copy).
        denoiser: the module that is trained (UNet or transformer).
        step_kind: ``"ddim"`` or ``"flow_sde"``.
    """

    step_kind: str = ""

    def __init__(self, pipeline: Any, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.pipeline = pipeline
        self.device = torch.device(device)
        self.dtype = dtype

    @property
    @abstractmethod
    def denoiser(self) -> torch.nn.Module:
        """The UNet or transformer whose adapters are trained."""

    @abstractmethod
    def prepare(self, prompt: str, image: Any, group_size: int, num_steps: int,
                generator: torch.Generator) -> tuple[dict[str, Any], Tensor, Schedule]:
        """``(conditioning, initial latents (float32, group_size x ...), schedule)`` for one prompt and image."""

    @abstractmethod
    def model_output(self, latents: Tensor, step: int, conditioning: dict[str, Any], schedule: Schedule) -> Tensor:
        """The denoiser's guided output at ``step`` (float32, the shape of ``latents``); differentiable."""

    @abstractmethod
    def step_mean_std(self, model_output: Tensor, latents: Tensor, step: int, schedule: Schedule) -> tuple[Tensor, Tensor]:
        """The Gaussian transition of ``step`` (float32)."""

    @abstractmethod
    def decode(self, latents: Tensor, conditioning: dict[str, Any]) -> list[Any]:
        """Final latents to PIL images."""
