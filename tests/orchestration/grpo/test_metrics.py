"""MetricsLog: every metric keeps its column, logging stays linear over a long run, resume and kills keep the rows."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from orchestration.grpo.metrics import MetricsLog


def _rollout(iteration: int) -> dict:
    return {"iteration": iteration, "agent": "decomposer", "prompt": "p", "completion": "c", "reward": 0.5,
            "rewards": {"f1": 0.5}, "advantage": 0.0, "error": None}


def _log(log: MetricsLog, iteration: int, learner: bool = True) -> None:
    metrics = {"decomposer/reward": 0.1 * iteration}
    if learner:
        metrics["learner/decomposer/policy_loss"] = -0.01 * iteration
    log.log(iteration, metrics, [_rollout(iteration)], time_s=float(iteration))


def test_a_first_row_without_some_metrics_keeps_their_columns(tmp_path):
    # iteration 1 with every group zero-variance has no update, hence no learner/* metrics
    log = MetricsLog(tmp_path, tensorboard=False)
    _log(log, 1, learner=False)
    _log(log, 2)
    _log(log, 3)
    log.close()
    rows = pq.read_table(tmp_path / "metrics.parquet").to_pylist()
    assert [r["learner/decomposer/policy_loss"] for r in rows] == [None, pytest.approx(-0.02), pytest.approx(-0.03)]
    assert [r["decomposer/reward"] for r in rows] == pytest.approx([0.1, 0.2, 0.3])


def test_ten_thousand_iterations_do_not_rewrite_the_table_each_time(tmp_path, monkeypatch):
    iterations = 10_000
    written = {"rows": 0, "files": 0}
    write_table = pq.write_table

    def counting_write(table, where, *args, **kwargs):
        written["rows"] += table.num_rows
        written["files"] += 1
        # rewriting the whole table each iteration writes ~iterations²/2 rows per file; stop such a run early
        assert written["rows"] <= 40 * iterations, f"{written} after {table.num_rows} rows logged"
        return write_table(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", counting_write)
    log = MetricsLog(tmp_path, tensorboard=False)
    for iteration in range(1, iterations + 1):
        _log(log, iteration)
    log.close()
    assert written["files"] <= 300, written  # two files, each rewritten O(log n) times
    assert pq.read_table(tmp_path / "metrics.parquet").num_rows == iterations
    assert pq.read_table(tmp_path / "rollouts.parquet").num_rows == iterations


def test_resume_drops_the_rows_after_the_restored_iteration(tmp_path):
    log = MetricsLog(tmp_path, tensorboard=False)
    for iteration in range(1, 6):
        _log(log, iteration)
    log.close()
    log = MetricsLog(tmp_path, start_iteration=3, tensorboard=False)
    _log(log, 4)
    log.close()
    assert [r["iteration"] for r in pq.read_table(tmp_path / "metrics.parquet").to_pylist()] == [1, 2, 3, 4]
    assert [r["iteration"] for r in pq.read_table(tmp_path / "rollouts.parquet").to_pylist()] == [1, 2, 3, 4]


def test_a_killed_run_keeps_its_rows_for_the_resume(tmp_path):
    log = MetricsLog(tmp_path, tensorboard=False)
    for iteration in range(1, 8):
        _log(log, iteration)
    # killed: no close; the next process resumes from the checkpoint of iteration 6
    log = MetricsLog(tmp_path, start_iteration=6, tensorboard=False)
    _log(log, 7)
    log.close()
    assert [r["iteration"] for r in pq.read_table(tmp_path / "metrics.parquet").to_pylist()] == list(range(1, 8))


def test_a_fresh_run_starts_empty(tmp_path):
    log = MetricsLog(tmp_path, tensorboard=False)
    for iteration in range(1, 4):
        _log(log, iteration)
    log = MetricsLog(tmp_path, tensorboard=False)  # killed, then started afresh in the same folder
    _log(log, 1)
    log.close()
    assert [r["iteration"] for r in pq.read_table(tmp_path / "metrics.parquet").to_pylist()] == [1]
