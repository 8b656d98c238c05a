"""Batched sampling: deterministic with a seed, bounded by max_new_tokens, grouped for GRPO, and its log-probs
equal the learner's teacher-forced recomputation."""

from __future__ import annotations

import pytest
import torch

from agents.lm.generation import generate, positions_from_mask, sequence_logprobs, top_p_filter

PROMPTS = [
    "decomposer: List the edits.\nscene: background: white; objects: none\nrequest: Add a red star.\n",
    "thinker: Rewrite.\nrequest: Make the large blue circle in the top left smaller and then remove the square.\n",
    "x",
]


def test_seeded_sampling_is_deterministic(tiny_model, tokenizer):
    a = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=12, seed=7, num_return_sequences=2)
    b = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=12, seed=7, num_return_sequences=2)
    c = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=12, seed=8, num_return_sequences=2)
    assert torch.equal(a.completion_ids, b.completion_ids) and a.texts == b.texts
    assert torch.equal(a.logprobs, b.logprobs)
    assert not torch.equal(a.completion_ids, c.completion_ids)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(
        generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=5, generator=g1).completion_ids,
        generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=5, generator=g2).completion_ids,
    )


def test_shapes_groups_and_max_new_tokens(tiny_model, tokenizer):
    out = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=9, seed=0, num_return_sequences=4)
    n = len(PROMPTS) * 4
    assert out.completion_ids.shape == out.completion_mask.shape == out.logprobs.shape
    assert out.completion_ids.shape[0] == n and out.completion_ids.shape[1] <= 9
    assert out.prompt_index.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert out.prompt_ids.shape == out.prompt_mask.shape and out.prompt_ids.shape[0] == n
    assert (out.prompt_mask[:, -1] == 1).all(), "prompts are left-padded"
    assert len(out.texts) == n and len(out.completions) == n
    assert all(len(c.token_ids) <= 9 and len(c.logprobs) == len(c.token_ids) for c in out.completions)
    assert (out.logprobs <= 0).all() and (out.logprobs[out.completion_mask == 0] == 0).all()
    # Every member of a group sees the same prompt row.
    assert torch.equal(out.prompt_ids[0], out.prompt_ids[3])


def test_eos_ends_a_completion(tiny_model, tokenizer):
    # Declare every token an eos: each completion is exactly its first token, finished.
    out = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=20, seed=0, eos_token_id=list(range(len(tokenizer))))
    assert out.completion_ids.shape[1] == 1 and out.finished.all()
    assert all(c.finished and len(c.token_ids) == 1 for c in out.completions)
    # An untrained model rarely says eos: it runs to the limit and is not finished.
    capped = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=6, seed=0, eos_token_id=[tokenizer.bos_token_id])
    assert capped.completion_ids.shape[1] == 6 or capped.finished.any()


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.9)])
def test_logprobs_match_teacher_forced_recomputation(tiny_model, tokenizer, temperature, top_p):
    out = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=10, seed=1, temperature=temperature, top_p=top_p, num_return_sequences=2)
    with torch.no_grad():
        logp, mask = sequence_logprobs(
            tiny_model, out.prompt_ids, out.completion_ids, out.prompt_mask, out.completion_mask, temperature=temperature
        )
    assert torch.equal(mask, out.completion_mask.float())
    torch.testing.assert_close(logp, out.logprobs, atol=1e-4, rtol=1e-4)


def test_ragged_completions_finish_at_their_eos(tiny_model, tokenizer):
    # A third of the vocabulary ends a completion: rows stop at different steps, so finished rows are dropped from
    # the batch mid-way; ids, masks and log-probs must still line up with a teacher-forced recomputation.
    eos = list(range(0, len(tokenizer), 3))
    out = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=12, seed=2, num_return_sequences=4, eos_token_id=eos)
    lengths = out.completion_mask.sum(-1)
    assert len(set(lengths.tolist())) > 2
    for row in range(out.completion_ids.shape[0]):
        n = int(lengths[row])
        assert out.completion_mask[row, :n].all() and not out.completion_mask[row, n:].any()
        assert (out.completion_ids[row, n:] == tokenizer.pad_token_id).all()
        assert bool(out.finished[row]) == (int(out.completion_ids[row, n - 1]) in eos)
    with torch.no_grad():
        logp, _ = sequence_logprobs(tiny_model, out.prompt_ids, out.completion_ids, out.prompt_mask, out.completion_mask)
    torch.testing.assert_close(logp, out.logprobs, atol=1e-4, rtol=1e-4)


