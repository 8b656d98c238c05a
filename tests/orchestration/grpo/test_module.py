"""The RLModule around the LM: log-probs as the sampler computes them, the reference only when asked for."""

from __future__ import annotations

import torch

from agents.lm.generation import generate, sequence_logprobs
from orchestration.grpo.module import PLACEHOLDER_SPACE, CausalLMModule, PlaceholderEnv


def _module(path, **cfg):
    return CausalLMModule(observation_space=PLACEHOLDER_SPACE, action_space=PLACEHOLDER_SPACE,
                          model_config={"model": str(path), **cfg})


def test_forward_train_matches_sampler_and_sequence_logprobs(tiny_policies):
    module = _module(tiny_policies["decomposer"], temperature=0.7)
    assert not module.has_reference
    out = generate(module.model, module.tokenizer, ["task: decompose\nrequest: make the star red\n", "hi"],
                   max_new_tokens=6, temperature=0.7, num_return_sequences=2, seed=0)
    batch = {"prompt_ids": out.prompt_ids, "prompt_mask": out.prompt_mask, "completion_ids": out.completion_ids,
             "completion_mask": out.completion_mask}
    fwd = module.forward_train(batch)
    reference, _ = sequence_logprobs(module.model, out.prompt_ids, out.completion_ids, out.prompt_mask, out.completion_mask, temperature=0.7)
    assert torch.allclose(fwd["logp"], reference, atol=1e-5)
    assert torch.allclose(fwd["logp"], out.logprobs, atol=1e-4)  # the sampler's old log-probs
    assert fwd["logp"].requires_grad and not fwd["entropy"].requires_grad
    assert (fwd["entropy"] >= 0).all() and "ref_logp" not in fwd


def test_reference_is_frozen_and_outside_the_state(tiny_policies):
    module = _module(tiny_policies["decomposer"], reference=True)
    assert module.has_reference
    names = set(module.state_dict())
    assert names and all(n.startswith("model.") for n in names)  # the reference is not part of the state
    assert all(not p.requires_grad for p in module._reference[0].parameters())
    assert sum(p.numel() for p in module.parameters()) == sum(p.numel() for p in module.model.parameters())


def test_inference_only_copy_holds_nothing():
    module = CausalLMModule(observation_space=PLACEHOLDER_SPACE, action_space=PLACEHOLDER_SPACE, inference_only=True, model_config={})
    assert not hasattr(module, "model") and list(module.parameters()) == []
    module.set_state({"whatever": 1})  # syncs to the EnvRunner copy are ignored
    env = PlaceholderEnv({"any": "config"})
    assert env.reset()[0] == 0 and env.step(0)[2] is True
