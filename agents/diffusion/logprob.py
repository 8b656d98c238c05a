"""The math of stochastic denoising steps with a known Gaussian transition density, as pure tensor functions.

A deterministic sampler (DDIM with eta = 0, the Euler ODE step of flow matching) has no density to take a ratio of;
a policy-gradient learner needs ``log p(x_{t-1} | x_t, c)``. Both step kinds here make the transition Gaussian,
``x_{t-1} ~ N(mean(x_t, model_output), std^2 I)``, with ``mean`` a differentiable function of the denoiser's output
and ``std`` a constant of the schedule:

- :func:`ddim_step_mean_std`: the DDIM step with ``eta > 0`` (Song et al., eq. 12), as DDPO samples and scores it.
- :func:`flow_sde_step_mean_std`: the reverse-time SDE step of a rectified-flow model with the marginals of its ODE,
  as Flow-GRPO samples and scores it (``std_t = noise_level * sqrt(sigma / (1 - sigma))``).

:func:`gaussian_log_prob` averages the per-element log density over every non-batch dimension, as DDPO and
Flow-GRPO do: the GRPO ratio is then ``exp`` of a per-element mean log-ratio, whose scale does not grow with the
image size (a sum would make every ratio leave the clip range at once on a large latent).

Shapes: ``B`` is the batch, ``...`` any latent shape (``C x H x W`` for UNets, ``tokens x channels`` for packed
transformer latents). Scalars of the schedule may be Python floats or 0-d / ``B``-shaped tensors.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["gaussian_log_prob", "ddim_step_mean_std", "flow_sde_step_mean_std", "PREDICTION_TYPES"]

#: What a UNet's output means: the noise (``epsilon``) or the velocity ``v = sqrt(a) eps - sqrt(1 - a) x0``.
PREDICTION_TYPES = ("epsilon", "v_prediction")

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _batch_view(value: Tensor | float, like: Tensor) -> Tensor:
    """A schedule scalar or ``B`` vector shaped to broadcast against ``like`` (``B x ...``), in ``like``'s dtype."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        return t
    if t.ndim != 1 or t.shape[0] != like.shape[0]:
        raise ValueError(f"a schedule value must be a scalar or have one entry per batch row ({like.shape[0]}), "
                         f"got shape {tuple(t.shape)}")
    return t.view(-1, *([1] * (like.ndim - 1)))


def gaussian_log_prob(sample: Tensor, mean: Tensor, std: Tensor | float) -> Tensor:
    """Log density of ``sample`` under ``N(mean, std^2 I)``, averaged over all non-batch dimensions.

    Args:
        sample: ``B x ...`` the next latent (treated as data: its gradient is not taken).
        mean: ``B x ...`` the step's mean, differentiable.
        std: positive scalar or ``B`` vector.

    Returns:
        ``B`` per-element mean log density.

    >>> x = torch.zeros(2, 3)
    >>> [round(v, 4) for v in gaussian_log_prob(x, x, 1.0).tolist()]
    [-0.9189, -0.9189]
    """
    if sample.shape != mean.shape:
        raise ValueError(f"sample and mean must have the same shape, got {tuple(sample.shape)} and {tuple(mean.shape)}")
    s = _batch_view(std, mean)
    if bool((s <= 0).any()):
        raise ValueError("std must be positive: a step with zero noise has no density (use eta > 0 / noise_level > 0)")
    log_prob = -((sample.detach() - mean) ** 2) / (2 * s**2) - torch.log(s) - _LOG_SQRT_2PI
    return log_prob.mean(dim=tuple(range(1, log_prob.ndim)))


def gaussian_kl_same_std(mean: Tensor, mean_ref: Tensor, std: Tensor | float) -> Tensor:
    """``KL(N(mean, std^2 I) || N(mean_ref, std^2 I))`` averaged over the non-batch dimensions: Flow-GRPO's KL of a
    denoising step to the reference policy's (both steps share the schedule's std).

    >>> m = torch.zeros(2, 3)
    >>> gaussian_kl_same_std(m, m, 1.0).tolist(), gaussian_kl_same_std(m + 2.0, m, 1.0).tolist()
    ([0.0, 0.0], [2.0, 2.0])
    """
    if mean.shape != mean_ref.shape:
        raise ValueError(f"mean and mean_ref must have the same shape, got {tuple(mean.shape)} and {tuple(mean_ref.shape)}")
    s = _batch_view(std, mean)
    kl = (mean - mean_ref.detach()) ** 2 / (2 * s**2)
    return kl.mean(dim=tuple(range(1, kl.ndim)))


