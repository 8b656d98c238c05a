"""Faults during GRPO training, for real: policy actors killed with SIGKILL mid-iteration and between iterations,
an actor whose restarts run out, and a plug-in verifier slower than its timeout.

Promises checked (issue 9): training goes on; a failed call's tasks are retried once or dropped, each counted; no
(group, sample) appears twice in a batch and no episode goes missing; a restarted actor gets the current weights
before it samples; a timed-out episode has no reward and its group is handled as ``train.failed_episodes`` says.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import numpy as np
import pytest
import ray

from agents.base import Agent, EpisodeState, Verdict
from agents.verifier import CanvasVerifier
from orchestration.grpo.config import build_grpo_config

G, TASKS = 4, 4


class SlowVerifier(Agent):
    """A plug-in verifier that takes ``delay_s`` on every ``every``-th call, else answers like the Canvas verifier."""

    role = "verifier"
    backend = "slow"

    def __init__(self, delay_s: float = 2.0, every: int = G, **kwargs):
        self.inner = CanvasVerifier(**kwargs)
        self.delay_s, self.every, self.calls = delay_s, every, 0

    def act(self, state: EpisodeState) -> Verdict:
        self.calls += 1
        if self.calls % self.every == 1:
            time.sleep(self.delay_s)
        return self.inner.act(state)


def _pid(actor, wait_s: float = 60.0) -> int:
    """The actor's process id, waiting while Ray restarts it (a restarting actor answers ActorUnavailableError)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return ray.get(actor.ping.remote(), timeout=wait_s)
        except ray.exceptions.ActorUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _kill_on_submit(pool, actor_index: int, attempts: tuple[int, ...] = (0,)):
    """Arm the pool so that actor ``actor_index`` is SIGKILLed right after each listed attempt's call reaches it.

    The kill lands while the call is in flight, as a crash mid-iteration would. Returns the list of pids killed.
    """
    killed: list[int] = []
    pending = list(attempts)

    def hook(attempt: int, i: int) -> None:
        if i == actor_index and pending and attempt == pending[0]:
            pending.pop(0)
            pid = _pid(pool.actors[i]) if attempt else pool.pids[i]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    pool.on_submit = hook
    return killed


def _check_batch(algo, grpo: dict, trained_groups: int) -> None:
    """Every trained row is a distinct (group, sample), every episode is accounted for."""
    rows = algo.last_batch_rows.get("decomposer", [])
    assert len(rows) == len(set(rows))
    assert all(count == G for count in Counter(g for g, _ in rows).values())
    assert len({g for g, _ in rows}) == trained_groups
    assert grpo["decomposer/lost_episodes"] == 0 and grpo["decomposer/malformed_groups"] == 0


def test_policy_actors_killed_mid_iteration(ray_cluster, make_pipeline):
    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]", "decomposer.replicas=2",
                                        "decomposer.max_restarts=1"],
                             train={"group_size": G, "tasks_per_iteration": TASKS, "drop_zero_variance_groups": False})
    algo = build_grpo_config(pipeline).build_algo()
    pool = algo.pools["decomposer"]
    injected = 0
    try:
        first = algo.train()["grpo"]
        assert first["faults/actor_errors"] == 0 and first["decomposer/groups"] == TASKS

        # 1. Actor 0 dies with its shard in flight: the shard (2 of 4 tasks) is retried on actor 1, nothing dropped.
        _kill_on_submit(pool, 0)
        injected += 1
        grpo = algo.train()["grpo"]
        assert grpo["faults/actor_errors"] == 1
        assert grpo["faults/retried_tasks"] == TASKS // 2 and grpo["faults/dropped_tasks"] == 0
        assert grpo["decomposer/groups"] == TASKS and grpo["decomposer/lost_episodes"] == 0
        _check_batch(algo, grpo, TASKS)

        # 2. Ray restarted actor 0 with its starting weights: it is re-synced before it samples again.
        _pid(pool.actors[0])  # wait for the restart, so that this step's first call meets the new process
        pool.on_submit = None
        grpo = algo.train()["grpo"]
        assert grpo["faults/actor_restarts"] == 1 and grpo["faults/resyncs"] == 1 and grpo["faults/actor_errors"] == 0
        assert grpo["decomposer/sampled_weights_version"] == grpo["weights_version"] - 1  # no stale sample
        weights = algo.learner_group.get_weights(["decomposer"])["decomposer"]
        actor_weights = ray.get(pool.actors[0].get_weights.remote())
        assert all(np.allclose(np.asarray(weights[f"model.{k}"]), v.numpy()) for k, v in actor_weights.items())
        _check_batch(algo, grpo, TASKS)

        # 3. Actor 0 dies again, its restarts used up: marked dead, its shard retried on actor 1; then only actor 1.
        _kill_on_submit(pool, 0)
        injected += 1
        grpo = algo.train()["grpo"]
        assert grpo["faults/retried_tasks"] == TASKS // 2 and grpo["faults/dropped_tasks"] == 0
        assert pool.dead == {0} and grpo["decomposer/groups"] == TASKS
        _check_batch(algo, grpo, TASKS)
        pool.on_submit = None
        grpo = algo.train()["grpo"]
        assert grpo["faults/actor_errors"] == 0 and grpo["decomposer/groups"] == TASKS

        # 4. The last actor dies on the call and on its retry: the tasks are dropped and counted, training goes on.
        _kill_on_submit(pool, 1, attempts=(0, 1))
        injected += 2
        iteration = algo.iteration
        grpo = algo.train()["grpo"]
        assert algo.iteration == iteration + 1
        assert grpo["faults/retried_tasks"] == TASKS and grpo["faults/dropped_tasks"] == TASKS
        assert grpo["faults/dropped_episodes"] == TASKS * G and grpo["decomposer/groups"] == 0
        assert grpo["decomposer/lost_episodes"] == 0 and grpo["faults/lost_episodes"] == 0
        # With every actor's restarts used up, training stops with an error that says what to change.
        with pytest.raises(Exception, match="max_restarts"):
            algo.train()
        assert injected == 4
    finally:
        algo.stop()


