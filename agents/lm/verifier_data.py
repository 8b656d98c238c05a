"""Canvas data for the reasoning verifier: real edited images of a task, correct and incorrect, judged by ground truth.

For one generated task, :func:`candidate_edits` makes edited images the way a pipeline could get them wrong:

- ``target``: the ideal result (the generator's target image);
- ``source``: nothing done (the source image back);
- ``drop<k>``: every component but the k-th carried out (a skipped sub-request);
- ``wrong<k>``: the k-th component carried out with another target value (a misread colour, region, size, ...);
- ``editor``: the Canvas pixel editor on the raw instruction (it does well on simple requests, badly on long or
  indirect ones, like a diffusion editor);
- ``editor_explicit``: the same editor on the explicit instruction (a perfect planner in front of it; the editor's
  cap on requests per call still drops steps of long tasks).

The perturbed scenes are executed on the task's source scene and rendered by the world's renderer; the editor's
work on the source pixels. Every candidate is then *judged* like every episode of the project
(``orchestration.scoring``): its image is perceived and the task's reference checklist answered on it; the judge's
score is the share of items passed. So labels never come from the perturbation itself, only from the pixels.

:func:`sft_examples` turns candidates into verifier SFT examples (the reward trajectory of
:mod:`agents.lm.verifier_prompts`) and :func:`preference_pairs` into pairs of edits of one task where the judge
prefers one (:class:`envs.preferences.PreferencePair`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from envs.preferences import PreferencePair
from envs.task import EditTask

__all__ = ["CANDIDATE_KINDS", "Candidate", "judge_png", "candidate_edits", "sft_examples", "preference_pairs"]

#: Every kind of candidate :func:`candidate_edits` can make (``drop`` and ``wrong`` once per component).
CANDIDATE_KINDS: tuple[str, ...] = ("target", "source", "drop", "wrong", "editor", "editor_explicit")


@dataclass(frozen=True)
class Candidate:
    """One edited image of a task with the ground-truth judge's verdict.

    Attributes:
        kind: how it was made (:data:`CANDIDATE_KINDS`, with the component index for ``drop`` / ``wrong``).
        png: the edited image, PNG-encoded.
        judge: share of the task's reference checklist items that pass on the perceived image.
        seen: the perception of the image (``envs.canvas.perception.Perception``).
    """

    kind: str
    png: bytes
    judge: float
    seen: Any

    @property
    def full_success(self) -> bool:
        return self.judge == 1.0


def judge_png(task: EditTask, png: bytes) -> tuple[float, Any]:
    """The judge's score of an edited image (share of reference checklist items passed) and its perception."""
    from agents.canvas_paint import perceive_png
    from envs.canvas.checks import evaluate_check

    items = [item for item in task.checklist if item.check is not None]
    if not items:
        raise ValueError(f"task {task.task_id} has no machine-checkable checklist; verifier data needs Canvas tasks")
    seen = perceive_png(png)
    passed = [evaluate_check(item.check, seen.objects, seen.background) == item.expected for item in items]
    return sum(passed) / len(passed), seen


