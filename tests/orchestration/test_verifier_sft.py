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