def test_slow_verifier_times_out_and_groups_follow_the_config(ray_cluster, make_pipeline):
    overrides = ["rewards.decomposer=[{name: toy_e}]", f"verifier.cls={__name__}:SlowVerifier",
                 "verifier.options={delay_s: 1.5}", "verifier.timeout_s=0.3"]
    for mode, trained in (("drop_episode", TASKS * (G - 1)), ("drop_group", 0)):
        pipeline = make_pipeline(overrides=overrides, train={"group_size": G, "tasks_per_iteration": TASKS,
                                                            "drop_zero_variance_groups": False, "failed_episodes": mode})
        algo = build_grpo_config(pipeline).build_algo()
        try:
            grpo = algo.train()["grpo"]
        finally:
            algo.stop()
        # The first verifier call of each group (every G-th call) is slow: one timed-out episode per group.
        assert grpo["faults/timeout_episodes"] == TASKS and grpo["decomposer/failed_episodes"] == TASKS
        assert grpo["decomposer/trained_completions"] == trained
        assert grpo["decomposer/lost_episodes"] == 0


def test_timed_out_episode_has_no_reward(make_pipeline):
    """The rollout itself: the episode's error says timeout, its reward is NaN (not invented), the rest are scored."""
    from envs.canvas.generator import generate_tasks
    from orchestration.graph import build_graph
    from orchestration.grpo.rollout import EpisodeRunner, LocalNode, collect_groups
    from orchestration.grpo.samples import SampledGroups
    from orchestration.pipeline import agent_kwargs

    pipeline = make_pipeline(overrides=["rewards.decomposer=[{name: toy_e}]", f"verifier.cls={__name__}:SlowVerifier",
                                        "verifier.options={delay_s: 1.0, every: 3}"])
    graph = build_graph(pipeline)
    agents = {n: graph.classes[n](**agent_kwargs(pipeline.agents[n], pipeline)) for n in graph.order}
    handles = {n: LocalNode(a, timeout_s=0.25 if n == "verifier" else None) for n, a in agents.items()}
    decomposer = agents["decomposer"]

    def sample(states, n):
        outputs, gen = decomposer.sample(states, num_return_sequences=n, temperature=1.0, max_new_tokens=8)
        return outputs, SampledGroups.from_generation(gen, [decomposer.prompt(s) for s in states])

    rollouts = collect_groups(EpisodeRunner(graph, handles), "decomposer", list(generate_tasks(2, seed=3, split="train")),
                              sample, 3, [("toy_e", 1.0)])
    timed_out = [e.timed_out for e in rollouts.episodes]
    assert timed_out == [True, False, False] * 2
    assert all(e.error.startswith("timeout: agent 'verifier' took longer than 0.25 s") for e in rollouts.episodes if e.timed_out)
    assert np.isnan(rollouts.rewards[[0, 3]]).all() and np.isfinite(rollouts.rewards[[1, 2, 4, 5]]).all()
    assert rollouts.ok.tolist() == [not t for t in timed_out]


@ray.remote(max_restarts=1, max_task_retries=0)
class _Worker:
    """The smallest actor the pool can drive (its ``call`` protocol is PolicyActor's): ``work`` hangs in the
    processes listed in ``hang_pids``, so that a restarted actor (a new pid) no longer hangs."""

    def __init__(self) -> None:
        self.version = 0

    def call(self, method, min_version, *args):
        if self.version < min_version:
            return self.version, os.getpid(), None
        return self.version, os.getpid(), getattr(self, method)(*args)

    def ping(self) -> int:
        return os.getpid()

    def set_weights(self, weights, version) -> int:
        self.version = version
        return version

    def work(self, shard, hang_pids):
        if os.getpid() in hang_pids:
            time.sleep(600)
        return [x * 10 for x in shard]


def test_hung_actor_is_killed_restarted_and_its_shard_retried(ray_cluster):
    from orchestration.grpo.pool import PolicyPool

    actors = [_Worker.remote(), _Worker.remote()]
    pool = PolicyPool(actors, timeout_s=3.0)
    pool.sync(ray.put({}), 1)
    hang = {_pid(actors[0])}
    t0 = time.monotonic()
    assert pool.map("work", [[1, 2], [3]], hang) == [[10, 20], [30]]
    assert time.monotonic() - t0 < 60
    counts = pool.counters.take()
    assert counts["faults/timeouts"] == 1 and counts["faults/actor_errors"] == 1
    assert counts["faults/retried_tasks"] == 2 and counts["faults/dropped_tasks"] == 0
    # Ray restarted the killed actor: it no longer hangs, gets the weights, and works again.
    assert _pid(actors[0]) not in hang
    assert pool.map("work", [[4], [5]], hang) == [[40], [50]]
    counts = pool.counters.take()
    assert counts["faults/actor_restarts"] == 1 and counts["faults/resyncs"] == 1 and counts["faults/actor_errors"] == 0
