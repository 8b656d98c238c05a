"""One-step off-policy GRPO (``train.max_staleness: 1``) with tiny policies and real Ray actors: it trains while the
next iteration samples, every batch is exactly one update stale after the first, a checkpoint taken with a sampling
in flight resumes, and an actor killed during the look-ahead sampling loses no episode."""

from __future__ import annotations

import os
import signal
from collections import Counter

import numpy as np
import pytest

from orchestration.grpo.algorithm import GRPO
from orchestration.grpo.checkpoint import save_checkpoint
from orchestration.grpo.config import build_grpo_config

G, TASKS = 4, 4


def _weights(algo) -> dict[str, np.ndarray]:
    # copies: a local learner hands out views of its live parameters, which the next update changes in place
    return {k: np.array(v, copy=True) for k, v in algo.learner_group.get_weights(["decomposer"])["decomposer"].items()}


def _no_loss(algo, grpo: dict) -> None:
    """Every trained row is a distinct (group, sample) of this iteration, and every episode is accounted for."""
    rows = algo.last_batch_rows.get("decomposer", [])
    assert len(rows) == len(set(rows))
    assert all(count == G for count in Counter(g for g, _ in rows).values())
    assert all(g.startswith(f"{algo.iteration - 1}/") for g, _ in rows)  # sampled for this iteration, not the next
    assert grpo["decomposer/lost_episodes"] == 0 and grpo["decomposer/malformed_groups"] == 0
    assert grpo["faults/lost_episodes"] == 0


def test_async_trains_one_update_stale_while_the_next_iteration_samples(ray_cluster, make_pipeline):
    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]"],
                             train={"group_size": G, "tasks_per_iteration": TASKS, "max_staleness": 1, "seed": 0,
                                    "drop_zero_variance_groups": False})
    algo = build_grpo_config(pipeline).build_algo()
    try:
        start = _weights(algo)
        rows = []
        for _ in range(4):
            grpo = algo.train()["grpo"]
            rows.append(grpo)
            _no_loss(algo, grpo)
        assert algo.iteration == 4
        assert any(not np.array_equal(start[k], v) for k, v in _weights(algo).items())  # it trained
        assert [r["staleness"] for r in rows] == [0.0, 1.0, 1.0, 1.0]  # never above max_staleness
        # Batch k (k >= 2) was sampled with the weights synced one update before the ones it trains.
        assert [r["decomposer/sampled_weights_version"] for r in rows] == [1.0, 1.0, 2.0, 3.0]
        assert [r["weights_version"] for r in rows] == [1.0, 2.0, 3.0, 4.0]
        assert all(r["decomposer/groups"] == TASKS and r["update_s"] > 0 for r in rows)
        # From the second iteration on, each batch was sampled while the previous update ran: part of it was hidden.
        assert all(r["overlap_s"] > 0 and r["wait_s"] >= 0 for r in rows[1:])
        assert algo._ahead is not None  # iteration 5's sampling was started before iteration 4's update
    finally:
        algo.stop()
    assert algo._ahead is None  # stop waited for it and discarded it


def test_async_toy_reward_rises_like_the_synchronous_one(ray_cluster, make_pipeline):
    # test_algorithm.py's toy-reward test, one update stale: the clipped ratio to the sampler's log-probs still learns
    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]"],
                             train={"group_size": 8, "tasks_per_iteration": 4, "lr": 0.03, "seed": 0, "max_staleness": 1})
    algo = build_grpo_config(pipeline).build_algo()
    try:
        rewards, learner = [], []
        for _ in range(10):
            result = algo.train()
            rewards.append(result["grpo"]["decomposer/reward"])
            learner.append(result["learners"]["decomposer"])
        assert np.mean(rewards[-3:]) > 1.5 * np.mean(rewards[:2]), rewards
        # Off-policy by one update: the sampler's and the learner's log-probs differ, unlike the first (on-policy) update.
        assert learner[0]["kl_old"] < 1e-6 < max(l["kl_old"] for l in learner[1:])
    finally:
        algo.stop()


def test_async_checkpoint_with_a_sampling_in_flight_resumes(ray_cluster, make_pipeline, tmp_path):
    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]"],
                             train={"group_size": G, "tasks_per_iteration": 2, "max_staleness": 1})
    algo = build_grpo_config(pipeline).build_algo()
    try:
        algo.train()
        algo.train()
        checkpoint = save_checkpoint(algo, tmp_path)  # iteration 3's sampling is in flight: it is not saved
        saved = _weights(algo)
    finally:
        algo.stop()

    resumed = GRPO.from_checkpoint(str(checkpoint / "rllib"))
    try:
        assert resumed.iteration == 2 and resumed.config.max_staleness == 1
        assert all(np.array_equal(saved[k], v) for k, v in _weights(resumed).items())
        rows = [resumed.train()["grpo"] for _ in range(2)]
        assert resumed.iteration == 4
        # The first step after the resume samples afresh with the restored weights; then one update stale again.
        assert [r["staleness"] for r in rows] == [0.0, 1.0]
        assert all(r["decomposer/lost_episodes"] == 0 for r in rows)
        assert any(not np.array_equal(saved[k], v) for k, v in _weights(resumed).items())
    finally:
        resumed.stop()


def test_actor_killed_during_the_look_ahead_sampling_loses_nothing(ray_cluster, make_pipeline):
    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]", "decomposer.replicas=2",
                                        "decomposer.max_restarts=1"],
                             train={"group_size": G, "tasks_per_iteration": TASKS, "max_staleness": 1,
                                    "drop_zero_variance_groups": False})
    algo = build_grpo_config(pipeline).build_algo()
    pool = algo.pools["decomposer"]
    killed: list[int] = []

    def kill_first_call_of_actor_0(attempt: int, i: int) -> None:
        if i == 0 and attempt == 0 and not killed:  # in the sampling thread, with the call in flight
            killed.append(pool.pids[0])
            os.kill(pool.pids[0], signal.SIGKILL)

    try:
        first = algo.train()["grpo"]
        assert first["faults/actor_errors"] == 0
        algo._ahead.result()  # iteration 2's sampling has ended: the kill cannot land in it
        pool.on_submit = kill_first_call_of_actor_0  # lands in iteration 3's sampling, started inside the next step
        second = algo.train()["grpo"]
        _no_loss(algo, second)
        assert second["faults/actor_errors"] == 0  # its batch was sampled before the kill
        third = algo.train()["grpo"]
        _no_loss(algo, third)
        assert killed and third["faults/actor_errors"] == 1
        # The dead actor's shard (half the tasks) was retried on the other one; nothing dropped, nothing lost.
        assert third["faults/retried_tasks"] == TASKS // 2 and third["faults/dropped_tasks"] == 0
        assert third["decomposer/groups"] == TASKS and third["staleness"] == 1
        pool.on_submit = None
        fourth = algo.train()["grpo"]  # the restarted actor samples again, with current weights
        _no_loss(algo, fourth)
        assert fourth["faults/actor_errors"] == 0 and fourth["decomposer/groups"] == TASKS
    finally:
        algo.stop()
