"""Shared tiny components for the LM backend tests: one tokenizer trained on a little Canvas text, and tiny
untrained models built from a config (tens of thousands of parameters; nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.lm.model import build_model, save_policy, tiny_causal_lm_config
from agents.lm.tokenizer import canvas_corpus, train_tokenizer

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}


@pytest.fixture(scope="session")
def tiny_config() -> dict[str, int]:
    """Overrides that make `tiny_causal_lm_config` tiny enough for tests."""
    return dict(TINY)


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return list(canvas_corpus(30, seed=5))


@pytest.fixture(scope="session")
def tokenizer(corpus):
    return train_tokenizer(corpus, vocab_size=512)


@pytest.fixture
def tiny_model(tokenizer):
    return build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), **TINY), seed=0).eval()


@pytest.fixture(scope="session")
def saved_policy(tokenizer, tmp_path_factory) -> Path:
    """An untrained tiny policy saved in Hugging Face format (what load_policy and the agents read)."""
    model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), **TINY), seed=0)
    return save_policy(model, tokenizer, tmp_path_factory.mktemp("policy") / "tiny")

