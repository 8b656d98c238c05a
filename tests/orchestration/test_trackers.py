"""Experiment trackers (`train.wandb`, `train.mlflow`): off by default; the settings checked like the rest of
`train:`; a missing package is one line naming the install; each tracker gets the metrics under the names of
metrics.parquet's columns, step = iteration; a resumed run continues the same tracker run; a tracker that fails
mid-run costs a warning, not the run.

No network: W&B runs offline (`WANDB_MODE=offline`, every W&B folder under tmp_path) and MLflow writes to a local
`file://` store under tmp_path. Training is the fake of tests/orchestration/conftest.py (no Ray, no models).
"""

from __future__ import annotations

import json
import logging
import math
import sys

import pytest

from orchestration.config import ConfigError, load_config
from orchestration.grpo.config import MLflowTracker, TrainSection, WandbTracker, train_section
from orchestration.grpo.evaluate import METRICS
from orchestration.grpo.metrics import MetricsLog
from orchestration.grpo.parquet_log import read_rows
from orchestration.train import main

# What a fake algo.train() returns: GRPO's own metrics and the learner's, as iteration_metrics reads them
RESULT = {"grpo": {"decomposer": {"reward": {"f1": 0.5, "format": 1.0}, "zero_variance_share": 0.25}, "generate_s": 1.5},
          "learners": {"decomposer": {"policy_loss": 0.125, "clip_fraction": 0.0}}}
HELDOUT = {f"heldout/{name}" for name in ("failed", *METRICS)}  # the fake evaluation's summary, as TensorBoard gets it


def _train(run_dir, *args: str) -> int:
    return main(["--config", "imageedit_r1", "--run-dir", str(run_dir), "--quiet", *args])


def _parquet_names(run_dir) -> set[str]:
    rows = read_rows(run_dir / "metrics.parquet")
    return {key for row in rows for key, value in row.items() if value is not None} - {"iteration"}


def test_trackers_are_off_by_default_and_their_settings_are_documented_and_checked():
    section = TrainSection()
    assert section.wandb is None and section.mlflow is None
    for model in (WandbTracker, MLflowTracker):
        assert model.__doc__ and all(field.description for field in model.model_fields.values()), model
    assert train_section(load_config("imageedit_r1", ["train.wandb={}"])).wandb == WandbTracker()
    for override, key in (("train.wandb.projct=x", "train.wandb.projct"), ("train.mlflow.uri=x", "train.mlflow.uri")):
        with pytest.raises(ConfigError, match=rf"{key}: Extra inputs are not permitted"):
            train_section(load_config("imageedit_r1", [override]))


@pytest.mark.parametrize("key", ["wandb", "mlflow"])
@pytest.mark.parametrize("sft_first", [False, True])
def test_a_tracker_whose_package_is_missing_is_one_line_naming_the_install(tmp_path, fake_training, monkeypatch,
                                                                           capsys, key, sft_first):
    import orchestration.train as train

    monkeypatch.setitem(sys.modules, key, None)  # `import wandb` raises ImportError, as where it is not installed
    monkeypatch.setattr(train, "run_sft", lambda *a, **k: pytest.fail("the SFT ran before the tracker was checked"))
    extra = ["--sft-first", "--set", f"train.sft.out_dir={tmp_path / 'sft'}"] if sft_first else []
    assert _train(tmp_path / "run", "--iterations", "1", "--set", f"train.{key}={{}}", *extra) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"editrl: error: train.{key} is set, but the {key} package is not installed")
    assert f"`pip install {key}`" in err[0] and "editrl[trackers]" in err[0]
    assert not fake_training  # nothing started


def test_mlflow_logs_the_parquet_metric_names_and_a_resume_continues_its_run(tmp_path, fake_training, train_result,
                                                                            monkeypatch):
    pytest.importorskip("mlflow", reason="MLflow is in the dev extra (pip install -e '.[dev]')")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 opens a file:// store only when asked to
    train_result.update(RESULT)
    uri = (tmp_path / "mlruns").as_uri()
    run_dir = tmp_path / "run"
    settings = ["--set", f"train.mlflow={{tracking_uri: '{uri}', experiment: tests, tags: {{purpose: test}}}}",
                "--eval-tasks", "2", "--set", "train.eval_every=2"]
    assert _train(run_dir, "--iterations", "2", *settings) == 0
    run_id = json.loads((run_dir / "trackers.json").read_text())["mlflow"]
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert set(run.data.metrics) == _parquet_names(run_dir) | HELDOUT
    assert "decomposer/reward/f1" in run.data.metrics and "learner/decomposer/policy_loss" in run.data.metrics
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "decomposer/reward/f1")] == [(1, 0.5), (2, 0.5)]
    assert run.info.status == "FINISHED" and run.info.run_name == "run" and run.data.tags["purpose"] == "test"
    assert run.data.params["train.lr"] == "0.0001" and run.data.params["agents.decomposer.backend"] == "transformers"

    assert _train(run_dir, "--iterations", "3", "--resume", *settings) == 0
    assert json.loads((run_dir / "trackers.json").read_text())["mlflow"] == run_id
    assert [m.step for m in client.get_metric_history(run_id, "decomposer/reward/f1")] == [1, 2, 3]
    assert client.get_run(run_id).info.status == "FINISHED"
    assert len(client.search_runs([client.get_experiment_by_name("tests").experiment_id])) == 1


