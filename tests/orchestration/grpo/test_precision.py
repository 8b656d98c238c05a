"""train.learner: micro-batches give the update of the whole minibatch, bfloat16 and gradient checkpointing work on
a CPU, the KL reference follows the learner's dtype, and a GPU learner is refused where there is no GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

from orchestration.config import ConfigError
from orchestration.grpo.config import build_grpo_config, train_section
from orchestration.grpo.module import PLACEHOLDER_SPACE, CausalLMModule
from orchestration.grpo.precision import LearnerSettings

from .conftest import grpo_batch



def _learner(make_pipeline, **train):
    config = build_grpo_config(make_pipeline(train={"agents": {"decomposer": {}}, **train}))
    config.validate()
    return config.build_learner(env=None, spaces={"decomposer": (PLACEHOLDER_SPACE, PLACEHOLDER_SPACE)})


def _update(learner, cols) -> dict[str, torch.Tensor]:
    learner.update(batch=MultiAgentBatch({"decomposer": SampleBatch(cols)}, env_steps=len(cols["advantages"])))
    return {k: v.detach().clone() for k, v in learner.module["decomposer"].model.named_parameters() if v.requires_grad}


def _grads(learner) -> dict[str, torch.Tensor]:
    """The gradients of the last step (the optimizer leaves them in .grad)."""
    return {k: v.grad.clone() for k, v in learner.module["decomposer"].model.named_parameters() if v.requires_grad}


def _assert_same_step(whole, micro, a, b, lr: float) -> None:
    """Same gradients up to float rounding, and the same weights wherever the gradient is not within rounding of 0
    (Adam's first step is about lr * g / (|g| + 1e-8), which turns rounding of a near-zero gradient into up to lr)."""
    ga, gb = _grads(whole), _grads(micro)
    scale = max(float(g.abs().max()) for g in ga.values())
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], atol=1e-5 * scale, rtol=1e-4)
        clear = ga[k].abs() > 1e-4 * scale
        torch.testing.assert_close(a[k][clear], b[k][clear], atol=1e-3 * lr, rtol=1e-5)


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_micro_batches_give_the_update_of_the_whole_batch(make_pipeline, agg):
    # kl_coef > 0 and a clip range that binds: every term of the loss goes through the accumulation.
    train = {"loss_agg": agg, "kl_coef": 0.1, "clip_low": 0.05, "clip_high": 0.05, "lr": 0.05}
    whole = _learner(make_pipeline, **train)
    micro = _learner(make_pipeline, **train, learner={"micro_batch_size": 4})
    cols = grpo_batch(whole.module["decomposer"].tokenizer, 11)  # 4 + 4 + 3 rows
    before = {k: v.detach().clone() for k, v in whole.module["decomposer"].model.named_parameters()}
    a, b = _update(whole, cols), _update(micro, cols)
    assert max(float((a[k] - before[k]).abs().max()) for k in a) > 1e-3
    _assert_same_step(whole, micro, a, b, 0.05)


def test_micro_batches_accumulate_lora_gradients_too(make_pipeline):
    lora = {"agents": {"decomposer": {"lora": {"r": 4, "alpha": 8}}}, "lr": 0.05}
    whole = _learner(make_pipeline, **lora)
    micro = _learner(make_pipeline, **lora, learner={"micro_batch_size": 3})
    cols = grpo_batch(whole.module["decomposer"].tokenizer, 8)
    a, b = _update(whole, cols), _update(micro, cols)
    assert a and all(".lora_" in k for k in a)
    _assert_same_step(whole, micro, a, b, 0.05)


def test_bfloat16_learner_with_gradient_checkpointing_trains_on_cpu(make_pipeline):
    learner = _learner(make_pipeline, kl_coef=0.1, lr=0.05,
                       learner={"dtype": "bfloat16", "gradient_checkpointing": True, "micro_batch_size": 4})
    module = learner.module["decomposer"]
    assert {p.dtype for p in module.model.parameters()} == {torch.bfloat16}
    assert module.model.is_gradient_checkpointing and module._reference[0].dtype == torch.bfloat16
    cols = grpo_batch(module.tokenizer, 8)
    before = {k: v.detach().clone() for k, v in module.model.named_parameters()}
    after = _update(learner, cols)
    assert any(not torch.equal(after[k], before[k]) for k in after)
    state = module.get_state()  # numpy has no bfloat16: written as float32, exact
    assert all(v.dtype == np.float32 for v in state.values())
    module.set_state(state)
    assert all(torch.equal(after[k], v) for k, v in module.model.named_parameters())


def test_gradient_checkpointing_gives_the_same_gradients(tiny_policies):
    cols = {k: torch.as_tensor(v) for k, v in grpo_batch(__import__("agents.lm.model", fromlist=["x"]).load_policy(
        tiny_policies["decomposer"])[1], 6).items()}
    grads = []
    for checkpointing in (False, True):
        module = CausalLMModule(observation_space=PLACEHOLDER_SPACE, action_space=PLACEHOLDER_SPACE,
                                model_config={"model": str(tiny_policies["decomposer"]), "gradient_checkpointing": checkpointing})
        out = module.forward_train(cols)
        (out["logp"] * cols["completion_mask"]).sum().backward()
        grads.append({k: p.grad.clone() for k, p in module.named_parameters()})
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], atol=1e-5, rtol=1e-4)


def test_learner_threads_size_the_learner_process_thread_pool(make_pipeline, tiny_policies):
    spec = build_grpo_config(make_pipeline(train={"learner": {"threads": 1}})).module_spec("decomposer")
    assert spec.model_config["threads"] == 1
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        CausalLMModule(observation_space=PLACEHOLDER_SPACE, action_space=PLACEHOLDER_SPACE,
                       model_config={"model": str(tiny_policies["decomposer"]), "threads": 1})
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_learner_settings_default_and_validation(make_pipeline):
    assert LearnerSettings().model_dump() == {"device": "cpu", "dtype": "float32", "gradient_checkpointing": False,
                                              "threads": None, "micro_batch_size": None}
    assert all(f.description for f in LearnerSettings.model_fields.values())
    spec = build_grpo_config(make_pipeline()).module_spec("decomposer")
    assert spec.model_config["dtype"] == "float32" and not spec.model_config["gradient_checkpointing"]
    with pytest.raises(ConfigError, match=r"train\.learner\.dtype"):
        train_section(make_pipeline(train={"learner": {"dtype": "float16"}}))
    with pytest.raises(ConfigError, match=r"train\.learner\.micro_batch_size"):
        train_section(make_pipeline(train={"learner": {"micro_batch_size": 0}}))
    with pytest.raises(ConfigError, match=r"train\.learner\.threads"):
        train_section(make_pipeline(train={"learner": {"threads": 0}}))
    with pytest.raises(ConfigError, match=r"train\.learner\.devices.*Extra inputs"):
        train_section(make_pipeline(train={"learner": {"devices": "cuda"}}))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_learner_is_refused_without_a_gpu(make_pipeline):
    config = build_grpo_config(make_pipeline(train={"learner": {"device": "cuda"}}))
    assert config.num_gpus_per_learner == 1  # RLlib's own placement setting
    with pytest.raises(ValueError, match=r"train\.learner\.device='cuda'.*no CUDA GPU"):
        config.validate()
    config.learners(num_learners=2)  # remote learners find their GPUs where Ray places them: not checked here
    assert not any("CUDA" in e for e in config.grpo_errors())
