"""Scoring edited images with the registered rewards: what an editor-GRPO task is, and Canvas tasks as such tasks.

An :class:`EditorTask` is a prompt, a source image and, optionally, a function that fills reward-context fields
from an edited image (a verifier's checklist answers, the change mask). :func:`canvas_editor_task` makes one of a
Canvas task: the Canvas rule verifier answers the task's reference checklist by perceiving the edited image, and the
expected change region is where the task's ideal result differs from its source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestration.editor_grpo.config import EditorGRPOConfig

__all__ = ["EditorTask", "canvas_editor_task", "score_image"]


@dataclass
class EditorTask:
    """One prompt and source image to sample a group for.

    Attributes:
        prompt: the instruction given to the editor.
        image: the PIL source image.
        context: ``edited PIL image -> {RewardContext field: value}`` for rewards that need more than the images.
    """

    prompt: str
    image: Any
    context: Callable[[Any], dict[str, Any]] | None = field(default=None)


def score_image(task: EditorTask, edited: Any, config: EditorGRPOConfig) -> float:
    """The weighted sum of ``config.rewards`` for one edited image of ``task``."""
    from rewards import get_reward
    from rewards.image_edit import ImageRewardContext

    source = np.asarray(task.image.convert("RGB"))
    edited_rgb = edited.convert("RGB")
    if edited_rgb.size != task.image.size:
        edited_rgb = edited_rgb.resize(task.image.size)
    fields: dict[str, Any] = {"source_image": source, "edited_image": np.asarray(edited_rgb),
                              "target_colour": config.target_colour, "colour_tolerance": config.colour_tolerance,
                              "soft_colour": config.soft_colour, "preservation_weight": config.preservation_weight}
    if task.context is not None:
        fields.update(task.context(edited_rgb))
    ctx = ImageRewardContext(**fields)
    return float(sum(term.weight * get_reward(term.name)(ctx) for term in config.rewards))


def canvas_editor_task(task: Any, *, verifier: Any | None = None) -> EditorTask:
    """An :class:`EditorTask` of a Canvas ``EditTask``: prompt = its instruction; the context answers its checklist.

    Args:
        task: an ``envs.task.EditTask`` with a reference checklist and a target image.
        verifier: the verifier answering the checklist (default: ``CanvasVerifier()``, which perceives pixels).
    """
    from agents.base import EditResult
    from agents.verifier import CanvasVerifier
    from envs.editing_env import task_to_state
    from envs.image_io import encode_png, load_image

    if not task.checklist:
        raise ValueError(f"Canvas task {task.task_id} has no checklist; the verified_edit reward needs one")
    source = load_image(task.source_png).convert("RGB")
    verifier = verifier or CanvasVerifier()
    change_mask = _change_mask(source, task.target_png)

    def context(edited: Any) -> dict[str, Any]:
        state = task_to_state(task)
        state.edit = EditResult(image_png=encode_png(edited), applied=[task.instruction], skipped=[], calls=1)
        verdict = verifier.act(state)
        return {"checklist_answers": [item.answer for item in verdict.items],
                "checklist_expected": [item.expected or "yes" for item in verdict.items],
                "change_mask": change_mask}

    return EditorTask(prompt=task.instruction, image=source, context=context)


def _change_mask(source: Any, target_png: bytes | None) -> np.ndarray:
    """Where the ideal result differs from the source (all False without a target: everything is to be kept)."""
    from envs.image_io import load_image

    src = np.asarray(source, dtype=np.int16)
    if target_png is None:
        return np.zeros(src.shape[:2], dtype=bool)
    target = np.asarray(load_image(target_png).convert("RGB").resize(source.size), dtype=np.int16)
    return np.abs(src - target).max(axis=-1) > 8
