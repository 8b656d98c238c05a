"""Rollout workers run whole episodes in their own process and return what the in-process loop returns; a worker
that dies or hangs costs its chunk a retry, never a task."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import ray

from agents.base import Agent, EpisodeState, Verdict
from agents.verifier import CanvasVerifier
from envs.canvas.generator import generate_tasks
from orchestration.actor_calls import FaultCounters
from orchestration.config import load_config
from orchestration.rollout_workers import build_runner, run_distributed, run_local, start_workers


def test_workers_return_the_in_process_rows_in_task_order(ray_cluster):
    config = load_config("canvas_rule")
    tasks = list(generate_tasks(7, seed=3, split="test"))
    local = run_local(build_runner(config), tasks, chunk=3)
    workers = start_workers(config, 2)
    try:
        remote = run_distributed(workers, tasks, chunk=2)
    finally:
        for w in workers:
            ray.kill(w)
    assert [r["task_id"] for r in remote] == [t.task_id for t in tasks]
    assert remote == local
    assert all(r["ok"] for r in local) and all(r["checklist_pass"] is not None for r in local)


class CrashingVerifier(Agent):
    """The Canvas verifier, except that it kills its own process: once (the first call after `marker` is absent,
    which it then creates), or on every call with `always`."""

    role = "verifier"
    backend = "crashing"

    def __init__(self, marker: str, always: bool = False, hang: bool = False, **kwargs):
        self.inner = CanvasVerifier(**kwargs)
        self.marker, self.always, self.hang = Path(marker), always, hang

    def act(self, state: EpisodeState) -> Verdict:
        if self.always or not self.marker.exists():
            self.marker.touch()
            if self.hang:
                time.sleep(600)  # a hung call, not a dead process: only the chunk timeout gets it back
            os._exit(1)
        return self.inner.act(state)


def _crashing(marker: Path, **options) -> tuple:
    opts = ", ".join(f"{k}: {str(v).lower()}" for k, v in options.items())
    return load_config("canvas_rule", [f"verifier.cls={__name__}:CrashingVerifier",
                                       f"verifier.options={{marker: '{marker}'{', ' + opts if opts else ''}}}"])


def _kill_all(workers):
    for w in workers:
        ray.kill(w, no_restart=True)


@pytest.mark.parametrize("hang", [False, True], ids=["worker process dies", "worker hangs"])
def test_a_lost_chunk_is_retried_on_a_restarted_worker_and_nothing_is_lost(ray_cluster, tmp_path, hang):
    tasks = list(generate_tasks(7, seed=3, split="test"))
    local = run_local(build_runner(load_config("canvas_rule")), tasks)
    workers = start_workers(_crashing(tmp_path / "crashed", hang=hang), 2)
    faults = FaultCounters()
    try:
        remote = run_distributed(workers, tasks, chunk=2, chunk_timeout_s=20 if hang else None, faults=faults)
    finally:
        _kill_all(workers)
    assert remote == local  # every task once, in order, with the same metrics
    if hang:  # the hung worker is the one failure: killed, not died
        assert faults.timeouts == 1 and faults.actor_errors == 1
    else:
        assert faults.actor_errors >= 1 and faults.timeouts == 0
    assert faults.retried_tasks >= 2 and faults.dropped_tasks == 0 and faults.actors_lost == 0


def test_chunks_no_worker_can_run_come_back_as_failed_rows(ray_cluster, tmp_path):
    tasks = list(generate_tasks(5, seed=4, split="test"))
    workers = start_workers(_crashing(tmp_path / "m", always=True), 1, max_restarts=1)
    faults = FaultCounters()
    try:
        rows = run_distributed(workers, tasks, chunk=2, faults=faults)
    finally:
        _kill_all(workers)
    assert [r["task_id"] for r in rows] == [t.task_id for t in tasks]
    assert not any(r["ok"] for r in rows) and all(r["error"].startswith("worker failed:") for r in rows)
    assert faults.dropped_tasks == 5 and faults.actors_lost == 1
