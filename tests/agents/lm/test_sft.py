"""SFT: loss only on target tokens, a short run lowers it, and cold_start writes loadable policies per role."""

from __future__ import annotations

import json

import pytest
import torch

from agents.lm.model import build_model, load_policy, tiny_causal_lm_config
from agents.lm.policy import LMDecomposer
from agents.lm.sft import _collate, cold_start, make_sft_data, make_tasks, sft_train, tokenize_examples
from envs.canvas.generator import generate_mixed_tasks, generate_tasks


@pytest.fixture(scope="module")
def examples():
    tasks = list(generate_tasks(24, seed=6))
    return make_sft_data(tasks, "decomposer")


def test_targets_end_with_eos_and_prompt_is_masked(tokenizer, examples):
    data = tokenize_examples(tokenizer, examples[:3])
    for (prompt, target), (p_text, t_text) in zip(data, examples[:3]):
        assert prompt[0] == tokenizer.bos_token_id and target[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(target[:-1]) == t_text and tokenizer.decode(prompt, skip_special_tokens=True) == p_text
    input_ids, labels, prompt_labels = _collate(data, tokenizer.pad_token_id)
    for row, (prompt, target) in enumerate(data):
        assert (labels[row, : len(prompt)] == -100).all()
        assert labels[row, len(prompt) : len(prompt) + len(target)].tolist() == target
        assert (labels[row, len(prompt) + len(target) :] == -100).all()
        assert input_ids[row, : len(prompt)].tolist() == prompt


def test_short_sft_lowers_the_loss(tokenizer, examples):
    model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), hidden_size=48, num_hidden_layers=2, num_attention_heads=2))
    before = [p.detach().clone() for p in model.parameters()]
    metrics = sft_train(model, tokenizer, examples, steps=40, batch_size=8, lr=3e-3, seed=0, log_every=5, bf16=False)
    assert not model.training
    assert metrics.final_loss < 0.6 * metrics.first_loss, metrics.losses
    assert metrics.target_tokens > 0 and metrics.wall_s > 0 and len(metrics.losses) == 8
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_sft_is_seeded(tokenizer, examples):
    def run() -> float:
        model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2))
        return sft_train(model, tokenizer, examples, steps=3, batch_size=4, seed=1, bf16=False).final_loss

    assert run() == run()


def test_callback_and_checks(tokenizer, examples):
    model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2))
    seen = []
    sft_train(model, tokenizer, examples, steps=4, batch_size=4, callback=lambda step, m: seen.append((step, m.training)), callback_every=2)
    assert seen == [(2, False), (4, False)]
    with pytest.raises(ValueError, match="examples"):
        sft_train(model, tokenizer, [], steps=1)


def test_time_budget_stops_after_the_crossing_step(tokenizer, examples):
    model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2))
    metrics = sft_train(model, tokenizer, examples, steps=100_000, batch_size=4, bf16=False, log_every=1000, time_budget_s=0.3)
    assert 1 <= metrics.steps < 100_000 and metrics.wall_s >= 0.3
    assert metrics.losses and metrics.losses[-1][0] == metrics.steps  # the unlogged tail is recorded
    with pytest.raises(ValueError, match="time_budget_s"):
        sft_train(model, tokenizer, examples, steps=1, time_budget_s=0)


def test_cold_start_writes_one_policy_per_role(tmp_path):
    report = cold_start(
        tmp_path, n_tasks=16, steps={"decomposer": 4, "thinker": 2}, seed=0, batch_size=4, vocab_size=400,
        model_overrides={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}, eval_tasks=4, eval_every=2,
    )  # fmt: skip
    assert set(report["roles"]) == {"decomposer", "thinker"}
    assert json.loads((tmp_path / "cold_start.json").read_text()) == report
    decomposer, thinker = report["roles"]["decomposer"], report["roles"]["thinker"]
    assert [point["step"] for point in decomposer["curve"]] == [2, 4] and [p["step"] for p in thinker["curve"]] == [2]
    assert 0.0 <= decomposer["test"]["overall"] <= 1.0 and 0.0 <= thinker["test"]["word_f1"] <= 1.0
    assert report["torch_threads"] == 1
    for role in ("decomposer", "thinker"):
        model, tok = load_policy(tmp_path / role)
        assert model.config.vocab_size == len(tok) <= 400
    agent = LMDecomposer(model=str(tmp_path / "decomposer"), max_new_tokens=4)
    assert agent.describe()["model"] == str(tmp_path / "decomposer")
    with pytest.raises(ValueError, match="role"):
        cold_start(tmp_path, n_tasks=1, roles=("editor",))


def test_cold_start_can_start_a_role_from_another_policy(tmp_path):
    import torch

    small = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    cold_start(tmp_path / "first", n_tasks=16, roles=("decomposer",), steps=2, batch_size=4, vocab_size=400, model_overrides=small)
    start, start_tok = load_policy(tmp_path / "first" / "decomposer")
    report = cold_start(tmp_path / "warm", n_tasks=16, roles=("thinker",), steps=3, batch_size=4, reasoning=True, scan=True,
                        init={"thinker": tmp_path / "first" / "decomposer"})
    assert report["init"] == {"thinker": str(tmp_path / "first" / "decomposer")} and report["vocab_size"] is None
    thinker, tok = load_policy(tmp_path / "warm" / "thinker")
    assert tok.get_vocab() == start_tok.get_vocab()  # the starting policy's tokenizer, not a new one
    assert thinker.config.hidden_size == 32  # its architecture too
    changed = [n for n, p in thinker.state_dict().items() if not torch.equal(p, start.state_dict()[n])]
    assert changed  # and SFT moved its weights
    with pytest.raises(ValueError, match="does not train"):
        cold_start(tmp_path / "bad", n_tasks=16, roles=("thinker",), init={"decomposer": tmp_path / "first" / "decomposer"})
    with pytest.raises(ValueError, match="not a policy folder"):
        cold_start(tmp_path / "bad", n_tasks=16, roles=("thinker",), init={"thinker": tmp_path})


def test_cold_start_learns_lookups_first_then_keeps_them_in_the_mixture(tmp_path):
    small = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    lines: list[str] = []
    report = cold_start(tmp_path, n_tasks=16, roles=("thinker",), steps=2, batch_size=4, vocab_size=400, model_overrides=small,
                        reasoning=True, centre_lookups=0.5, lookup_steps=3, log=lines.append)
    assert report["lookup_steps"] == 3 and report["centre_lookups"] == 0.5
    assert any(line.startswith("thinker: 3 lookup steps on ") for line in lines), lines
    examples = next(line for line in lines if line.startswith("thinker: ") and " examples, 2 steps" in line)
    assert 16 < int(examples.split(" parameters, ")[1].split(" examples")[0]) < 32  # the tasks and about half as many lookups
    load_policy(tmp_path / "thinker")


def test_make_tasks_is_the_same_with_one_or_two_processes():
    one_tasks, one_scenes = make_tasks(200, seed=2, step_mix={1: 0.5, 3: 0.5}, workers=1)
    two_tasks, two_scenes = make_tasks(200, seed=2, step_mix={1: 0.5, 3: 0.5}, workers=2)
    assert one_tasks == two_tasks and one_scenes == two_scenes
    assert one_tasks == list(generate_mixed_tasks(200, seed=2, step_mix={1: 0.5, 3: 0.5}))
    assert {t.n_steps for t in one_tasks} == {1, 3} and all(s.startswith("background:") for s in one_scenes)
    plain, _ = make_tasks(5, seed=2, step_mix=None, split="test")
    assert plain == list(generate_tasks(5, seed=2, split="test"))