def test_sequence_logprobs_do_not_depend_on_padding(tiny_model, tokenizer):
    prompt = tokenizer(["make the star red"], return_tensors="pt")
    completion = torch.tensor([[5, 17, 42, 8]])
    ones = torch.ones_like(completion)
    alone, _ = sequence_logprobs(tiny_model, prompt["input_ids"], completion, prompt["attention_mask"], ones)
    # The same pair with 3 columns of left padding on the prompt and 2 of right padding on the completion.
    pad = tokenizer.pad_token_id
    p_ids = torch.cat([torch.full((1, 3), pad), prompt["input_ids"]], dim=1)
    p_mask = torch.cat([torch.zeros(1, 3, dtype=torch.long), prompt["attention_mask"]], dim=1)
    c_ids = torch.cat([completion, torch.full((1, 2), pad)], dim=1)
    c_mask = torch.cat([ones, torch.zeros(1, 2, dtype=torch.long)], dim=1)
    padded, mask = sequence_logprobs(tiny_model, p_ids, c_ids, p_mask, c_mask)
    torch.testing.assert_close(padded[:, :4], alone, atol=1e-5, rtol=1e-5)
    assert (padded[:, 4:] == 0).all() and mask[:, 4:].sum() == 0


def test_sequence_logprobs_has_gradients(tiny_model, tokenizer):
    out = generate(tiny_model, tokenizer, PROMPTS[:2], max_new_tokens=4, seed=0)
    logp, mask = sequence_logprobs(tiny_model, out.prompt_ids, out.completion_ids, out.prompt_mask, out.completion_mask)
    (logp * mask).sum().backward()
    assert tiny_model.model.embed_tokens.weight.grad is not None
    tiny_model.zero_grad(set_to_none=True)


def test_greedy_is_the_argmax_and_batch_invariant(tiny_model, tokenizer):
    batch = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=6, do_sample=False)
    for i, prompt in enumerate(PROMPTS):
        alone = generate(tiny_model, tokenizer, [prompt], max_new_tokens=6, do_sample=False)
        n = int(alone.completion_mask.sum())
        assert alone.completion_ids[0, :n].tolist() == batch.completion_ids[i, :n].tolist()


def test_greedy_member_is_the_greedy_completion_with_tempered_logprobs(tiny_model, tokenizer):
    greedy = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=8, do_sample=False)
    mixed = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=8, seed=3, temperature=1.5, num_return_sequences=4,
                     greedy_per_prompt=1)
    for i in range(len(PROMPTS)):
        n = int(greedy.completion_mask[i].sum())
        assert mixed.completion_ids[4 * i, :n].tolist() == greedy.completion_ids[i, :n].tolist()
    # The sampled members are samples: at temperature 1.5 an untrained model's completions leave the argmax.
    sampled = [mixed.completion_ids[4 * i + g].tolist() for i in range(len(PROMPTS)) for g in range(1, 4)]
    assert any(row != mixed.completion_ids[4 * (k // 3)].tolist() for k, row in enumerate(sampled))
    # Every row's log-probs are of the tempered distribution: a learner recomputes them at the same temperature.
    with torch.no_grad():
        logp, _ = sequence_logprobs(tiny_model, mixed.prompt_ids, mixed.completion_ids, mixed.prompt_mask,
                                    mixed.completion_mask, temperature=1.5)
    torch.testing.assert_close(logp, mixed.logprobs, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="greedy_per_prompt"):
        generate(tiny_model, tokenizer, PROMPTS, num_return_sequences=2, greedy_per_prompt=3)


def test_argument_checks(tiny_model, tokenizer):
    with pytest.raises(ValueError, match="prompts"):
        generate(tiny_model, tokenizer, [], max_new_tokens=3)
    with pytest.raises(ValueError, match="temperature"):
        generate(tiny_model, tokenizer, PROMPTS, temperature=0.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=0)


def test_helpers():
    assert positions_from_mask(torch.tensor([[0, 1, 1], [1, 1, 1]])).tolist() == [[0, 0, 1], [0, 1, 2]]
    logits = torch.log(torch.tensor([[0.6, 0.25, 0.15]]))
    assert torch.isinf(top_p_filter(logits, 0.5)[0, 1:]).all()  # the top token alone reaches 0.5
    assert torch.equal(top_p_filter(logits, 1.0), logits)


def test_the_cache_goes_by_the_keyword_the_model_takes_without_a_deprecation_warning(tiny_model, tokenizer):
    """transformers 5.x renamed ``past_key_values`` to ``cache`` and warns on the old name at every forward: a run
    would print it thousands of times. Sampling and the learner's recomputation must use the model's own name."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=6, seed=0, num_return_sequences=2)
        sequence_logprobs(tiny_model, out.prompt_ids, out.completion_ids, out.prompt_mask, out.completion_mask)
    assert not [w for w in caught if "past_key_values" in str(w.message)]
