"""`editrl train --overwrite` clears what a run wrote, the metric journals included."""

from __future__ import annotations

from orchestration.grpo.metrics import MetricsLog
from orchestration.train import clear_run_dir


def test_overwrite_clears_the_metric_logs_and_their_journals(tmp_path):
    log = MetricsLog(tmp_path, tensorboard=False)
    for iteration in (1, 2):  # the second row waits in the journal
        log.log(iteration, {"x": 1.0}, [{"iteration": iteration, "rewards": {}}], time_s=0.0)
    (tmp_path / "notes.txt").write_text("mine")
    clear_run_dir(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
