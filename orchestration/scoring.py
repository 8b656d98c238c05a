"""Scoring a finished episode against its task's ground truth: the judge used by `editrl eval` and benchmarks.

The judge is independent of the pipeline's own verifier: it perceives the edited image and answers the task's
reference checklist (`envs.canvas.checks`), and it scores the decomposition with structured F1 when the pipeline
has a decomposer. A pipeline without a verifier is judged the same way, so rows are comparable across configs.
"""

from __future__ import annotations

from typing import Any

from agents.base import EpisodeState
from agents.canvas_paint import perceive_png
from envs.canvas.checks import evaluate_check
from envs.task import EditTask
from rewards import structured_f1


def judge_episode(task: EditTask, state: EpisodeState | None) -> dict[str, Any]:
    """Metrics for one episode: f1_* (None without a decomposition), checklist_pass and full_success (None when
    the task has no machine-checkable checklist, as real benchmarks do: their rows are judged by the pipeline's
    verifier score instead, never counted as failures)."""
    items = [item for item in task.checklist if item.check is not None]
    row: dict[str, Any] = {"f1_action": None, "f1_subject": None, "f1_target": None, "f1_overall": None,
                           "checklist_pass": 0.0 if items else None, "full_success": False if items else None}
    if state is None:
        return row
    if state.decomposition is not None and task.components:
        f1 = structured_f1([c.model_dump() for c in state.decomposition.components], task.components_as_dicts())
        row.update(f1_action=f1.action, f1_subject=f1.subject, f1_target=f1.target, f1_overall=f1.overall)
    if state.edit is not None and items:
        seen = perceive_png(state.edit.image_png)  # the verifier's perception of it, when it ran in this process
        passed = [evaluate_check(item.check, seen.objects, seen.background) == item.expected for item in items]
        row["checklist_pass"] = sum(passed) / len(passed)
        row["full_success"] = all(passed)
    return row
