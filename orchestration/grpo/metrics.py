"""Per-iteration metrics of a GRPO run: TensorBoard events, a Parquet log, a Parquet sample of rollouts, progress.

Files under the run folder:

- ``tb/``: TensorBoard events (tensorboardX), one scalar per metric, step = iteration;
- ``metrics.parquet``: one row per iteration (``iteration``, ``time_s`` and every metric, flat names such as
  ``decomposer/reward/f1``, ``learner/decomposer/clip_fraction``, ``generate_s``);
- ``rollouts.parquet``: a few rollouts per iteration and agent (prompt, completion, total and per-term rewards,
  advantage).

Rows reach each Parquet file through a journal next to it (``metrics.journal.jsonl``, ``rollouts.journal.jsonl``)
that is folded in on a geometric schedule and at close (see :mod:`orchestration.grpo.parquet_log`): the files are
always readable, but during a run they may lag the journal; :func:`orchestration.grpo.parquet_log.read_rows` reads
both. A row without some metric (iteration 1 with no update has no ``learner/*``) gets null there. On resume, rows
after the restored iteration are dropped and the logs continue.

With ``train.wandb`` / ``train.mlflow``, the same dictionary TensorBoard gets (plus ``time_s``) goes to each tracker
(:mod:`orchestration.grpo.trackers`), so the names match the Parquet columns everywhere.

Progress (:class:`Progress`) goes to stderr: a tqdm bar on a terminal, a line per iteration through the
``editrl.train`` logger otherwise.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from orchestration.grpo.parquet_log import ParquetLog
from orchestration.logs import get_logger, progress_bar_wanted

logger = get_logger("train")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as ``{"a/b/c": float}``.

    >>> flatten({"a": {"b": 1, "c": "x"}, "d": 2.5})
    {'a/b': 1.0, 'd': 2.5}
    """
    out: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "/"))
        else:
            try:
                out[name] = float(value)
            except (TypeError, ValueError):
                continue
    return out


def iteration_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The metrics worth keeping from one ``algo.train()`` result: GRPO's own and the learner's per-module ones."""
    metrics = dict(flatten(result.get("grpo", {})))
    for module, values in (result.get("learners") or {}).items():
        if module.startswith("__") or not isinstance(values, dict):
            continue
        for key in ("policy_loss", "clip_fraction", "ratio_mean", "entropy", "kl_old", "kl_ref", "total_loss"):
            if key in values:
                metrics[f"learner/{module}/{key}"] = float(values[key])
    return metrics


class MetricsLog:
    """Writes the per-iteration metrics and rollout samples of one run (see the module docstring)."""

    def __init__(self, run_dir: str | Path, start_iteration: int = 0, tensorboard: bool = True,
                 trackers: Sequence[Any] = ()) -> None:
        self.run_dir = Path(run_dir)
        self.trackers = list(trackers)  # opened and closed by the caller (orchestration.grpo.trackers)
        self.failed_trackers: set[str] = set()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.run_dir / "metrics.parquet"
        self.rollouts_path = self.run_dir / "rollouts.parquet"
        self.metrics = ParquetLog(self.metrics_path, upto=start_iteration)
        self.rollouts = ParquetLog(self.rollouts_path, upto=start_iteration)
        self.writer = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            # purge_step drops events logged after the restored iteration by an interrupted run
            self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=start_iteration + 1 if start_iteration else None)

    def log(self, iteration: int, metrics: dict[str, float], rollouts: list[dict[str, Any]], time_s: float) -> None:
        row = {"iteration": int(iteration), "time_s": float(time_s), **{k: float(v) for k, v in metrics.items()}}
        self.metrics.append([row])
        self.rollouts.append([{**r, "rewards": json.dumps(r.get("rewards", {}))} for r in rollouts])
        if self.writer is not None:
            for key, value in metrics.items():
                if math.isfinite(value):
                    self.writer.add_scalar(key, value, iteration)
            self.writer.flush()
        self._track(iteration, {"time_s": float(time_s), **metrics})

    def _track(self, iteration: int, metrics: dict[str, float]) -> None:
        """The finite ``metrics`` to every tracker. One that fails is reported once (a server gone mid-run) and
        training goes on: the Parquet log and TensorBoard hold every metric."""
        values = {key: float(value) for key, value in metrics.items() if math.isfinite(value)}
        for tracker in self.trackers:
            try:
                tracker.log(values, step=int(iteration))
            except Exception as err:
                if tracker.name not in self.failed_trackers:
                    self.failed_trackers.add(tracker.name)
                    logger.warning(f"{tracker.name}: could not log iteration {iteration} ({type(err).__name__}: {err}); "
                                   f"training goes on, and {self.metrics_path.name} keeps every metric")

    def log_heldout(self, iteration: int, summary: dict[str, Any]) -> None:
        """Held-out scores judged at ``iteration`` (:func:`orchestration.grpo.evaluate.evaluate_pipeline`'s summary)
        as ``heldout/<metric>`` scalars in TensorBoard; the numbers themselves go to eval.json's curve."""
        scalars = {f"heldout/{key}": float(value) for key, value in summary.items()
                   if key not in ("episodes", "wall_s") and isinstance(value, (int, float))}
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, iteration)
            self.writer.flush()
        self._track(iteration, scalars)

    def close(self) -> None:
        self.metrics.close()
        self.rollouts.close()
        if self.writer is not None:
            self.writer.close()


class Progress:
    """One line per iteration: a tqdm bar when stderr is a terminal, plain lines through the ``editrl.train`` logger
    otherwise (job logs). On stderr, so that stdout holds only the run's results."""

    def __init__(self, total: int, initial: int = 0, enabled: bool = True, agents: list[str] | None = None) -> None:
        self.enabled = enabled
        self.agents = agents or []
        self.bar = None
        self._redirect = contextlib.ExitStack()
        if enabled and progress_bar_wanted(logger):
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self.bar = tqdm(total=total, initial=initial, unit="it", dynamic_ncols=True, file=sys.stderr)
            # the run's messages (a held-out evaluation, a checkpoint) are written above the bar, not through it
            self._redirect.enter_context(logging_redirect_tqdm(loggers=[logging.getLogger("editrl")]))

    def summary(self, metrics: dict[str, float]) -> str:
        parts = []
        for agent in self.agents:
            parts.append(f"{agent}: reward {metrics.get(f'{agent}/reward', float('nan')):.3f}")
            f1 = metrics.get(f"{agent}/f1_overall")
            if f1 is not None and math.isfinite(f1):
                parts.append(f"F1 {f1:.3f}")
            parts.append(f"zero-var {metrics.get(f'{agent}/zero_variance_share', 0.0):.2f}")
        parts.append(f"gen {metrics.get('generate_s', 0.0):.1f}s upd {metrics.get('update_s', 0.0):.1f}s "
                     f"sync {metrics.get('sync_s', 0.0) * 1000:.0f}ms {metrics.get('tokens_per_s', 0.0):.0f} tok/s")
        return " | ".join(parts)

    def update(self, iteration: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(self.summary(metrics), refresh=False)
            self.bar.update(1)
        else:
            logger.info(f"iter {iteration:4d} | {self.summary(metrics)}")

    def close(self) -> None:
        """End the bar and give the logger its handlers back; safe to call twice."""
        self._redirect.close()
        if self.bar is not None:
            self.bar.close()
