"""`editrl sft --config edit_r1` cold-starts the reasoning verifier (and only it) on reward trajectories."""

from __future__ import annotations

import json

from agents.lm.verifier import LMVerifier
from orchestration.config import load_config
from orchestration.grpo.config import TrainSection, train_section
from orchestration.train import run_sft


def test_sft_with_the_verifier_role_writes_a_loadable_verifier(tmp_path, one_torch_thread):
    config = load_config("edit_r1")
    assert config.agents["verifier"].backend == "transformers"
    section = train_section(config)
    sft = {**section.sft.model_dump(), "out_dir": str(tmp_path), "n_tasks": 10, "steps": 2, "num_threads": 1,
           "workers": 1, "model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}}
    report = run_sft(config, TrainSection.model_validate({**section.model_dump(), "sft": sft}), log=lambda _m: None)
    assert set(report["roles"]) == {"verifier"}
    written = json.loads((tmp_path / "verifier_cold_start.json").read_text())
    assert written["data"]["examples"] >= 10 and 0 < written["data"]["full_success_share"] < 1
    agent = LMVerifier(model=str(tmp_path / "verifier"), max_new_tokens=4)
    assert agent.describe()["parameters"] == report["roles"]["verifier"]["parameters"]


def test_verifier_can_start_from_a_policy(tmp_path, one_torch_thread):
    import pytest

    from agents.lm.model import build_model, save_policy, tiny_causal_lm_config
    from agents.lm.tokenizer import canvas_corpus, train_tokenizer
    from agents.lm.verifier_sft import verifier_cold_start

    tokenizer = train_tokenizer(list(canvas_corpus(20, seed=1)), vocab_size=400)
    base = save_policy(build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                                                    num_attention_heads=2)), tokenizer, tmp_path / "base")
    report = verifier_cold_start(tmp_path / "out", n_tasks=3, steps=1, workers=1, init_from=base)
    assert report["vocab_size"] == len(tokenizer) and report["init_from"] == str(base)  # the base's tokenizer is kept
    with pytest.raises(ValueError, match="drop them or init_from"):
        verifier_cold_start(tmp_path / "out2", n_tasks=3, steps=1, workers=1, init_from=base, model_overrides={"hidden_size": 64})
