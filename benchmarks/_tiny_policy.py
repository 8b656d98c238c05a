"""The benchmarks' tiny LM: the default ~0.9M-parameter Llama of ``agents.lm.model``, untrained, on a byte-level
BPE tokenizer trained here on Canvas text (seconds; nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path


def build_policy(root: Path, seed: int = 0) -> Path:
    """Build and save the policy under ``root/policy``; returns that directory (what ``load_policy`` reads)."""
    from agents.lm.model import build_model, save_policy
    from agents.lm.tokenizer import canvas_corpus, train_tokenizer

    tokenizer = train_tokenizer(list(canvas_corpus(300, seed=5)), vocab_size=1024)
    model = build_model(tokenizer, seed=seed)
    return save_policy(model, tokenizer, Path(root) / "policy")
