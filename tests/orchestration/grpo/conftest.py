"""Shared tiny components for the GRPO tests: a tokenizer trained on a little Canvas text, a tiny untrained
decomposer and thinker saved in Hugging Face format, a toy reward, and pipeline configs that point at them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.lm.model import build_model, save_policy, tiny_causal_lm_config
from agents.lm.tokenizer import canvas_corpus, train_tokenizer
from orchestration.config import PipelineConfig, load_config
from rewards import RewardContext, register_reward

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}


@register_reward("toy_e", overwrite=True)
def toy_e(ctx: RewardContext) -> float:
    """Toy reward: the share of the letter 'e' in the completion (dense, so a tiny random policy can climb it)."""
    text = ctx.completion or ""
    return text.count("e") / (len(text) + 1)


@pytest.fixture(scope="session")
def tiny_policies(tmp_path_factory) -> dict[str, Path]:
    """Untrained tiny thinker and decomposer (same tokenizer), saved where load_policy reads them."""
    tokenizer = train_tokenizer(list(canvas_corpus(20, seed=5)), vocab_size=400)
    root = tmp_path_factory.mktemp("policies")
    out = {}
    for k, role in enumerate(("decomposer", "thinker")):
        model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), **TINY), seed=k)
        out[role] = save_policy(model, tokenizer, root / role)
    return out


def tiny_pipeline(policies: dict[str, Path], name: str = "imageedit_r1", overrides: list[str] | None = None,
                  train: dict[str, Any] | None = None) -> PipelineConfig:
    """A packaged pipeline whose LM agents are the tiny policies, with a small, fast train section."""
    base = {"group_size": 4, "tasks_per_iteration": 2, "max_new_tokens": 12, "train_tasks": 40, "lr": 0.01,
            "sampler_threads": 1, "rollout_samples": 2}
    base.update(train or {})
    sets = [f"agents.{role}.model={path}" for role, path in policies.items()
            if role in load_config(name, check_graph=False).agents]
    sets += [f"train.{k}={v}" for k, v in base.items()]
    return load_config(name, sets + list(overrides or []))


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="session")
def make_pipeline(tiny_policies):
    """``make_pipeline(name="imageedit_r1", overrides=[...], train={...})`` -> a PipelineConfig on the tiny policies."""

    def make(name: str = "imageedit_r1", overrides: list[str] | None = None, train: dict[str, Any] | None = None) -> PipelineConfig:
        return tiny_pipeline(tiny_policies, name, overrides, train)

    return make

def grpo_batch(tokenizer, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A GRPO-shaped batch: groups of 3 rows per prompt, completions of different lengths, advantages of both signs."""
    rng = np.random.default_rng(seed)
    prompts = tokenizer(["task: decompose\nrequest: make the star red\n", "hi there", "move the circle left"],
                        return_tensors="np", padding=True)
    rows = np.arange(n) // 3 % 3
    completion = rng.integers(5, len(tokenizer), (n, 7))
    lengths = rng.integers(1, 8, n)
    mask = (np.arange(7)[None, :] < lengths[:, None]).astype(np.int64)
    return {"prompt_ids": prompts["input_ids"][rows], "prompt_mask": prompts["attention_mask"][rows],
            "completion_ids": completion * mask, "completion_mask": mask,
            "old_logp": (-rng.uniform(1, 8, (n, 7)) * mask).astype(np.float32),
            "advantages": rng.normal(size=n).astype(np.float32)}
