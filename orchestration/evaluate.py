"""Evaluation: run episodes in parallel through the agent graph and judge every one.

Episodes are driven from a thread pool in this process; with `use_ray` every agent call goes to that node's Ray
actor pool, so K episodes in flight keep every actor busy and LM actors batch their requests. One bad episode is
recorded as failed (`error`), never the end of the run. Episodes are started only as others finish
(`iter_episodes`), so an interrupt (Ctrl-C) leaves no queue to wait for: at most K episodes are still running.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from typing import Any, Callable, Iterable, Iterator, Sequence

from agents.base import EpisodeState
from envs.editing_env import task_to_state
from envs.task import EditTask
from orchestration.config import PipelineConfig, check_model_paths
from orchestration.pipeline import EpisodeResult, Pipeline
from orchestration.scoring import judge_episode
from orchestration.understanding import edit_understood, reported_score

#: Judged metrics, plus `score`: the pipeline's own verifier score (what real benchmarks without checks report).
METRICS = ("f1_action", "f1_subject", "f1_target", "f1_overall", "checklist_pass", "full_success", "score")


def trace_of(state: EpisodeState) -> str:
    """The episode trace as JSON, image bytes left out (the edited image has its own column)."""
    data = state.model_dump(mode="json", exclude={"source_png": True, "edit": {"image_png"}, "checklist": True,
                                                  "history": {"__all__": {"edit": {"image_png"}}}})
    return json.dumps(data)


def episode_row(task: EditTask, result: EpisodeResult | None, error: str | None = None) -> dict[str, Any]:
    state = result.state if result is not None else None
    err = error or (result.error if result is not None else None)
    row: dict[str, Any] = {
        "task_id": task.task_id, "category": task.category, "n_steps": task.n_steps, "instruction": task.instruction,
        "ok": err is None, "error": err,
        "score": reported_score(state) if state is not None else None,
        "understood": edit_understood(state) if state is not None and err is None else None,
        "rounds": state.round + 1 if state is not None else 0,
        "timings_ms": json.dumps(result.timings_ms if result is not None else {}),
        "edited_png": state.edit.image_png if state is not None and state.edit is not None else None,
        "trace": trace_of(state) if state is not None else None,
    }
    row.update(judge_episode(task, state if err is None else None))
    return row


def unreadable_row(where: str, error: str) -> dict[str, Any]:
    """A dataset row the loader could not read (`envs.datasets.RowError`), as a failed episode row with the same
    columns as `episode_row`: results record it instead of losing it, and `summarize` counts it as failed."""
    row: dict[str, Any] = {"task_id": where, "category": "(unreadable)", "n_steps": 0, "instruction": None, "ok": False,
                           "error": error, "score": None, "understood": None, "rounds": 0, "timings_ms": "{}", "edited_png": None, "trace": None}
    row.update({m: None for m in METRICS if m != "score"})
    return row


def _episode(pipeline: Pipeline, task: EditTask) -> dict[str, Any]:
    try:
        return episode_row(task, pipeline.run(task_to_state(task)))
    except Exception as err:  # the judge or the state copy may still fail on odd data: record, go on
        return episode_row(task, None, error=f"{type(err).__name__}: {err}")


def iter_episodes(pipeline: Pipeline, tasks: Sequence[EditTask], workers: int = 2) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(index into tasks, row)`` for each episode as it finishes, with at most ``workers`` episodes in flight.

    An episode starts only when another finishes, rather than all being queued at once, so that an interrupt has
    nothing queued to wait for: when the loop that consumes this iterator ends early (Ctrl-C, an error, ``close()``),
    no further episode starts, and those still running finish in their threads with their rows dropped.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    todo = iter(enumerate(tasks))
    running: dict[Future, int] = {}

    def start(n: int) -> None:
        for i, task in itertools.islice(todo, n):
            running[pool.submit(_episode, pipeline, task)] = i

    try:
        start(max(1, workers))
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            finished = [(running.pop(future), future.result()) for future in done]
            start(len(finished))
            yield from finished
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def run_episodes(pipeline: Pipeline, tasks: Sequence[EditTask], workers: int = 2,
                 on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Every task's row, in the order of ``tasks``; ``on_row`` sees each as it finishes."""
    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    with closing(iter_episodes(pipeline, tasks, workers)) as finished:  # an exception in on_row starts no more
        for i, row in finished:
            rows[i] = row
            if on_row is not None:
                on_row(row)
    return [r for r in rows if r is not None]


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return round(sum(vals) / len(vals), 4) if vals else None


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Overall metrics and breakdowns by category and by number of steps."""
    def block(subset: Sequence[dict[str, Any]]) -> dict[str, Any]:
        out = {"episodes": len(subset), "failed": sum(not r["ok"] for r in subset)}
        out.update({m: _mean(r[m] for r in subset) for m in METRICS})
        return out

    by_category: dict[str, list] = defaultdict(list)
    by_steps: dict[int, list] = defaultdict(list)
    for r in rows:
        by_category[r["category"]].append(r)
        by_steps[r["n_steps"]].append(r)
    return {"overall": block(rows),
            "by_category": {k: block(v) for k, v in sorted(by_category.items())},
            "by_steps": {str(k): block(v) for k, v in sorted(by_steps.items())}}


def format_table(summary: dict[str, Any]) -> str:
    header = f"{'group':22} {'n':>5} {'fail':>5} {'F1 act':>7} {'F1 subj':>7} {'F1 tgt':>7} {'F1 all':>7} {'check':>7} {'success':>8} {'verifier':>8}"
    lines = [header, "-" * len(header)]

    def fmt(v: Any) -> str:
        return "   -   " if v is None else f"{v:7.3f}"

    def line(name: str, b: dict[str, Any]) -> str:
        return (f"{name:22} {b['episodes']:5d} {b['failed']:5d} {fmt(b['f1_action'])} {fmt(b['f1_subject'])} "
                f"{fmt(b['f1_target'])} {fmt(b['f1_overall'])} {fmt(b['checklist_pass'])} {fmt(b['full_success'])} {fmt(b['score'])} ")

    lines.append(line("overall", summary["overall"]))
    for k, b in summary["by_category"].items():
        lines.append(line(f"category={k}", b))
    for k, b in summary["by_steps"].items():
        lines.append(line(f"steps={k}", b))
    return "\n".join(lines)


def make_pipeline(config: PipelineConfig, use_ray: bool) -> Pipeline:
    check_model_paths(config)  # a missing checkpoint is one clear line, before Ray or any agent starts
    if not use_ray:
        return Pipeline.local(config)
    import ray

    from orchestration.actors import ray_pipeline

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    return ray_pipeline(config)