def ddim_step_mean_std(
    model_output: Tensor,
    sample: Tensor,
    alpha_prod_t: Tensor | float,
    alpha_prod_t_prev: Tensor | float,
    eta: float,
    prediction_type: str = "epsilon",
) -> tuple[Tensor, Tensor]:
    """Mean and std of the stochastic DDIM step ``x_t -> x_{t-1}``.

    ``x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)``, ``var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)``,
    ``std = eta * sqrt(var)``, ``mean = sqrt(a_prev) x0 + sqrt(1 - a_prev - std^2) eps``. ``eta = 1`` is DDPM's
    posterior variance; DDPO uses ``eta = 1``. The predicted ``x0`` is not clipped (latent diffusion does not clip).

    Args:
        model_output: ``B x ...`` the denoiser's output after classifier-free guidance.
        sample: ``B x ...`` the current latent ``x_t``.
        alpha_prod_t, alpha_prod_t_prev: cumulative alphas at ``t`` and at the next (less noisy) timestep.
        eta: noise scale, ``> 0``.
        prediction_type: ``"epsilon"`` or ``"v_prediction"``.

    Returns:
        ``(mean, std)``: ``B x ...`` and a scalar (or ``B x 1 ...``) tensor.

    >>> eps, x = torch.zeros(1, 2), torch.ones(1, 2)
    >>> mean, std = ddim_step_mean_std(eps, x, 0.25, 1.0, eta=1.0)
    >>> mean.tolist(), float(std)
    ([[2.0, 2.0]], 0.0)
    """
    if eta <= 0:
        raise ValueError(f"eta must be > 0 for a stochastic DDIM step with a density, got {eta}")
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type must be one of {', '.join(PREDICTION_TYPES)}, got {prediction_type!r}")
    a_t = _batch_view(alpha_prod_t, sample)
    a_prev = _batch_view(alpha_prod_t_prev, sample)
    if prediction_type == "epsilon":
        eps = model_output
        x0 = (sample - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    else:
        x0 = a_t.sqrt() * sample - (1 - a_t).sqrt() * model_output
        eps = a_t.sqrt() * model_output + (1 - a_t).sqrt() * sample
    variance = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
    std = eta * variance.clamp(min=0).sqrt()
    direction = (1 - a_prev - std**2).clamp(min=0).sqrt() * eps
    return a_prev.sqrt() * x0 + direction, std


def flow_sde_step_mean_std(
    velocity: Tensor,
    sample: Tensor,
    sigma: Tensor | float,
    sigma_next: Tensor | float,
    sigma_max: float,
    noise_level: float,
) -> tuple[Tensor, Tensor]:
    """Mean and std of Flow-GRPO's SDE step ``x_sigma -> x_sigma_next`` for ``x_sigma = (1 - sigma) x0 + sigma noise``.

    With ``dt = sigma_next - sigma < 0`` and ``s = noise_level * sqrt(sigma / (1 - sigma))`` (``sigma = 1`` replaced
    by ``sigma_max``, the first step's sigma below 1, so the first step's std is finite):
    ``mean = x (1 + s^2 dt / (2 sigma)) + v (1 + s^2 (1 - sigma) / (2 sigma)) dt`` and ``std = s sqrt(-dt)``.
    ``noise_level = 0`` would be the Euler ODE step (no density); Flow-GRPO uses 0.7.

    Args:
        velocity: ``B x ...`` the transformer's velocity after guidance.
        sample: ``B x ...`` the current latent.
        sigma, sigma_next: the noise levels of this step and the next (``sigma_next < sigma``; the last is 0).
        sigma_max: the largest sigma below 1 of the schedule.
        noise_level: ``> 0``.

    Returns:
        ``(mean, std)``.

    >>> v, x = torch.zeros(1, 2), torch.ones(1, 2)
    >>> mean, std = flow_sde_step_mean_std(v, x, 0.5, 0.25, 0.5, noise_level=1.0)
    >>> [round(m, 4) for m in mean[0].tolist()], round(float(std), 4)
    ([0.75, 0.75], 0.5)
    """
    if noise_level <= 0:
        raise ValueError(f"noise_level must be > 0 for an SDE step with a density, got {noise_level}")
    s_now = _batch_view(sigma, sample)
    s_next = _batch_view(sigma_next, sample)
    if bool((s_next >= s_now).any()):
        raise ValueError("sigma_next must be below sigma: flow-matching sampling goes from noise (1) to data (0)")
    dt = s_next - s_now
    s_safe = torch.where(s_now >= 1, torch.as_tensor(sigma_max, dtype=s_now.dtype, device=s_now.device), s_now)
    std_t = (s_now / (1 - s_safe)).sqrt() * noise_level
    mean = sample * (1 + std_t**2 / (2 * s_now) * dt) + velocity * (1 + std_t**2 * (1 - s_now) / (2 * s_now)) * dt
    return mean, std_t * (-dt).sqrt()
