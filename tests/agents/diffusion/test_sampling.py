"""Sampling groups with per-step log-probs on tiny saved-and-reloaded pipelines; unsupported ones are refused."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from agents.diffusion.sampling import sample_group, step_log_prob
from agents.diffusion.support import policy_for

from .conftest import load

SOURCE = Image.new("RGB", (32, 32), (250, 250, 250))


@pytest.fixture(scope="module", params=["pix2pix", "kontext"])
def policy(request, tiny_pix2pix_path, tiny_kontext_path):
    if request.param == "pix2pix":
        return policy_for(load(tiny_pix2pix_path), eta=1.0, guidance_scale=3.0, image_guidance_scale=1.5)
    return policy_for(load(tiny_kontext_path), noise_level=0.7, max_sequence_length=16)


def test_trajectory_shapes_and_recomputed_log_probs_agree(policy):
    trajectory = sample_group(policy, "make it red", SOURCE, group_size=3, num_steps=3, seed=0)
    assert trajectory.latents.shape[:2] == (4, 3)
    assert trajectory.log_probs.shape == (3, 3) and torch.isfinite(trajectory.log_probs).all()
    assert trajectory.timesteps.shape == (3,)
    assert len(trajectory.images) == 3 and trajectory.images[0].size == (32, 32)
    for step in range(3):
        recomputed = step_log_prob(policy, trajectory, step)  # with gradients, as the learner does
        assert recomputed.requires_grad or not any(p.requires_grad for p in policy.denoiser.parameters())
        assert torch.allclose(recomputed.detach(), trajectory.log_probs[step], atol=1e-5)


def test_groups_differ_within_and_repeat_with_the_seed(policy):
    first = sample_group(policy, "make it red", SOURCE, group_size=2, num_steps=2, seed=7)
    again = sample_group(policy, "make it red", SOURCE, group_size=2, num_steps=2, seed=7)
    assert torch.equal(first.latents, again.latents)
    assert not torch.allclose(first.latents[-1, 0], first.latents[-1, 1])


def test_unsupported_pipeline_or_scheduler_is_refused(tiny_pix2pix_path):
    from diffusers import FlowMatchEulerDiscreteScheduler

    class OtherPipeline:
        scheduler = None

    with pytest.raises(ValueError, match="Supported: StableDiffusionInstructPix2PixPipeline"):
        policy_for(OtherPipeline())
    pipeline = load(tiny_pix2pix_path)
    pipeline.scheduler = FlowMatchEulerDiscreteScheduler()
    with pytest.raises(ValueError, match="FlowMatchEulerDiscreteScheduler cannot be trained; use one of DDIMScheduler"):
        policy_for(pipeline)


def test_deterministic_steps_are_refused(tiny_pix2pix_path):
    with pytest.raises(ValueError, match="eta must be > 0"):
        policy_for(load(tiny_pix2pix_path), eta=0.0)
