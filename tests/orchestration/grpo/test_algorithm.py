"""GRPO on RLlib end to end with tiny policies: a toy reward rises, save -> resume continues exactly, several agents
train in one run, the KL term loads a reference, and a run writes checkpoints, metrics and Hugging Face policies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from orchestration.grpo.algorithm import GRPO
from orchestration.grpo.checkpoint import latest_checkpoint, save_checkpoint
from orchestration.grpo.config import build_grpo_config, train_section


def test_toy_reward_rises_with_a_fixed_seed(ray_cluster, make_pipeline):
    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]"],
                             train={"group_size": 8, "tasks_per_iteration": 4, "lr": 0.03, "seed": 0})
    algo = build_grpo_config(pipeline).build_algo()
    try:
        rewards, learner, first = [], {}, None
        for _ in range(10):
            result = algo.train()
            first = first or result
            rewards.append(result["grpo"]["decomposer/reward"])
            learner = result["learners"]["decomposer"]
        assert algo.iteration == 10
        assert np.mean(rewards[-3:]) > 1.5 * np.mean(rewards[:2]), rewards
        assert result["grpo"]["weights_version"] == 11  # synced once at the start and after every update
        assert {"clip_fraction", "entropy", "kl_old", "policy_loss"} <= set(learner)
        assert result["grpo"]["sync_s"] > 0 and result["grpo"]["tokens_per_s"] > 0
        # The first weights (and the actors' start-up) are timed apart from the per-update sync.
        assert first["grpo"]["start_sync_s"] > 0 and result["grpo"]["start_sync_s"] == 0
    finally:
        algo.stop()


def test_save_and_resume_continue_exactly(ray_cluster, make_pipeline, tmp_path):
    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}, {name: format, weight: 0.2}]"],
                             train={"epochs_per_batch": 2, "minibatch_size": 4})
    algo = build_grpo_config(pipeline).build_algo()
    try:
        algo.train()
        algo.train()
        checkpoint = save_checkpoint(algo, tmp_path, metrics={"x": 1.0})
        algo.train()
        expected = [r["completion"] for r in algo.last_rollouts], algo.learner_group.get_weights(["decomposer"])["decomposer"]
    finally:
        algo.stop()
    assert latest_checkpoint(tmp_path) == checkpoint and checkpoint.name == "iter_000002"
    assert json.loads((checkpoint / "meta.json").read_text())["iteration"] == 2

    resumed = GRPO.from_checkpoint(str(checkpoint / "rllib"))
    try:
        assert resumed.iteration == 2
        resumed.train()
        assert resumed.iteration == 3
        assert [r["completion"] for r in resumed.last_rollouts] == expected[0]  # same task draw and sampler RNG
        weights = resumed.learner_group.get_weights(["decomposer"])["decomposer"]
        assert all(np.array_equal(weights[k], expected[1][k]) for k in weights)  # same optimizer state
    finally:
        resumed.stop()

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(checkpoint / "policies" / "decomposer"))
    assert model.config.vocab_size > 0 and (checkpoint / "policies" / "decomposer" / "model.safetensors").is_file()


def test_thinker_and_decomposer_train_together_with_dual_atomic_ucpg_and_curriculum(ray_cluster, make_pipeline):
    overrides = [
        "agents.thinker={backend: transformers, model: %s, options: {temperature: 0.0, max_new_tokens: 8}}" % make_pipeline().agents["decomposer"].model.replace("decomposer", "thinker"),
        "graph.nodes=[thinker, decomposer, sorter, editor, verifier]",
        "rewards.thinker=[{name: toy_e}, {name: checklist}]",
    ]
    train = {"agents": {"thinker": {"advantage": "dual_atomic"},
                        "decomposer": {"advantage": "ucpg", "rewards": [{"name": "toy_e"}, {"name": "format"}]}},
             "difficulty_filter": {"low": 0.0, "high": 1.0}, "kl_coef": 0.05, "train_tasks": 6}
    algo = build_grpo_config(make_pipeline(overrides=overrides, train=train)).build_algo()
    try:
        result = algo.train()
        grpo, learners = result["grpo"], result["learners"]
        for agent in ("thinker", "decomposer"):
            assert grpo[f"{agent}/groups"] == 2
            assert 0.0 <= grpo[f"{agent}/zero_variance_share"] <= 1.0
        assert "thinker/reward/checklist" in grpo and "decomposer/reward/format" in grpo
        # how often UCPG's order-consistent subset is smaller than the group (logged for ucpg agents only)
        assert 0.0 <= grpo["decomposer/ucpg_subset_smaller_share"] <= 1.0 and 0.0 < grpo["decomposer/ucpg_kept_share"] <= 1.0
        assert "thinker/ucpg_kept_share" not in grpo
        assert {"thinker", "decomposer"} & set(learners)
        assert all("kl_ref" in learners[m] for m in ("thinker", "decomposer") if m in learners)
        # the untrained thinker never passes the checklist: its tasks leave the pool
        assert grpo["pool_size"] < 6
    finally:
        algo.stop()


def test_run_writes_checkpoints_metrics_and_resumes(ray_cluster, make_pipeline, tmp_path):
    from orchestration.grpo.checkpoint import algorithm_config
    from orchestration.train import resume_changes, run_training

    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]"], train={"checkpoint_every": 2})
    section = train_section(pipeline).model_copy(update={"iterations": 2, "eval_tasks": 3, "eval_every": 1})
    summary = run_training(pipeline, section, run_dir=tmp_path, log=lambda m: None, progress=False)
    assert summary["iterations"] == 2 and set(summary["eval"]) == {"before", "after", "before_rows", "after_rows", "curve"}
    # the held-out curve: judged at every iteration, the last point is the "after" row
    curve = summary["eval"]["curve"]
    assert [p["iteration"] for p in curve] == [1, 2] and curve[-1]["full_success"] == summary["eval"]["after"]["full_success"]
    assert (tmp_path / "eval.md").read_text().startswith("| variant |")
    assert list(tmp_path.glob("tb/events.out.tfevents.*"))
    rows = pq.read_table(tmp_path / "metrics.parquet").to_pylist()
    assert [r["iteration"] for r in rows] == [1, 2]
    for key in ("decomposer/reward", "decomposer/reward/toy_e", "decomposer/f1_overall", "decomposer/checklist_pass",
                "decomposer/zero_variance_share", "generate_s", "reward_s", "update_s", "sync_s", "tokens_per_s"):
        assert key in rows[0], key
    assert pq.read_table(tmp_path / "rollouts.parquet").num_rows == 4  # rollout_samples=2 per iteration
    with pytest.raises(ValueError, match="already holds checkpoints"):
        run_training(pipeline, section, run_dir=tmp_path, log=lambda m: None, progress=False)

    # what --resume checks a new config against: the settings RLlib pickled, read back whole
    assert resume_changes(algorithm_config(latest_checkpoint(tmp_path)), build_grpo_config(pipeline, section).get_state()) == []
    more = section.model_copy(update={"iterations": 3, "eval_tasks": 0})
    summary = run_training(pipeline, more, run_dir=tmp_path, resume=True, log=lambda m: None, progress=False)
    assert summary["iterations"] == 3
    assert [r["iteration"] for r in pq.read_table(tmp_path / "metrics.parquet").to_pylist()] == [1, 2, 3]
    assert latest_checkpoint(tmp_path).name == "iter_000003"


def test_select_best_hands_on_a_judged_policy_and_the_table_judges_it(ray_cluster, make_pipeline, tmp_path):
    from orchestration.train import run_training

    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]"],
                             train={"select_best": {"tasks": 2, "seed": 1, "every": 1, "metric": "f1_overall"}})
    section = train_section(pipeline).model_copy(update={"iterations": 2, "eval_tasks": 2})
    summary = run_training(pipeline, section, run_dir=tmp_path, log=lambda m: None, progress=False)
    record = summary["eval"]["selection"]
    assert [c["iteration"] for c in record["candidates"]] == [0, 1, 2]
    best = record["best"]
    assert best["value"] == max(c["value"] for c in record["candidates"])
    assert summary["selected"] == {"iteration": best["iteration"], "value": best["value"]}
    chosen = Path(summary["policies"]["decomposer"])
    if best["iteration"] == 0:  # GRPO did not beat the start: the start is handed on, not the last checkpoint
        assert chosen == Path(pipeline.agents["decomposer"].model)
    else:
        assert chosen == tmp_path / "selected_policies" / f"iter_{best['iteration']:06d}" / "decomposer"
        assert (chosen / "config.json").exists()
    # the before/after table judged the selected policy, on its own tasks (seed 0), not the validation ones (seed 1)
    assert summary["eval"]["after"]["episodes"] == 2


def test_component_credit_trains_the_shipped_decomposer(ray_cluster):
    from pathlib import Path

    from orchestration.config import load_config

    shipped = Path(__file__).resolve().parents[3] / "agents" / "lm" / "pretrained" / "decomposer"
    pipeline = load_config("imageedit_r1", [f"decomposer.model={shipped}", "train.group_size=4", "train.tasks_per_iteration=4",
                                            "train.component_credit=1.0", "train.train_tasks=20", "train.sampler_threads=1",
                                            "train.seed=0"])
    algo = build_grpo_config(pipeline).build_algo()
    try:
        results = [algo.train() for _ in range(2)]
        aligned = [r["grpo"]["decomposer/component_aligned"] for r in results]
        assert min(aligned) > 0.5, aligned  # a competent policy writes one <action> tag per parsed component
        assert any("decomposer" in r.get("learners", {}) for r in results)  # token-level advantages reached the learner
    finally:
        algo.stop()


def test_greedy_member_and_self_critical_baseline_train_the_shipped_decomposer(ray_cluster):
    from pathlib import Path

    from agents.lm.policy import LMDecomposer
    from envs.editing_env import task_to_state
    from orchestration.config import load_config

    shipped = Path(__file__).resolve().parents[3] / "agents" / "lm" / "pretrained" / "decomposer"
    pipeline = load_config("imageedit_r1", [f"decomposer.model={shipped}", "train.group_size=4", "train.tasks_per_iteration=4",
                                            "train.greedy_member=true", "train.baseline=greedy", "train.train_tasks=20",
                                            "train.sampler_threads=1", "train.seed=0", "train.rollout_samples=16"])
    algo = build_grpo_config(pipeline).build_algo()
    try:
        result = algo.train()["grpo"]
        assert 0.0 <= result["decomposer/greedy_solved"] <= 1.0 and np.isfinite(result["decomposer/greedy_reward"])
        # Member 0 of every group is what the agent decodes greedily on that task (the weights it sampled with).
        greedy = LMDecomposer(model=str(shipped), max_new_tokens=pipeline.train["max_new_tokens"])
        rows = [r for r in algo.last_rollouts if r["sample"] == 0]
        assert rows, "no greedy rows among the kept rollout samples"
        tasks = {t.task_id: t for t in (algo.tasks[i] for i in range(len(algo.tasks)))}
        for row in rows:
            state = task_to_state(tasks[row["task_id"]])
            assert greedy.sample([state], temperature=0.0)[1].texts[0] == row["completion"]
    finally:
        algo.stop()
