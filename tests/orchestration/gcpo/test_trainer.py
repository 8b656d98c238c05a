"""The GCPO loop on a tiny verifier: an update moves the weights, checkpoints resume, bad settings are refused."""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError

from agents.lm.model import build_model, load_policy, save_policy, tiny_causal_lm_config
from agents.lm.tokenizer import train_tokenizer
from agents.lm.verifier_data import candidate_edits, preference_pairs, sft_examples
from envs.canvas.generator import generate_mixed_task
from envs.preferences import write_pairs
from orchestration.gcpo.config import GCPOSettings
from orchestration.gcpo.trainer import gcpo_step, pair_prompts, train_gcpo
from rewards.principles import ParsedPrinciples, Principle

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("gcpo")
    tasks = [generate_mixed_task(i, seed=3, split="train", step_mix={1: 1.0}) for i in range(2)]
    pairs, texts = [], []
    for task in tasks:
        cands = candidate_edits(task, kinds=("target", "source", "drop"))
        pairs += preference_pairs(task, cands, max_pairs=2)
        texts += [t for pair in sft_examples(task, cands) for t in pair]
    tokenizer = train_tokenizer(texts * 3, vocab_size=400)
    model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), **TINY), seed=0)
    path = save_policy(model, tokenizer, root / "verifier")
    write_pairs(pairs, root / "pairs.parquet")
    return root, path, pairs


def _settings(root, path, **kw) -> GCPOSettings:
    base = dict(model=str(path), pairs=str(root / "pairs.parquet"), out_dir=str(root / "run"), steps=2, pairs_per_step=1,
                group_size=2, max_new_tokens=16, checkpoint_every=1)
    return GCPOSettings(**{**base, **kw})


def test_step_updates_when_judgements_differ(data, monkeypatch):
    root, path, pairs = data
    model, tokenizer = load_policy(path)
    before = [p.detach().clone() for p in model.parameters()]
    # An untrained model writes no principle; give its judgements varied scores so the groups carry a signal.
    counter = iter(range(10_000))

    def fake_parse(text):
        holds = next(counter) % 3
        return ParsedPrinciples(tuple(Principle("follow", "Is it?", "yes" if k < holds else "no") for k in range(2)), (), True)

    monkeypatch.setattr("rewards.principles.parse_principles", fake_parse)
    settings = _settings(root, path, group_size=3, lr=1e-2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr)
    scenes: dict[bytes, str] = {}
    from agents.lm.prompts import scene_text

    prompts = [pair_prompts(p, lambda png: scenes.setdefault(png, scene_text(png))) for p in pairs[:2]]
    metrics = gcpo_step(model, tokenizer, optimizer, prompts, settings, torch.Generator().manual_seed(0))
    assert metrics["zero_variance_groups"] < 1.0 and metrics["loss"] != 0.0 and "grad_norm" in metrics
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_untrained_verifier_groups_are_silent_and_nothing_moves(data):
    root, path, pairs = data
    model, tokenizer = load_policy(path)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    from agents.lm.prompts import scene_text

    metrics = gcpo_step(model, tokenizer, optimizer, [pair_prompts(pairs[0], scene_text)], _settings(root, path),
                        torch.Generator().manual_seed(0))
    assert metrics["zero_variance_groups"] == 1.0 and metrics["loss"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_run_checkpoints_and_resumes(data, tmp_path):
    root, path, _ = data
    settings = _settings(root, path, out_dir=str(tmp_path / "run"))
    summary = train_gcpo(settings)
    assert summary["steps"] == 2 and (tmp_path / "run/checkpoints/latest").read_text() == "step_000002"
    load_policy(summary["policy"])  # the trained verifier loads like any policy
    with pytest.raises(ValueError, match="pass --resume"):
        train_gcpo(settings)
    more = train_gcpo(settings.model_copy(update={"steps": 3}), resume=True)
    assert more["started_at_step"] == 2
    lines = (tmp_path / "run/metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    with pytest.raises(ValueError, match="no checkpoint"):
        train_gcpo(settings.model_copy(update={"out_dir": str(tmp_path / "empty")}), resume=True)


def test_settings_refuse_unknown_keys_and_bad_values(data):
    root, path, _ = data
    with pytest.raises(ValidationError, match="extra"):
        _settings(root, path, gruop_size=4)
    with pytest.raises(ValidationError, match="group_size"):
        _settings(root, path, group_size=1)
    with pytest.raises(ValidationError, match="kl_coef"):
        _settings(root, path, kl_estimator="k1")
