"""Before/after evaluation of trained policies: whole episodes on held-out tasks, judged against ground truth.

Every agent runs in this process with its configured settings (the packaged LM configs decode greedily), one
batched call per node, and each episode is judged by :func:`orchestration.scoring.judge_episode`: structured F1 of
the decomposition against the task's components, and the task's reference checklist answered by perceiving the
edited image ("full success" = every item passes) - the same judge as ``editrl eval`` and ``benchmarks/pipelines.py``.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from envs.task import EditTask
from orchestration.config import PipelineConfig
from orchestration.graph import build_graph
from orchestration.grpo.rollout import EpisodeRunner, LocalNode
from orchestration.pipeline import agent_kwargs
from orchestration.scoring import judge_episode

METRICS = ("f1_action", "f1_subject", "f1_target", "f1_overall", "checklist_pass", "full_success")


def held_out_tasks(n: int, seed: int = 0, size: int = 128) -> list[EditTask]:
    """``n`` test-split Canvas tasks (templates never seen in training)."""
    from envs.canvas.generator import GeneratorConfig, generate_tasks

    return list(generate_tasks(n, seed=seed, split="test", cfg=GeneratorConfig(size=size)))


def evaluate_pipeline(pipeline: PipelineConfig, tasks: Sequence[EditTask], models: dict[str, str] | None = None,
                      chunk: int = 100) -> dict[str, Any]:
    """Run ``pipeline`` on ``tasks`` (``models`` replaces agents' model paths) and judge every episode.

    Returns ``{"summary": {metric: mean, "episodes", "failed", "wall_s"}, "rows": [per-episode dict]}``.
    """
    start = time.perf_counter()
    graph = build_graph(pipeline)
    handles = {}
    for node in graph.order:
        kwargs = agent_kwargs(pipeline.agents[node], pipeline)
        if models and node in models:
            kwargs["model"] = str(models[node])
        handles[node] = LocalNode(graph.classes[node](**kwargs), chunk=chunk)
    episodes = EpisodeRunner(graph, handles).run(tasks)
    rows = []
    for e in episodes:
        judged = judge_episode(e.task, e.state if e.error is None else None)
        rows.append({"task_id": e.task.task_id, "category": e.task.category, "n_steps": e.task.n_steps, "error": e.error, **judged})
    summary: dict[str, Any] = {"episodes": len(rows), "failed": sum(r["error"] is not None for r in rows)}
    for metric in METRICS:
        values = [float(r[metric]) for r in rows if r[metric] is not None]
        summary[metric] = sum(values) / len(values) if values else None
    summary["wall_s"] = time.perf_counter() - start
    return {"summary": summary, "rows": rows}


def compact_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-task fields a before/after comparison needs (kept in ``eval.json`` so intervals can be recomputed)."""
    keep = ("task_id", "category", "n_steps", "error", *METRICS)
    return [{k: r.get(k) for k in keep} for r in rows]


def format_before_after(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]], labels: tuple[str, str]) -> str:
    """Markdown: F1, checklist pass and full success overall and by number of steps for two evaluations of the
    same tasks, then full success and F1 after minus before with paired bootstrap 95% intervals."""
    from orchestration.stats import paired_bootstrap

    if [r["task_id"] for r in before] != [r["task_id"] for r in after]:
        raise ValueError("before and after were evaluated on different tasks; a paired comparison needs the same ones")
    steps = sorted({int(r["n_steps"]) for r in before})

    def mean(rows: Sequence[dict[str, Any]], metric: str) -> str:
        values = [float(r[metric]) for r in rows if r[metric] is not None]
        return f"{sum(values) / len(values):.3f}" if values else "-"

    head = ("| variant | F1 overall | checklist pass | full success | "
            + " | ".join(f"success, {k} step{'s' if k > 1 else ''}" for k in steps) + " | failed |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, rows in zip(labels, (before, after)):
        by_steps = [mean([r for r in rows if int(r["n_steps"]) == k], "full_success") for k in steps]
        lines.append(f"| {label} | {mean(rows, 'f1_overall')} | {mean(rows, 'checklist_pass')} | {mean(rows, 'full_success')} | "
                     + " | ".join(by_steps) + f" | {sum(r['error'] is not None for r in rows)} |")
    lines.append("")
    for metric, name in (("full_success", "full success"), ("f1_overall", "F1 overall")):
        pairs = [(float(a[metric]), float(b[metric])) for a, b in zip(after, before) if a[metric] is not None and b[metric] is not None]
        if pairs:
            interval = paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs])
            lines.append(f"{name}, after - before: {interval} (paired bootstrap 95% over {len(pairs)} held-out tasks)  ")
    return "\n".join(lines)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: one row per evaluated variant, the judge's metrics as columns."""
    head = "| variant | F1 action | F1 subject | F1 target | F1 overall | checklist pass | full success | failed |"
    lines = [head, "|" + "---|" * 8]

    def fmt(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}"

    for name, summary in results.items():
        lines.append(f"| {name} | " + " | ".join(fmt(summary.get(m)) for m in METRICS) + f" | {summary.get('failed', 0)} |")
    return "\n".join(lines)


#: The reasoning categories of Canvas tasks that need more than reading the request: where a planner must win.
INDIRECT_CATEGORIES = ("knowledge", "spatial", "superlative", "attribute", "logic")


def paired_by_category(later: Sequence[dict[str, Any]], earlier: Sequence[dict[str, Any]], metric: str = "full_success",
                       categories: Sequence[str] = INDIRECT_CATEGORIES) -> dict[str, Any]:
    """``metric`` of ``later`` minus ``earlier`` (per-task rows of :func:`evaluate_pipeline` on the same tasks),
    overall and within each of ``categories`` that the tasks have, as paired bootstrap 95% intervals
    (:class:`orchestration.stats.Interval`)."""
    from orchestration.stats import paired_bootstrap

    if [r["task_id"] for r in later] != [r["task_id"] for r in earlier]:
        raise ValueError("the two rows were judged on different tasks; a paired comparison needs the same ones")
    out = {"overall": paired_bootstrap([float(r[metric]) for r in later], [float(r[metric]) for r in earlier])}
    for category in categories:
        pairs = [(float(a[metric]), float(b[metric])) for a, b in zip(later, earlier) if a["category"] == category]
        if pairs:
            out[category] = paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs])
    return out


def format_category_table(per_task: dict[str, Sequence[dict[str, Any]]]) -> str:
    """Markdown: per row (name -> per-task rows), full success and checklist pass overall and the count of full
    successes per reasoning category."""
    cats = sorted({r["category"] for rows in per_task.values() for r in rows})
    head = "| row | full success | checklist pass | " + " | ".join(cats) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, rows in per_task.items():
        cells = []
        for c in cats:
            members = [r for r in rows if r["category"] == c]
            cells.append(f"{sum(float(r['full_success']) for r in members):.0f}/{len(members)}")
        full = sum(float(r["full_success"]) for r in rows) / len(rows)
        passed = sum(float(r["checklist_pass"]) for r in rows) / len(rows)
        lines.append(f"| {name} | {full:.3f} | {passed:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

