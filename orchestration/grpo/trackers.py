"""Experiment trackers: a run's metrics also sent to Weights & Biases or MLflow (``train.wandb``, ``train.mlflow``).

Both are off by default. A tracker receives what TensorBoard does, under the same names as the columns of
``metrics.parquet`` (``decomposer/reward/f1``, ``learner/decomposer/clip_fraction``, ``generate_s``, ``time_s``,
and ``heldout/<metric>`` with ``train.eval_every``), with step = iteration: :class:`orchestration.grpo.metrics.
MetricsLog` hands every sink the same dictionary. Non-finite values are left out, as TensorBoard leaves them out.

Both are written with the trackers' own clients, ``wandb.init`` and ``MlflowClient``, rather than Ray's
integrations (``ray.air.integrations``), which do not fit a loop that runs the algorithm itself:

- ``WandbLoggerCallback`` and ``MLflowLoggerCallback`` are Tune callbacks, fed by trials;
- outside a Tune or Train session ``setup_wandb`` is ``wandb.init`` plus an API-key lookup that calls W&B functions
  deprecated in current releases (a deprecation warning on every run of a user logged in with ``wandb login``) and
  sets ``WANDB_START_METHOD`` for the whole process;
- ``setup_mlflow`` always starts a new run and makes it the process-wide active one, while a resumed training
  continues its run by id.

The run ids are kept in ``<run_dir>/trackers.json``, so ``--resume`` continues the same W&B and MLflow runs (W&B
ignores, with a warning of its own, steps it already has from before the restored checkpoint; ``metrics.parquet``
keeps the authoritative rows). A tracker that fails during the run (a server gone) is reported once and training
goes on: the run folder holds every metric either way.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Protocol

from orchestration.config import ConfigError
from orchestration.logs import get_logger, progress_enabled
from orchestration.run_folder import write_text_atomic

TRACKERS_FILE = "trackers.json"
# train.<key>: (module to import, what to install)
PACKAGES = {"wandb": ("wandb", "wandb"), "mlflow": ("mlflow", "mlflow")}
MLFLOW_PARAM_CHARS = 500  # the smallest limit of MLflow servers still in use (newer ones take 6000)

logger = get_logger("train")


class Tracker(Protocol):
    name: str
    run_id: str

    def log(self, metrics: dict[str, float], step: int) -> None: ...

    def close(self, status: str) -> None: ...


def check_trackers(section: Any) -> None:
    """ConfigError naming the ``pip install`` to run for every tracker that ``section`` turns on whose package is
    not installed. Called before anything slow starts (SFT, the held-out evaluation, Ray)."""
    for key, (module, package) in PACKAGES.items():
        if getattr(section, key) is None:
            continue
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(
                f"train.{key} is set, but the {package} package is not installed ({err}); install it with "
                f"`pip install {package}` (or `pip install 'editrl[trackers]'`), or remove train.{key}") from None


def finite(metrics: dict[str, float]) -> dict[str, float]:
    """The entries that are finite numbers (a rate over no episodes is NaN; TensorBoard and the trackers skip it).

    >>> finite({"a": 1.0, "b": float("nan"), "c": float("inf")})
    {'a': 1.0}
    """
    return {key: float(value) for key, value in metrics.items() if math.isfinite(value)}


def flat_params(tree: Any, prefix: str = "") -> dict[str, str]:
    """A nested config as flat ``{"train.lr": "0.0001"}`` strings (MLflow parameters), each cut to
    :data:`MLFLOW_PARAM_CHARS`.

    >>> flat_params({"train": {"lr": 1e-4, "tags": ["a"]}, "name": "x", "empty": {}})
    {'train.lr': '0.0001', 'train.tags': "['a']", 'name': 'x', 'empty': '{}'}
    """
    if isinstance(tree, dict) and tree:
        out: dict[str, str] = {}
        for key, value in tree.items():
            out.update(flat_params(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): str(tree)[:MLFLOW_PARAM_CHARS]}


class WandbRun:
    """One W&B run (see the module docstring)."""

    name = "wandb"

    def __init__(self, spec: Any, run_dir: Path, config: dict[str, Any], run_id: str | None) -> None:
        import wandb

        folder = Path(spec.dir) if spec.dir else run_dir
        folder.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id or uuid.uuid4().hex[:16]
        settings: dict[str, Any] = {"silent": not progress_enabled(logger)}  # W&B's banner lines: none under --quiet
        if spec.api_key_file:
            settings["api_key"] = Path(spec.api_key_file).expanduser().read_text().splitlines()[0].strip()
        try:
            self.run = wandb.init(
                id=self.run_id, name=spec.name or run_dir.name, resume="allow",  # continues that run, or starts it
                project=spec.project or os.environ.get("WANDB_PROJECT") or "editrl", entity=spec.entity,
                group=spec.group, tags=spec.tags or None, dir=str(folder), config=config,
                settings=wandb.Settings(**settings),
            )
        except wandb.errors.Error as err:  # no API key, no network, a project it may not write to: one line
            raise ConfigError(f"train.wandb: W&B could not start the run ({type(err).__name__}: {err}); log in "
                              "(WANDB_API_KEY, `wandb login` or train.wandb.api_key_file), or set WANDB_MODE=offline to "
                              "write the run locally and `wandb sync` it later") from None

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def close(self, status: str) -> None:
        self.run.finish(exit_code=0 if status == "finished" else 1)


class MLflowRun:
    """One MLflow run (see the module docstring)."""

    name = "mlflow"

    def __init__(self, spec: Any, run_dir: Path, config: dict[str, Any], run_id: str | None) -> None:
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        try:  # the store is opened here: a URI it cannot use is one line before any training, not a traceback
            self.client = MlflowClient(tracking_uri=spec.tracking_uri)
            if run_id is not None and self._continue(run_id):
                return
            experiment = self.client.get_experiment_by_name(spec.experiment)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(spec.experiment)
        except (MlflowException, ImportError) as err:
            where = (repr(spec.tracking_uri) if spec.tracking_uri
                     else "MLflow's default (MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise ConfigError(
                f"train.mlflow: MLflow cannot use the tracking store {where} ({type(err).__name__}: {first_line}); set "
                "train.mlflow.tracking_uri to a server (http://HOST:5000), a database (sqlite:///PATH, which needs the "
                "full `pip install mlflow`) or a folder (file:///PATH, with MLFLOW_ALLOW_FILE_STORE=true)") from None
        tags = {"editrl.run_dir": str(run_dir.resolve()), **spec.tags}
        self.run_id = self.client.create_run(experiment_id, run_name=spec.run_name or run_dir.name, tags=tags).info.run_id
        params = [Param(key, value) for key, value in flat_params(config).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters per batch
            self.client.log_batch(self.run_id, params=params[i:i + 100])

    def _continue(self, run_id: str) -> bool:
        """Reopen the run a resumed training started; False (with a warning) when the store does not have it."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.update_run(run_id, status="RUNNING")
        except MlflowException as err:
            logger.warning(f"mlflow: cannot continue run {run_id} ({err}); starting a new MLflow run")
            return False
        self.run_id = run_id
        return True

    def log(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        batch = [Metric(key, value, stamp, step) for key, value in metrics.items()]
        for i in range(0, len(batch), 1000):  # and at most 1000 metrics
            self.client.log_batch(self.run_id, metrics=batch[i:i + 1000])

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status={"finished": "FINISHED", "killed": "KILLED"}.get(status, "FAILED"))


