"""The one retry/timeout helper for actor calls, on real Ray actors: a call whose actor dies, one that hangs (killed,
restarted, back), one whose actor is out of restarts, and the retry-once rule, each counted under one name."""

from __future__ import annotations

import os
import time

import pytest
import ray
from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError

from orchestration.actor_calls import ActorCalls, FaultCounters


@ray.remote(max_restarts=1, max_task_retries=0, num_cpus=0)
class _Actor:
    def ping(self) -> int:
        return os.getpid()

    def work(self, x: int, hang_pids: tuple[int, ...] = ()) -> int:
        if os.getpid() in hang_pids:
            time.sleep(600)
        return 10 * x

    def die(self) -> None:
        os._exit(1)

    def fail(self) -> None:
        raise ValueError("the method's own error")


def _back(calls: ActorCalls, i: int) -> int:
    assert calls.wait_back(i, wait_s=60.0)
    assert i not in calls.down and calls.up() == [i]
    return calls.call(i, "ping")


def test_retry_once_then_drop_and_take_resets():
    calls = ActorCalls([])
    assert calls.retry(3, attempt=0) is True and calls.retry(2, attempt=1) is False
    calls.drop(4)
    counts = calls.counters.take()
    assert counts["faults/retried_tasks"] == 3 and counts["faults/dropped_tasks"] == 6
    assert set(counts) == {f"faults/{k}" for k in ("actor_errors", "timeouts", "actor_restarts", "resyncs",
                                                    "retried_tasks", "dropped_tasks", "actors_lost")}
    assert calls.counters == FaultCounters()


def test_dead_hung_and_lost_actor(ray_cluster):
    calls = ActorCalls([_Actor.remote()])
    pid = calls.call(0, "ping")
    assert calls.call(0, "work", 2, timeout_s=30) == 20 and calls.counters == FaultCounters()

    # The method raises: counted, but the process is fine, so the actor stays up.
    with pytest.raises(ValueError):
        calls.call(0, "fail", timeout_s=30)
    assert calls.counters.actor_errors == 1 and calls.up() == [0]

    # The process dies in a call: counted, down until a probe finds the restarted process.
    with pytest.raises(RayActorError):
        calls.call(0, "die", timeout_s=30)
    assert calls.counters.actor_errors == 2 and 0 in calls.down and calls.up() == []
    restarted = _back(calls, 0)
    assert restarted != pid

    # Its restart is used up: the next death is for good.
    with pytest.raises(RayActorError):
        calls.call(0, "die", timeout_s=30)
    assert not calls.wait_back(0, wait_s=60.0)
    assert calls.dead == {0} and calls.live() == [] and not calls.down
    assert calls.counters.actors_lost == 1 and calls.counters.timeouts == 0
    with pytest.raises(ActorDiedError):
        calls.call(0, "ping")
    assert calls.counters.actors_lost == 1  # counted once per actor


def test_hung_call_kills_the_actor_and_it_comes_back(ray_cluster):
    calls = ActorCalls([_Actor.remote()])
    hang = (calls.call(0, "ping"),)
    t0 = time.monotonic()
    with pytest.raises(GetTimeoutError):
        calls.call(0, "work", 1, hang, timeout_s=1.0)
    assert time.monotonic() - t0 < 30
    assert calls.counters.timeouts == 1 and calls.counters.actor_errors == 1 and 0 in calls.down
    assert _back(calls, 0) not in hang  # killed and restarted: a new process that no longer hangs
    assert calls.call(0, "work", 1, hang, timeout_s=30) == 10
    calls.probe_due()  # nothing down: nothing to do
    assert calls.counters.take()["faults/timeouts"] == 1 and calls.counters.timeouts == 0
    ray.kill(calls.handles[0], no_restart=True)
