"""The training process SIGKILLed at a random point - possibly in the middle of writing a checkpoint - and resumed.

Promises checked (issue 9): `latest` always names a complete, loadable checkpoint; `--resume` continues from it
with the same iteration counter, and the logs hold each iteration once; the unfinished folder of a killed save is
ignored and then removed.

The kill point comes from a seed printed on failure (set ``EDITRL_KILL_SEED`` to replay one, ``EDITRL_KILL_MODE``
to ``save`` or ``random`` to force where it lands).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import ray
import yaml

from orchestration.grpo.checkpoint import checkpoint_root, is_complete, latest_checkpoint, remove_leftovers

REPO = Path(__file__).resolve().parents[3]


def _launch(config_file: Path, run_dir: Path, log: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a cluster of its own (train.init_ray)
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-m", "orchestration.train", "--config", str(config_file), "--run-dir", str(run_dir), *args]
    # A session of its own, so that the whole process group (the driver and the Ray processes it started) can be
    # cleaned up after the kill without touching anything else on the machine.
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(condition, timeout_s: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"training exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout_s} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.01)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the training driver (the fault), then whatever else of its process group is left (clean-up)."""
    for kill in (os.kill, os.killpg):
        try:
            kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # already gone
            pass
        proc.wait()


@pytest.mark.parametrize("max_staleness", [0, 1])  # 1: a checkpoint is taken with the next sampling in flight
def test_sigkill_at_a_random_point_then_resume(make_pipeline, tmp_path, capsys, max_staleness):
    seed = int(os.environ.get("EDITRL_KILL_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    mode = os.environ.get("EDITRL_KILL_MODE") or rng.choice(["save", "random"])
    note = f"(EDITRL_KILL_SEED={seed} EDITRL_KILL_MODE={mode} max_staleness={max_staleness})"
    # The packaged rewards (format + F1): the subprocess cannot see the test-only toy reward.
    pipeline = make_pipeline(train={"checkpoint_every": 1, "keep_checkpoints": 2, "tasks_per_iteration": 2,
                                    "max_staleness": max_staleness})
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(pipeline.model_dump(mode="json")))
    run_dir, root = tmp_path / "run", checkpoint_root(tmp_path / "run")

    log = tmp_path / "first.log"
    proc = _launch(config_file, run_dir, log, "--iterations", "1000")
    try:
        _wait_for(lambda: latest_checkpoint(run_dir) is not None, 240, "first checkpoint", proc, log)
        if mode == "save":  # the moment a later save has created its temporary folder
            first = latest_checkpoint(run_dir).name
            _wait_for(lambda: any(p.name.startswith(".tmp_") and first not in p.name for p in root.glob(".tmp_*")),
                      120, "second save", proc, log)
        else:
            time.sleep(rng.uniform(0.0, 3.0))
    finally:
        _kill_group(proc)

    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint is not None and is_complete(checkpoint), note
    if (root / "latest").is_file():
        assert (root / "latest").read_text().strip() == checkpoint.name, note  # the pointer itself, not the fallback
    else:  # the first save was killed between its folder's rename and its pointer's write: the one whole folder
        assert [p.name for p in root.glob("iter_*")] == [checkpoint.name], note
    iteration = json.loads((checkpoint / "meta.json").read_text())["iteration"]
    assert checkpoint.name == f"iter_{iteration:06d}"
    assert all(is_complete(p) for p in root.glob("iter_*")), note  # no half checkpoint is visible
    leftovers = sorted(p.name for p in root.glob(".tmp_*"))
    if mode == "save":
        assert leftovers, note  # the kill did land mid-save
    from agents.lm.model import load_policy

    load_policy(checkpoint / "policies" / "decomposer")  # loadable, from safetensors

    # The resume runs in this process, through the same entry point as `python -m orchestration.train` (main), which
    # saves a second interpreter start on a small machine.
    from orchestration.train import main

    owns_ray = not ray.is_initialized()
    try:
        assert main(["--config", str(config_file), "--run-dir", str(run_dir), "--resume", "--iterations", str(iteration + 2)]) == 0
    finally:
        if owns_ray:
            ray.shutdown()
    assert f"resuming from {checkpoint}" in capsys.readouterr().err, note  # a message: on stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["iterations"] == iteration + 2, note
    assert latest_checkpoint(run_dir).name == f"iter_{iteration + 2:06d}"
    assert [r["iteration"] for r in pq.read_table(run_dir / "metrics.parquet").to_pylist()] == list(range(1, iteration + 3)), note
    assert not list(root.glob(".tmp_*")) and not list(root.glob(".trash_*")), note  # the killed save's folder is gone


def test_latest_falls_back_to_the_newest_complete_checkpoint(tmp_path):
    """A kill between a re-save's two renames leaves `latest` naming a missing folder; leftovers (folders and
    temporary files) are removed."""
    root = checkpoint_root(tmp_path)
    for name in ("iter_000001", "iter_000002", ".tmp_iter_000003_99", ".trash_iter_000001_98"):
        for part in ("rllib", "policies"):
            (root / name / part).mkdir(parents=True)
        (root / name / "meta.json").write_text("{}")
    (root / "iter_000002" / "meta.json").unlink()  # not complete: never chosen
    (root / ".tmp_latest_99_0a1b2c3d").write_text("iter_0")  # a `latest` write killed before its rename
    (root / "latest").write_text("iter_000004")
    assert latest_checkpoint(tmp_path).name == "iter_000001"
    (root / "latest").write_text("iter_000001")
    assert latest_checkpoint(tmp_path).name == "iter_000001"
    assert sorted(remove_leftovers(root)) == [".tmp_iter_000003_99", ".tmp_latest_99_0a1b2c3d", ".trash_iter_000001_98"]
    assert sorted(p.name for p in root.iterdir()) == ["iter_000001", "iter_000002", "latest"]


def test_latest_without_a_pointer_is_the_newest_complete_checkpoint(tmp_path):
    """A kill between the first save's rename and its pointer's write leaves a whole folder and no `latest`."""
    root = checkpoint_root(tmp_path)
    assert latest_checkpoint(tmp_path) is None
    for part in ("rllib", "policies"):
        (root / "iter_000001" / part).mkdir(parents=True)
    assert latest_checkpoint(tmp_path) is None  # meta.json is written last: not whole yet
    (root / "iter_000001" / "meta.json").write_text("{}")
    assert latest_checkpoint(tmp_path).name == "iter_000001"
