"""GCPO on RLlib with a tiny verifier: an iteration trains it through GRPO's learner when its judgements differ and
leaves it alone when they do not, a run checkpoints and resumes exactly, and bad settings are refused by name."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import ray
import torch

from agents.lm.model import load_policy
from orchestration.config import ConfigError, load_config
from orchestration.gcpo.algorithm import GCPO, pair_states
from orchestration.grpo.checkpoint import latest_checkpoint, save_checkpoint
from orchestration.grpo.config import build_grpo_config, train_section
from rewards.principles import ParsedPrinciples, Principle


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture
def data(tiny_gcpo_data):
    return tiny_gcpo_data


def _pipeline(data, *extra: str):
    root, path, _ = data
    return load_config("edit_r1", [f"verifier.model={path}", f"train.gcpo={{pairs: {root / 'pairs.parquet'}, pairs_per_iteration: 2}}",
                                   "train.group_size=3", "train.max_new_tokens=16", "train.lr=0.01",
                                   "train.sampler_threads=1", "train.rollout_samples=2", *extra])


def _varied_judgements(monkeypatch):
    """The untrained verifier writes no readable principle; give its judgements varied scores (in the driver, where
    GCPO scores them) so that its groups carry a signal."""
    counter = iter(range(100_000))

    def parse(text):
        holds = next(counter) % 3
        return ParsedPrinciples(tuple(Principle("follow", "Is it?", "yes" if k < holds else "no") for k in range(2)), (), True)

    monkeypatch.setattr("rewards.principles.parse_principles", parse)


def test_pair_states_put_each_edit_where_the_served_verifier_reads_it(data):
    pair = data[2][0]
    preferred, rejected = pair_states(pair)
    assert preferred.edit.image_png == pair.preferred_png and rejected.edit.image_png == pair.rejected_png
    assert preferred.instruction == rejected.instruction == pair.instruction and preferred.source_png == pair.source_png


def test_an_iteration_updates_the_verifier_through_the_rllib_learner(ray_cluster, data, monkeypatch):
    _varied_judgements(monkeypatch)
    algo = build_grpo_config(_pipeline(data)).build_algo()
    try:
        assert isinstance(algo, GCPO)
        before = {k: v.copy() for k, v in algo.learner_group.get_weights(["verifier"])["verifier"].items()}
        result = algo.train()
        after = algo.learner_group.get_weights(["verifier"])["verifier"]
        actor = ray.get(algo.policy_actors["verifier"][0].get_weights.remote())
    finally:
        algo.stop()
    metrics, learner = result["grpo"], result["learners"]["verifier"]
    assert metrics["verifier/groups"] == 4 and metrics["verifier/trained_completions"] > 0  # 2 pairs x 2 sides
    assert metrics["verifier/zero_variance_share"] < 1 and metrics["weights_version"] == 2  # start sync + one update
    assert {"verifier/score_preferred", "verifier/score_rejected", "verifier/pair_accuracy", "verifier/well_formed"} <= set(metrics)
    assert {"clip_fraction", "entropy", "kl_old", "policy_loss"} <= set(learner)
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    assert all(np.allclose(torch.as_tensor(v).numpy(), after["model." + k]) for k, v in actor.items())  # the actor got it


def test_silent_groups_leave_the_verifier_untouched(ray_cluster, data):
    # Unpatched, the untrained verifier's judgements are all malformed: every reward is 0, no group has a signal.
    algo = build_grpo_config(_pipeline(data)).build_algo()
    try:
        before = {k: v.copy() for k, v in algo.learner_group.get_weights(["verifier"])["verifier"].items()}
        metrics = algo.train()["grpo"]
        after = algo.learner_group.get_weights(["verifier"])["verifier"]
    finally:
        algo.stop()
    assert metrics["verifier/zero_variance_share"] == 1 and metrics["verifier/trained_completions"] == 0
    assert metrics["weights_version"] == 1 and all(np.array_equal(before[k], after[k]) for k in before)


def test_resume_continues_exactly(ray_cluster, data, monkeypatch, tmp_path):
    _varied_judgements(monkeypatch)
    algo = build_grpo_config(_pipeline(data)).build_algo()
    try:
        algo.train()
        checkpoint = save_checkpoint(algo, tmp_path)
        _varied_judgements(monkeypatch)  # the resumed run scores its judgements from the same start
        algo.train()
        expected = [r["completion"] for r in algo.last_rollouts], algo.learner_group.get_weights(["verifier"])["verifier"]
    finally:
        algo.stop()
    resumed = GCPO.from_checkpoint(str(checkpoint / "rllib"))
    try:
        assert isinstance(resumed, GCPO) and resumed.iteration == 1
        _varied_judgements(monkeypatch)
        resumed.train()
        assert [r["completion"] for r in resumed.last_rollouts] == expected[0]  # same pair draw and sampler RNG
        weights = resumed.learner_group.get_weights(["verifier"])["verifier"]
        assert all(np.allclose(weights[k], expected[1][k], atol=1e-6) for k in weights)
    finally:
        resumed.stop()


def test_editrl_run_writes_metrics_checkpoints_and_a_loadable_verifier(ray_cluster, data, monkeypatch, tmp_path):
    from orchestration.train import run_training

    _varied_judgements(monkeypatch)
    pipeline = _pipeline(data, "train.checkpoint_every=1")
    summary = run_training(pipeline, train_section(pipeline).model_copy(update={"iterations": 2}), run_dir=tmp_path,
                           log=lambda m: None, progress=False)
    assert summary["iterations"] == 2 and latest_checkpoint(tmp_path).name == "iter_000002"
    load_policy(summary["policies"]["verifier"])  # the trained verifier loads like any policy
    more = train_section(pipeline).model_copy(update={"iterations": 3})
    assert run_training(pipeline, more, run_dir=tmp_path, resume=True, log=lambda m: None, progress=False)["iterations"] == 3
    rows = pq.read_table(tmp_path / "metrics.parquet").to_pylist()
    assert [r["iteration"] for r in rows] == [1, 2, 3] and "verifier/pair_accuracy" in rows[0]
    rollouts = pq.read_table(tmp_path / "rollouts.parquet").to_pylist()
    assert len(rollouts) == 6 and rollouts[0]["group"].endswith("/preferred")  # rollout_samples=2 per iteration


def test_bad_gcpo_settings_are_refused_by_name(data, tmp_path):
    with pytest.raises(ConfigError, match="eval_tasks: 0"):
        train_section(_pipeline(data, "train.eval_tasks=5"))
    with pytest.raises(ConfigError, match="extra|pairs_per_iteration|Extra"):
        train_section(_pipeline(data, "train.gcpo.pairs_per_iteraton=3"))
    with pytest.raises(ValueError, match="max_staleness=1 is a GRPO-only setting"):
        build_grpo_config(_pipeline(data, "train.max_staleness=1")).validate()
    with pytest.raises(ValueError, match="no LM verifier to train"):
        build_grpo_config(load_config("imageedit_r1", [f"train.gcpo={{pairs: {tmp_path / 'p.parquet'}}}"])).validate()
    missing = build_grpo_config(_pipeline(data, f"train.gcpo.pairs={tmp_path / 'none.parquet'}"))
    with pytest.raises(ValueError, match="none.parquet is not a file"):
        GCPO(config=missing)