def _wrong_target(component: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    from envs.canvas.vocab import BACKGROUNDS, COLORS, REGIONS, SHAPES, SIZES

    values = {"recolor": COLORS, "move": REGIONS, "add": REGIONS, "resize": SIZES, "reshape": SHAPES,
              "background": BACKGROUNDS}.get(component["action"])
    if values is None or not component["target"]:
        return None
    others = [v for v in values if v != component["target"][0]]
    return {**component, "target": [rng.choice(others)]}


def _perturbed_scenes(task: EditTask, rng: random.Random) -> list[tuple[str, Any]]:
    """``(kind, scene)`` for every drop / wrong-target perturbation that executes."""
    from envs.canvas.execute import EditError, execute
    from envs.canvas.scene import Scene

    source = Scene.from_json(task.source_scene)
    comps = task.components_as_dicts()
    order = list(task.order) or list(range(len(comps)))
    out = []
    for k in range(len(comps)):
        variants = [(f"drop{k}", None)]
        wrong = _wrong_target(comps[k], rng)
        if wrong is not None:
            variants.append((f"wrong{k}", wrong))
        for kind, replacement in variants:
            steps = [comps[i] if i != k else replacement for i in order]
            try:
                out.append((kind, execute(source, [c for c in steps if c is not None])))
            except EditError:
                continue  # a later step needed the one removed or changed: no such image
    return out


def candidate_edits(task: EditTask, *, seed: int = 0, kinds: Sequence[str] = CANDIDATE_KINDS) -> list[Candidate]:
    """Edited images of ``task`` made in each of ``kinds`` (module docstring), each judged by ground truth.

    Raises ``ValueError`` for a task without a scene or a machine-checkable checklist (only Canvas tasks have them)
    or an unknown kind.
    """
    unknown = [k for k in kinds if k not in CANDIDATE_KINDS]
    if unknown:
        raise ValueError(f"unknown candidate kinds {unknown}; use some of {', '.join(CANDIDATE_KINDS)}")
    if not task.source_scene or not task.target_png:
        raise ValueError(f"task {task.task_id} has no source scene or target image; verifier data needs Canvas tasks")
    from envs.canvas.render import render
    from envs.image_io import encode_png, load_image

    rng = random.Random(f"{task.task_id}:{seed}:candidates")
    size = load_image(task.source_png).size[0]
    images: list[tuple[str, bytes]] = []
    if "target" in kinds:
        images.append(("target", task.target_png))
    if "source" in kinds:
        images.append(("source", task.source_png))
    if "drop" in kinds or "wrong" in kinds:
        for kind, scene in _perturbed_scenes(task, rng):
            if kind.rstrip("0123456789") in kinds:
                images.append((kind, encode_png(render(scene, size))))
    for kind, text in (("editor", task.instruction), ("editor_explicit", task.explicit_instruction)):
        if kind in kinds and text:
            images.append((kind, _edit_with_canvas_editor(task, text)))
    out = []
    for kind, png in images:
        score, seen = judge_png(task, png)
        out.append(Candidate(kind=kind, png=png, judge=score, seen=seen))
    return out


def _edit_with_canvas_editor(task: EditTask, instruction: str) -> bytes:
    from agents.base import EpisodeState
    from agents.editor import CanvasEditor

    state = EpisodeState(task_id=task.task_id, instruction=instruction, source_png=task.source_png)
    return CanvasEditor(mode="single_pass").act(state).image_png


def sft_examples(task: EditTask, candidates: Iterable[Candidate], source_scene: str | None = None) -> list[tuple[str, str]]:
    """``(prompt, reward trajectory)`` per candidate (:mod:`agents.lm.verifier_prompts`)."""
    from agents.lm.prompts import scene_text
    from agents.lm.verifier_prompts import build_verifier_prompt, trajectory_text
    from envs.canvas.perception import describe

    source = source_scene if source_scene is not None else scene_text(task.source_png)
    return [(build_verifier_prompt(task.instruction, source, describe(c.seen)),
             trajectory_text([item.model_dump() for item in task.checklist], c.seen)) for c in candidates]


def preference_pairs(task: EditTask, candidates: Sequence[Candidate], *, max_pairs: int = 2, seed: int = 0) -> list[PreferencePair]:
    """Up to ``max_pairs`` pairs of candidates of ``task`` whose judge scores differ, the better one preferred.

    Pairs are drawn at random among all that differ, so both easy pairs (the ideal result against nothing done) and
    close ones (two partial edits) occur. Candidates with identical images are never paired.
    """
    rng = random.Random(f"{task.task_id}:{seed}:pairs")
    options = [(a, b) for i, a in enumerate(candidates) for b in candidates[i + 1:] if a.judge != b.judge and a.png != b.png]
    rng.shuffle(options)
    pairs = []
    for a, b in options[:max_pairs]:
        if rng.random() < 0.5:
            a, b = b, a  # the preferred side is not always A
        pairs.append(PreferencePair(
            pair_id=f"{task.task_id}:{a.kind}:{b.kind}", task_id=task.task_id, instruction=task.instruction,
            source_png=task.source_png, edit_a_png=a.png, edit_b_png=b.png, preferred="a" if a.judge > b.judge else "b",
            judge_a=a.judge, judge_b=b.judge, kind_a=a.kind, kind_b=b.kind,
        ))
    return pairs
