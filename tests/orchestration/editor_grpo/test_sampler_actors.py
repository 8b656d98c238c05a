"""Editor GRPO with sampler actors: the actors sample what the trainer would sample itself, and after every update
they hold the trainer's adapter."""

from __future__ import annotations

import pytest
import ray
import torch
from PIL import Image

from orchestration.editor_grpo.config import EditorGRPOConfig
from orchestration.editor_grpo.rewards import EditorTask
from orchestration.editor_grpo.trainer import EditorGRPOTrainer

TASK = EditorTask(prompt="make it red", image=Image.new("RGB", (32, 32), (200, 200, 200)))


def test_sampler_actors_sample_as_the_trainer_and_take_each_update(ray_cluster, tiny_pix2pix_path):
    config = EditorGRPOConfig(model=str(tiny_pix2pix_path), num_steps=2, group_size=3, lr=1e-2, lora_rank=2,
                              rewards=[{"name": "colour_share"}], target_colour=(255, 0, 0), soft_colour=True,
                              colour_tolerance=1.0, sampler={"guidance_scale": 3.0})
    local = EditorGRPOTrainer(config)
    remote = EditorGRPOTrainer(config.model_copy(update={"sampler_actors": 1}))
    try:
        for _ in range(2):
            here, there = local.run_iteration([TASK]), remote.run_iteration([TASK])
            assert there["reward_mean"] == pytest.approx(here["reward_mean"], abs=1e-5)  # same groups, same seeds
            assert there["loss"] == pytest.approx(here["loss"], abs=1e-5)
            assert there["sync_bytes"] > 0
        held = ray.get(remote.samplers[0].adapter_state.remote())
        trained = remote.adapter_state()
        assert remote.version == 2 and held.keys() == trained.keys()
        assert all(torch.equal(held[k], trained[k]) for k in trained)  # the actor has the last update
        assert all(torch.allclose(trained[k], v, atol=1e-5) for k, v in local.adapter_state().items())
    finally:
        remote.close()