def test_mlflow_that_cannot_open_its_store_is_one_line_before_training(tmp_path, fake_training, capsys):
    pytest.importorskip("mlflow", reason="MLflow is in the dev extra (pip install -e '.[dev]')")
    assert _train(tmp_path / "run", "--iterations", "1", "--set", "train.mlflow={tracking_uri: 'nosuch://store'}") == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("editrl: error: train.mlflow: MLflow cannot use the tracking store 'nosuch://store'")
    assert "sqlite:///" in err[0] and "http://" in err[0]
    assert not fake_training  # before the held-out evaluation and Ray


def test_wandb_without_an_api_key_is_one_line_before_training(tmp_path, fake_training, monkeypatch, capsys):
    wandb = pytest.importorskip("wandb", reason="W&B is in the dev extra (pip install -e '.[dev]')")
    wandb.teardown()  # W&B reads its environment once per process, at its first run: start from this one
    for name in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"  # no `wandb login` and no .netrc here: W&B has no key to find
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("NETRC", str(home / ".netrc"))
    monkeypatch.setenv("HOME", str(home))
    try:
        assert _train(tmp_path / "run", "--iterations", "1", "--set", "train.wandb={}") == 2
    finally:
        wandb.teardown()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("editrl: error: train.wandb: W&B could not start the run")
    assert "WANDB_MODE=offline" in err[0] and "wandb login" in err[0]
    assert not fake_training and not (tmp_path / "run" / "trackers.json").exists()


def test_wandb_offline_logs_the_parquet_metric_names_and_a_resume_continues_its_run(tmp_path, fake_training,
                                                                                    train_result, monkeypatch):
    wandb = pytest.importorskip("wandb", reason="W&B is in the dev extra (pip install -e '.[dev]')")
    from wandb.sdk import wandb_run

    wandb.teardown()  # W&B reads its environment once per process, at its first run: start from this one

    home = tmp_path / "wandb_home"
    for name, value in {"WANDB_MODE": "offline", "WANDB_CONFIG_DIR": home / "config", "WANDB_CACHE_DIR": home / "cache",
                        "WANDB_DATA_DIR": home / "data"}.items():
        monkeypatch.setenv(name, str(value))  # nothing leaves tmp_path
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    logged: list[tuple[int, set[str]]] = []
    log = wandb_run.Run.log

    def spy(self, data, step=None, commit=None):
        logged.append((step, set(data)))
        return log(self, data, step=step, commit=commit)

    monkeypatch.setattr(wandb_run.Run, "log", spy)
    train_result.update(RESULT)
    run_dir = tmp_path / "run"
    settings = ["--set", "train.wandb={project: tests, tags: [test]}", "--eval-tasks", "2", "--set", "train.eval_every=2"]
    try:
        assert _train(run_dir, "--iterations", "2", *settings) == 0
        run_id = json.loads((run_dir / "trackers.json").read_text())["wandb"]
        names = set().union(*(keys for _, keys in logged))
        assert names == _parquet_names(run_dir) | HELDOUT
        assert [step for step, keys in logged if "decomposer/reward/f1" in keys] == [1, 2]
        assert [step for step, keys in logged if keys & HELDOUT] == [2]
        (record,) = run_dir.glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb")  # the run W&B wrote, for `wandb sync`
        assert all(name.encode() in record.read_bytes() for name in names)

        logged.clear()
        assert _train(run_dir, "--iterations", "3", "--resume", *settings) == 0
        assert json.loads((run_dir / "trackers.json").read_text())["wandb"] == run_id
        assert [step for step, keys in logged if "decomposer/reward/f1" in keys] == [3]
    finally:
        wandb.teardown()  # W&B's service process, started by the first run


class _Recorder:
    name, run_id = "recorder", "r1"

    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, float]]] = []

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.calls.append((step, metrics))


class _Gone(_Recorder):
    name = "mlflow"

    def log(self, metrics: dict[str, float], step: int) -> None:
        raise ConnectionError("tracking server unreachable")


def test_a_tracker_that_fails_mid_run_costs_one_warning_and_the_logs_go_on(tmp_path, caplog):
    recorder, gone = _Recorder(), _Gone()
    log = MetricsLog(tmp_path, tensorboard=False, trackers=[gone, recorder])
    with caplog.at_level(logging.WARNING, logger="editrl"):
        for iteration in (1, 2, 3):
            log.log(iteration, {"decomposer/reward": 0.5, "decomposer/f1_overall": math.nan}, [], time_s=float(iteration))
        log.log_heldout(3, {"episodes": 4, "f1_overall": 0.75, "wall_s": 1.0})
    log.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("mlflow: could not log iteration 1 (ConnectionError")
    assert len(read_rows(tmp_path / "metrics.parquet")) == 3
    # the others still get every iteration; NaN is left out, as TensorBoard leaves it out
    assert recorder.calls == [(1, {"time_s": 1.0, "decomposer/reward": 0.5}), (2, {"time_s": 2.0, "decomposer/reward": 0.5}),
                              (3, {"time_s": 3.0, "decomposer/reward": 0.5}), (3, {"heldout/f1_overall": 0.75})]
