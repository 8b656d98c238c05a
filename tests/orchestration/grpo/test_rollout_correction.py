"""The engine-mismatch correction that vLLM rollouts need, checked with the transformers engine: truncated importance
sampling recomputes the old log-probs on the learner and weights each token, a LoRA policy can send base + adapter
merged (what a vLLM actor loads), and a vLLM sampler is refused without the correction."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from agents.lm.model import load_policy
from orchestration.config import load_config
from orchestration.grpo.actors import learner_logprobs
from orchestration.grpo.config import build_grpo_config
from orchestration.grpo.lora import merged_state, wrap_for_training

from .conftest import grpo_batch


def _pipeline(make_pipeline, **train):
    return make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]"], train={"tis_cap": 2.0, **train})


def test_with_the_transformers_engine_the_learner_agrees_with_the_sampler(ray_cluster, make_pipeline):
    algo = build_grpo_config(_pipeline(make_pipeline)).build_algo()
    try:
        metrics = algo.train()["grpo"]
    finally:
        algo.stop()
    # Same weights, same kernels: every weight is 1 up to float noise, none truncated.
    assert abs(metrics["decomposer/tis_weight_mean"] - 1.0) < 1e-3
    assert metrics["decomposer/tis_truncated_share"] == 0 and 0 <= metrics["decomposer/tis_kl"] < 1e-5


def test_a_mismatched_sampler_is_corrected_token_by_token(ray_cluster, make_pipeline, tiny_policies):
    algo = build_grpo_config(_pipeline(make_pipeline)).build_algo()
    try:
        _, tokenizer = load_policy(tiny_policies["decomposer"])
        batch = grpo_batch(tokenizer, 6)
        columns = {k: v for k, v in batch.items() if k != "advantages"}
        learner = learner_logprobs(algo.learner_group, {"decomposer": columns})["decomposer"]
        mask = batch["completion_mask"].astype(bool)
        # An engine that gave the first real token of every row a tenth of the learner's probability, and the rest
        # exactly the learner's: those tokens' ratio is 10, truncated to the cap; the others weigh 1.
        sampler = learner.copy()
        sampler[:, 0] += np.log(0.1)
        corrected, metrics = algo._correct_rollouts({"decomposer": {**batch, "old_logp": sampler.astype(np.float32)}})
    finally:
        algo.stop()
    cols = corrected["decomposer"]
    np.testing.assert_allclose(cols["old_logp"], learner, atol=1e-6)  # the ratio is taken against the learner
    expected = np.where(mask, 1.0, 0.0) * batch["advantages"][:, None]
    expected[:, 0] *= 2.0
    np.testing.assert_allclose(cols["advantages"], expected, rtol=1e-4, atol=1e-6)
    assert metrics["decomposer/tis_truncated_share"] == pytest.approx(len(batch["advantages"]) / mask.sum())
    assert metrics["decomposer/tis_kl"] > 0


def test_merged_lora_weights_are_peft_merge_and_leave_the_model_as_it_was(tiny_policies):
    model, _ = load_policy(tiny_policies["decomposer"])
    peft_model = wrap_for_training(model, {"r": 4, "alpha": 8, "target_modules": "all-linear"})
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_()  # a trained adapter (PEFT starts B at zero, which would merge to the base)
    before = {k: v.clone() for k, v in peft_model.state_dict().items()}
    merged = merged_state(peft_model)
    reference = copy.deepcopy(peft_model).merge_and_unload().state_dict()
    assert set(merged) == set(reference)
    assert all(torch.allclose(merged[k], reference[k], atol=1e-6) for k in reference)
    adapted = [k for k in merged if "base_model.model." + k.replace(".weight", ".base_layer.weight") in before]
    assert adapted and all(not torch.allclose(merged[k], before["base_model.model." + k.replace(".weight", ".base_layer.weight")])
                           for k in adapted)  # the adapter is in them
    assert all(torch.equal(v, before[k]) for k, v in peft_model.state_dict().items())


def test_a_vllm_sampler_is_trained_only_with_the_correction(tiny_policies):
    decomposer = f"agents.decomposer={{backend: vllm, model: {tiny_policies['decomposer']}}}"
    errors = build_grpo_config(load_config("imageedit_r1", [decomposer])).grpo_errors()
    assert any("samples with vLLM" in e and "train.tis_cap" in e for e in errors), errors
    config = build_grpo_config(load_config("imageedit_r1", [decomposer, "train.tis_cap=2.0"]))
    assert list(config.resolved_trainable()) == ["decomposer"] and not config.grpo_errors()