OPENERS: dict[str, Callable[..., Tracker]] = {"wandb": WandbRun, "mlflow": MLflowRun}


def open_trackers(section: Any, run_dir: Path, config: dict[str, Any], *, resume: bool,
                  log: Callable[[str], None] | None = None) -> list[Tracker]:
    """The trackers ``section`` turns on, each with its run open; ``config`` (the resolved pipeline) is logged as
    the run's configuration. With ``resume``, each continues the run recorded in ``trackers.json``."""
    check_trackers(section)
    wanted = [key for key in OPENERS if getattr(section, key) is not None]
    if not wanted:
        return []
    path = run_dir / TRACKERS_FILE
    ids: dict[str, str] = {}
    if resume and path.is_file():
        try:
            ids = dict(json.loads(path.read_text()))
        except ValueError as err:
            logger.warning(f"{path} is not readable ({err}); starting new tracker runs")
    opened: list[Tracker] = []
    try:
        for key in wanted:
            tracker = OPENERS[key](getattr(section, key), run_dir, config, ids.get(key))
            opened.append(tracker)
            ids[key] = tracker.run_id
            (log or logger.info)(f"{key}: logging metrics to run {tracker.run_id}")
    except BaseException:
        close_trackers(opened, "failed")
        raise
    write_text_atomic(path, json.dumps(ids, indent=1))
    return opened


def close_trackers(trackers: list[Tracker], status: str, log: Callable[[str], None] | None = None) -> None:
    """End each tracker's run as ``status`` ("finished", "failed" or "killed"); a failure to do so is a warning."""
    for tracker in trackers:
        try:
            tracker.close(status)
        except Exception as err:  # the run's own files are complete; a tracker that cannot end is no reason to fail
            message = f"{tracker.name}: could not end run {tracker.run_id} ({err})"
            if log is None:
                logger.warning(message)
            else:
                log(f"warning: {message}")
