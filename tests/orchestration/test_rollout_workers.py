"""Rollout workers run whole episodes in their own process and return what the in-process loop returns."""

from __future__ import annotations

import pytest
import ray

from envs.canvas.generator import generate_tasks
from orchestration.config import load_config
from orchestration.rollout_workers import build_runner, run_distributed, run_local, start_workers


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


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
