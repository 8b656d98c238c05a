"""GRPO with a LoRA adapter end to end on the tiny policy: the actors sample with the adapter the learner trained,
only the adapter is sent, checkpointed and restored, a resumed run continues exactly, and the saved adapter folder
is what the held-out evaluation and PEFT load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import ray

from orchestration.grpo.algorithm import GRPO
from orchestration.grpo.checkpoint import save_checkpoint
from orchestration.grpo.config import build_grpo_config, train_section

LORA = {"r": 4, "alpha": 8}


def _pipeline(make_pipeline, **train):
    return make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}, {name: format, weight: 0.2}]"],
                         train={"agents": {"decomposer": {"lora": LORA}}, "kl_coef": 0.05, **train})


def test_lora_grpo_syncs_only_the_adapter_and_resumes_exactly(ray_cluster, make_pipeline, tmp_path):
    algo = build_grpo_config(_pipeline(make_pipeline, epochs_per_batch=2, minibatch_size=4)).build_algo()
    try:
        base = next(iter(algo.learner_group.foreach_learner(
            lambda learner: learner.module["decomposer"].model.get_base_model().state_dict()))).get()
        full = sum(v.nbytes for v in base.values())
        result = algo.train()
        assert 0 < result["grpo"]["sync_bytes"] < full / 10
        assert "kl_ref" in result["learners"]["decomposer"]  # the reference: the adapter switched off
        # The actor samples with the learner's adapter: its weights equal base + the learner's adapter.
        actor_state = ray.get(algo.policy_actors["decomposer"][0].get_weights.remote())
        learner_state = algo.learner_group.get_weights(["decomposer"])["decomposer"]
        lora_keys = [k for k in actor_state if ".lora_B." in k]
        assert lora_keys and all(
            np.allclose(actor_state[k].numpy(), learner_state["model.base_model.model." + k]) for k in lora_keys)
        assert any(np.abs(learner_state["model.base_model.model." + k]).max() > 0 for k in lora_keys)  # it trained
        algo.train()
        checkpoint = save_checkpoint(algo, tmp_path)
        algo.train()
        expected = [r["completion"] for r in algo.last_rollouts], algo.learner_group.get_weights(["decomposer"])["decomposer"]
    finally:
        algo.stop()
    policy = checkpoint / "policies" / "decomposer"
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in policy.iterdir()}
    assert not (policy / "model.safetensors").exists()
    assert set(expected[1]) == {k for k in expected[1] if ".lora_" in k}  # the learner's state is the adapter only

    resumed = GRPO.from_checkpoint(str(checkpoint / "rllib"))
    try:
        resumed.train()
        assert [r["completion"] for r in resumed.last_rollouts] == expected[0]
        weights = resumed.learner_group.get_weights(["decomposer"])["decomposer"]
        assert set(weights) == set(expected[1]) and all(np.array_equal(weights[k], expected[1][k]) for k in weights)
    finally:
        resumed.stop()


def test_lora_run_evaluates_the_saved_adapter(ray_cluster, make_pipeline, tmp_path):
    from orchestration.train import run_training

    pipeline = _pipeline(make_pipeline)
    section = train_section(pipeline).model_copy(update={"iterations": 1, "eval_tasks": 2})
    summary = run_training(pipeline, section, run_dir=tmp_path, log=lambda m: None, progress=False)
    assert set(summary["eval"]) >= {"before", "after"}
    adapter = json.loads((tmp_path / "checkpoints" / "iter_000001" / "policies" / "decomposer" / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and adapter["base_model_name_or_path"] == str(pipeline.agents["decomposer"].model)


def test_lora_grpo_on_a_tiny_vlm_decomposer(ray_cluster, tmp_path):
    from agents.vlm.tiny import save_tiny_vlm
    from orchestration.config import load_config

    vlm = save_tiny_vlm(tmp_path / "tiny-llava")
    pipeline = load_config("imageedit_r1", [
        "agents.decomposer={backend: vlm, model: %s, options: {device: cpu}}" % vlm,
        "rewards.decomposer=[{name: toy_e}]", "image_size=64",
        "train.agents={decomposer: {lora: {r: 4, alpha: 8, target_modules: [q_proj, v_proj]}}}",
        *[f"train.{k}={v}" for k, v in {"group_size": 4, "tasks_per_iteration": 2, "max_new_tokens": 8, "train_tasks": 10,
                                         "lr": 0.01, "sampler_threads": 1, "seed": 0}.items()],
    ])
    algo = build_grpo_config(pipeline).build_algo()
    try:
        result = algo.train()
        learner = result["learners"]["decomposer"]
        assert result["grpo"]["decomposer/trained_completions"] > 0
        assert abs(learner["kl_old"]) < 1e-4  # the actor's adapter is the learner's: the same log-probs
        result = algo.train()  # sampled with the updated adapter, still the learner's policy
        assert abs(result["learners"]["decomposer"]["kl_old"]) < 1e-4
        module = algo.learner_group._learner.module["decomposer"]
        state = module.get_state()
        assert all(".lora_" in k for k in state)
        assert any(np.abs(v).max() > 1e-3 for k, v in state.items() if ".lora_B." in k)  # the adapter did move
    finally:
        algo.stop()
