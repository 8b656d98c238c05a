"""Editor GRPO on RLlib's learners: two learner actors under RLlib's DDP take the step the one in-process learner
takes; the learner state is the adapter; settings the learners cannot serve are refused."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from orchestration.editor_grpo.config import EditorGRPOConfig
from orchestration.editor_grpo.module import EDITOR_MODULE
from orchestration.editor_grpo.rewards import EditorTask
from orchestration.editor_grpo.trainer import EditorGRPOTrainer

TASK = EditorTask(prompt="make it red", image=Image.new("RGB", (32, 32), (200, 200, 200)))


def _config(path, **overrides):
    fields = dict(model=str(path), num_steps=4, group_size=3, lr=1e-2, lora_rank=2, rewards=[{"name": "colour_share"}],
                  target_colour=(255, 0, 0), soft_colour=True, colour_tolerance=1.0, sampler={"guidance_scale": 3.0})
    fields.update(overrides)
    return EditorGRPOConfig(**fields)


def _train(config, iterations=2):
    trainer = EditorGRPOTrainer(config)
    try:
        history = [trainer.run_iteration([TASK]) for _ in range(iterations)]
        return history, trainer.adapter_state()
    finally:
        trainer.close()


def test_two_learner_actors_take_the_in_process_learners_step(ray_cluster, tiny_pix2pix_path):
    here, here_adapter = _train(_config(tiny_pix2pix_path))
    for learners in (2,):  # one learner actor: tests/orchestration/grpo/test_job_submit.py, on a cluster
        there, there_adapter = _train(_config(tiny_pix2pix_path, num_learners=learners))
        for a, b in zip(here, there):  # the same groups (seeds), so the same rewards, losses and gradient norms
            assert b["reward_mean"] == pytest.approx(a["reward_mean"], abs=1e-5)
            assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-3)
            assert b["sync_bytes"] > 0 and "sync_bytes" not in a  # remote learners send the adapter back; one here shares it
        assert there_adapter.keys() == here_adapter.keys()
        assert all(torch.allclose(there_adapter[k], here_adapter[k], atol=1e-4) for k in here_adapter)
        assert any(float(v.abs().max()) > 0.1 for v in there_adapter.values())  # it moved: the comparison means something


def test_the_learner_state_is_the_adapter_and_restores(tiny_pix2pix_path):
    trainer = EditorGRPOTrainer(_config(tiny_pix2pix_path, num_steps=2))
    try:
        before = trainer.learner_group.get_state()
        trainer.run_iteration([TASK])
        module_state = trainer.learner_group.get_state()["learner"]["rl_module"][EDITOR_MODULE]
        assert module_state and all("lora" in k for k in module_state)
        assert module_state.keys() == trainer.adapter_state().keys()
        trained = trainer.adapter_state()
        trainer.learner_group.set_state(before)  # RLlib's restore puts the untrained adapter back
        restored = trainer.adapter_state()
        assert any(not torch.equal(restored[k], trained[k]) for k in trained)
        trainer.learner_group.set_state({"learner": {"rl_module": {EDITOR_MODULE: module_state}}})
        assert all(torch.equal(trainer.adapter_state()[k], trained[k]) for k in trained)
    finally:
        trainer.close()


def test_settings_the_learners_cannot_serve_are_refused(tiny_pix2pix_path):
    with pytest.raises(ValidationError, match="cannot share the 1 steps"):
        _config(tiny_pix2pix_path, num_learners=2, train_steps=[0])
    with pytest.raises(ValidationError, match="set device: cuda"):
        _config(tiny_pix2pix_path, num_learners=1, device="cuda:1")
    assert _config(tiny_pix2pix_path, num_learners=2, train_step_fraction=0.5).steps_per_group == 2


def test_the_kl_term_is_zero_at_the_frozen_model_and_adds_to_the_loss_once_the_adapter_moves(tiny_pix2pix_path):
    runs = {}
    for kl_coef in (0.0, 10.0):
        trainer = EditorGRPOTrainer(_config(tiny_pix2pix_path, num_steps=2, kl_coef=kl_coef))
        try:
            runs[kl_coef] = [trainer.run_iteration([TASK]) for _ in range(2)]
        finally:
            trainer.close()
    plain, with_kl = runs[0.0], runs[10.0]
    assert "kl_ref" not in plain[0]
    # LoRA starts as the frozen model (B = 0): no KL, and the same first step as without the term.
    assert with_kl[0]["kl_ref"] == 0.0 and with_kl[0]["loss"] == pytest.approx(plain[0]["loss"], abs=1e-7)
    # After one update the adapted steps leave the frozen model's: the term is positive and in the loss.
    assert with_kl[1]["kl_ref"] > 0
    assert with_kl[1]["loss"] == pytest.approx(plain[1]["loss"] + 10.0 * with_kl[1]["kl_ref"], rel=0.05, abs=1e-6)


@pytest.mark.parametrize("pipeline", ["pix2pix", "kontext"])
def test_gradient_checkpointing_takes_the_same_step(pipeline, tiny_pix2pix_path, tiny_kontext_path):
    overrides = ({"model": str(tiny_pix2pix_path)} if pipeline == "pix2pix"
                 else {"model": str(tiny_kontext_path), "sampler": {"max_sequence_length": 16}})
    adapters = []
    for checkpointing in (False, True):
        trainer = EditorGRPOTrainer(_config(tiny_pix2pix_path, num_steps=2, gradient_checkpointing=checkpointing,
                                            **overrides))
        try:
            assert trainer.policy.denoiser.is_gradient_checkpointing is checkpointing
            trainer.run_iteration([TASK])
            adapters.append(trainer.adapter_state())
        finally:
            trainer.close()
    assert all(torch.allclose(adapters[0][k], adapters[1][k], atol=1e-6) for k in adapters[0])
