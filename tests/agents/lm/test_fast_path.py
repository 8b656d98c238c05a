"""The learner's shared-prompt forward: a GRPO group's prompt runs once, and the logits and gradients are those of
the one-pass computation (whatever the row order, with ragged prompts and completions)."""

from __future__ import annotations

import pytest
import torch

from agents.lm.generation import completion_logits, generate, sequence_logprobs

PROMPTS = [
    "decomposer: List the edits.\nscene: background: white; objects: none\nrequest: Add a red star.\n",
    "thinker: Rewrite.\nrequest: Make the large blue circle in the top left smaller and then remove the square.\n",
    "x",
]


def _batch(model, tokenizer, order=None):
    out = generate(model, tokenizer, PROMPTS, max_new_tokens=6, num_return_sequences=3, seed=0)
    cols = [out.prompt_ids, out.completion_ids, out.prompt_mask, out.completion_mask]
    if order is not None:
        cols = [c[order] for c in cols]
    return cols, out


@pytest.mark.parametrize("permute", [False, True])
def test_shared_prompt_logits_and_gradients_match_one_pass(tiny_model, tokenizer, permute):
    order = torch.randperm(9, generator=torch.Generator().manual_seed(1)) if permute else None
    (p_ids, c_ids, p_mask, c_mask), _ = _batch(tiny_model, tokenizer, order)
    grads = []
    logits = []
    for share in (False, True):
        tiny_model.zero_grad(set_to_none=True)
        out = completion_logits(tiny_model, p_ids, c_ids, p_mask, c_mask, temperature=0.7, share_prompts=share)
        logits.append(out.detach())
        logp = out.log_softmax(-1).gather(-1, c_ids[..., None]).squeeze(-1)
        (logp * c_mask).sum().backward()
        grads.append({n: p.grad.clone() for n, p in tiny_model.named_parameters() if p.grad is not None})
    mask = c_mask.bool()
    torch.testing.assert_close(logits[1][mask], logits[0][mask], atol=1e-5, rtol=1e-4)
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-5, rtol=1e-4, msg=name)
    tiny_model.zero_grad(set_to_none=True)


def test_shared_prompt_logprobs_equal_the_samplers(tiny_model, tokenizer):
    (p_ids, c_ids, p_mask, c_mask), out = _batch(tiny_model, tokenizer)
    with torch.no_grad():
        logits = completion_logits(tiny_model, p_ids, c_ids, p_mask, c_mask)
        reference, _ = sequence_logprobs(tiny_model, p_ids, c_ids, p_mask, c_mask)
    logp = (logits.log_softmax(-1).gather(-1, c_ids[..., None]).squeeze(-1)) * c_mask
    torch.testing.assert_close(logp, reference, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(logp, out.logprobs, atol=1e-4, rtol=1e-4)


def test_one_token_completions_and_distinct_prompts(tiny_model, tokenizer):
    (p_ids, c_ids, p_mask, c_mask), _ = _batch(tiny_model, tokenizer)
    with torch.no_grad():
        one = completion_logits(tiny_model, p_ids, c_ids[:, :1], p_mask, c_mask[:, :1])
        full = completion_logits(tiny_model, p_ids, c_ids[:, :1], p_mask, c_mask[:, :1], share_prompts=False)
        distinct = completion_logits(tiny_model, p_ids[::3], c_ids[::3], p_mask[::3], c_mask[::3])  # no sharing: one pass
    torch.testing.assert_close(one, full, atol=1e-5, rtol=1e-4)
    assert one.shape == (9, 1, len(tokenizer)) and distinct.shape[0] == 3
