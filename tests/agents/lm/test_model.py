"""Tiny models from a config; the one loader (`load_policy`) reads a locally saved checkpoint like any HF model."""

from __future__ import annotations

import json

import torch
from transformers import AutoModelForCausalLM

from agents.lm.model import build_model, count_parameters, load_policy, save_policy, tiny_causal_lm_config


def test_default_config_is_about_a_million_parameters(tokenizer):
    config = tiny_causal_lm_config(1024)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (128, 3, 4)
    assert config.intermediate_size == 4 * config.hidden_size and config.tie_word_embeddings
    assert config.max_position_embeddings == 512
    with torch.device("meta"):  # count without allocating
        model = build_model(tokenizer, config)
    assert 500_000 < count_parameters(model) < 5_000_000


def test_overrides_and_tokenizer_ids(tokenizer):
    model = build_model(tokenizer, tiny_causal_lm_config(7, hidden_size=32, num_hidden_layers=1, num_attention_heads=2))
    assert model.config.vocab_size == len(tokenizer)  # corrected from the tokenizer
    assert (model.config.pad_token_id, model.config.eos_token_id) == (tokenizer.pad_token_id, tokenizer.eos_token_id)
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id


def test_build_is_seeded_and_leaves_global_rng_alone(tokenizer):
    cfg = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    state = torch.random.get_rng_state()
    a = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), **cfg), seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    b = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), **cfg), seed=3)
    c = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), **cfg), seed=4)
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_save_then_load_policy_by_path(tokenizer, tiny_model, tmp_path):
    path = save_policy(tiny_model, tokenizer, tmp_path / "policy")
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    assert json.loads((path / "config.json").read_text())["model_type"] == "llama"

    model, tok = load_policy(path)  # the same call a hub name takes
    assert not model.training and model.dtype == torch.float32
    assert tok.padding_side == "left" and tok.pad_token_id == tokenizer.pad_token_id
    ids = tok(["make the star red", "remove it"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = tiny_model(**ids).logits
        got = model(**ids).logits
    torch.testing.assert_close(got, expected)
    # Plain transformers reads it too.
    assert isinstance(AutoModelForCausalLM.from_pretrained(path), type(tiny_model))


def test_load_policy_sets_missing_pad_token(tokenizer, tiny_model, tmp_path):
    tok = tokenizer.__class__.from_pretrained(save_policy(tiny_model, tokenizer, tmp_path / "p"))
    tok.pad_token = None
    tok.save_pretrained(tmp_path / "p")
    _, loaded = load_policy(tmp_path / "p")
    assert loaded.pad_token == loaded.eos_token
