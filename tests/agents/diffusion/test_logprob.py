"""The transition math against torch's Normal and diffusers' own DDIM step."""

from __future__ import annotations

import pytest
import torch

from agents.diffusion.logprob import ddim_step_mean_std, flow_sde_step_mean_std, gaussian_log_prob


def test_gaussian_log_prob_is_the_mean_of_normal_log_density():
    torch.manual_seed(0)
    mean, sample = torch.randn(3, 2, 4), torch.randn(3, 2, 4)
    std = torch.tensor([0.5, 1.0, 2.0])
    expected = torch.distributions.Normal(mean, std.view(-1, 1, 1)).log_prob(sample).mean(dim=(1, 2))
    assert torch.allclose(gaussian_log_prob(sample, mean, std), expected, atol=1e-6)


def test_gaussian_log_prob_refuses_zero_std_and_shape_mismatch():
    with pytest.raises(ValueError, match="eta > 0"):
        gaussian_log_prob(torch.zeros(1, 2), torch.zeros(1, 2), 0.0)
    with pytest.raises(ValueError, match="same shape"):
        gaussian_log_prob(torch.zeros(1, 2), torch.zeros(1, 3), 1.0)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_ddim_mean_and_std_match_diffusers_step(prediction_type):
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(set_alpha_to_one=False, timestep_spacing="trailing", prediction_type=prediction_type,
                              clip_sample=False)
    scheduler.set_timesteps(5)
    torch.manual_seed(1)
    sample, output, noise = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    t = int(scheduler.timesteps[1])
    prev = t - 1000 // 5
    a_t, a_prev = scheduler.alphas_cumprod[t], scheduler.alphas_cumprod[prev]
    mean, std = ddim_step_mean_std(output, sample, a_t, a_prev, eta=0.8, prediction_type=prediction_type)
    expected = scheduler.step(output, t, sample, eta=0.8, variance_noise=noise).prev_sample
    assert torch.allclose(mean + std * noise, expected, atol=1e-5)


def test_ddim_refuses_eta_zero_and_unknown_prediction():
    x = torch.zeros(1, 2)
    with pytest.raises(ValueError, match="eta must be > 0"):
        ddim_step_mean_std(x, x, 0.5, 0.9, eta=0.0)
    with pytest.raises(ValueError, match="prediction_type"):
        ddim_step_mean_std(x, x, 0.5, 0.9, eta=1.0, prediction_type="sample")


def test_flow_sde_tends_to_the_euler_step_as_noise_vanishes():
    torch.manual_seed(2)
    x, v = torch.randn(2, 8, 4), torch.randn(2, 8, 4)
    mean, std = flow_sde_step_mean_std(v, x, 0.6, 0.4, 0.9, noise_level=1e-4)
    assert torch.allclose(mean, x + v * (0.4 - 0.6), atol=1e-5)
    assert float(std) < 1e-4


def test_flow_sde_first_step_at_sigma_one_is_finite_and_refuses_bad_order():
    x = torch.zeros(1, 4)
    mean, std = flow_sde_step_mean_std(x, x, 1.0, 0.8, 0.8, noise_level=0.7)
    assert torch.isfinite(mean).all() and torch.isfinite(std).all() and float(std) > 0
    with pytest.raises(ValueError, match="sigma_next must be below sigma"):
        flow_sde_step_mean_std(x, x, 0.5, 0.6, 0.8, noise_level=0.7)
    with pytest.raises(ValueError, match="noise_level must be > 0"):
        flow_sde_step_mean_std(x, x, 0.5, 0.4, 0.8, noise_level=0.0)
