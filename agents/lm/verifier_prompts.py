"""Prompt and SFT target of the reasoning verifier (Edit-R1's reward model) on a language model.

The prompt holds what the verifier may know: the user's instruction and what perception sees in the source and in
the edited image (``envs.canvas.perception.describe``), never the generator's scenes or the reference checklist::

    task: verify
    scene: background: white; objects: small red circle at top left (0.17, 0.17)
    request: Make the circle green.
    edited: background: white; objects: small green circle at top left (0.17, 0.17)
    changes: gone small red circle at top left; new small green circle at top left

The ``changes`` line is perception's own difference of the two scenes (:func:`scene_changes`): what a verifier
must notice is there in a few words, instead of hidden in two long object lists that mostly agree (a tiny LM that
reads only the lists writes the same answers for an untouched image and for the ideal edit).

The completion is the list of principles of :mod:`rewards.principles`. Its SFT target (a *reward trajectory*) is
written from Canvas ground truth: the task's reference checklist, each item answered by evaluating its check on the
perceived edited image, with what perception saw there as the reason, plus one quality principle (did perception
find stray marks). The targets are therefore right for correct *and* incorrect edits alike.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rewards.principles import Principle, format_principles

__all__ = ["VERIFY_TASK", "QUALITY_QUESTION", "build_verifier_prompt", "check_reason", "reward_trajectory",
           "scene_changes", "trajectory_text"]

#: The first line of a verifier prompt (two tokens, like the other roles' task lines).
VERIFY_TASK = "verify"

#: The quality principle every trajectory ends with: Canvas images have no other artefact than stray blobs that
#: perception rejects as noise (an editor's incomplete erase, a clipped shape).
QUALITY_QUESTION = "Is the image free of stray marks?"

#: How far from a check's position an object still counts as "there" for the reason (twice a region's half-width
#: would reach the next region; this stays inside one).
_NEAR = 0.12


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _scene_parts(scene: str) -> tuple[str, list[str]]:
    """The background and the object phrases without coordinates of a ``describe`` text (anything else: no parts)."""
    from envs.canvas.perception import described_objects

    head = " ".join(scene.split()).partition("; objects: ")[0]
    background = head.removeprefix("background: ").strip() if head.startswith("background: ") else ""
    return background, [f"{name} at {region}" for name, region, _x, _y in described_objects(scene)]


def scene_changes(source_scene: str, edited_scene: str) -> str:
    """What differs between two perceived scenes (``describe`` texts): the background, then each object phrase
    (size, colour, shape, region) the source has more often than the edited scene (``gone``), then each the edited
    scene has more often (``new``), in the scenes' order; ``none`` when they agree.

    Coordinates are left out so that the sub-pixel jitter of a re-rendered, untouched object is no change; an object
    that moved to another region is one gone and one new.

    >>> src = "background: white; objects: small red circle at top left (0.17, 0.17); large blue star at centre (0.50, 0.50)"
    >>> scene_changes(src, "background: cream; objects: small green circle at top left (0.17, 0.17); large blue star at centre (0.51, 0.50)")
    'background white -> cream; gone small red circle at top left; new small green circle at top left'
    >>> scene_changes(src, src), scene_changes(src, "background: white; objects: none")
    ('none', 'gone small red circle at top left; gone large blue star at centre')
    """
    before_bg, before = _scene_parts(source_scene)
    after_bg, after = _scene_parts(edited_scene)
    out = [f"background {before_bg} -> {after_bg}"] if before_bg != after_bg else []
    left, right = Counter(before) - Counter(after), Counter(after) - Counter(before)
    for name, counts, order in (("gone", left, before), ("new", right, after)):
        for phrase in order:
            if counts[phrase] > 0:
                counts[phrase] -= 1
                out.append(f"{name} {phrase}")
    return "; ".join(out) if out else "none"


def build_verifier_prompt(instruction: str, source_scene: str, edited_scene: str) -> str:
    """The verifier prompt; the completion starts right after it.

    >>> print(build_verifier_prompt("Make the star red.", "background: white; objects: small blue star at top (0.50, 0.20)",
    ...                             "background: white; objects: small red star at top (0.50, 0.20)"))
    task: verify
    scene: background: white; objects: small blue star at top (0.50, 0.20)
    request: Make the star red.
    edited: background: white; objects: small red star at top (0.50, 0.20)
    changes: gone small blue star at top; new small red star at top
    <BLANKLINE>
    """
    lines = [f"task: {VERIFY_TASK}", f"scene: {_one_line(source_scene)}", f"request: {_one_line(instruction)}",
             f"edited: {_one_line(edited_scene)}", f"changes: {scene_changes(source_scene, edited_scene)}"]
    return "\n".join(lines) + "\n"


def check_reason(check: Mapping[str, Any], objects: Sequence[Any], background: str | None) -> str:
    """What perception saw that answers ``check`` (an ``envs.canvas.checks`` spec), in a few words.

    >>> from envs.canvas.scene import CanvasObject
    >>> objs = [CanvasObject("circle", "red", "small", 0.2, 0.2)]
    >>> check_reason({"kind": "present", "x": 0.21, "y": 0.2}, objs, "white"), check_reason({"kind": "count"}, objs, "white")
    ('saw small red circle', 'saw 1 shape')
    >>> check_reason({"kind": "present", "x": 0.8, "y": 0.8}, objs, "white"), check_reason({"kind": "background"}, objs, "blue")
    ('nothing there', 'background blue')
    """
    kind = check.get("kind")
    if kind == "background":
        return f"background {background}"
    if kind == "count":
        n = len(objects)
        return f"saw {n} shape" + ("" if n == 1 else "s")
    if kind == "present":
        x, y = float(check.get("x", 0.0)), float(check.get("y", 0.0))
        near = [(math.hypot(o.x - x, o.y - y), o) for o in objects]
        near = [(d, o) for d, o in near if d <= _NEAR]
        if not near:
            return "nothing there"
        obj = min(near, key=lambda pair: pair[0])[1]
        return f"saw {obj.size} {obj.color} {obj.shape}"
    return ""


def reward_trajectory(checklist: Iterable[Mapping[str, Any]], seen: Any) -> list[Principle]:
    """The principles a perfect verifier writes for an edited image: each reference checklist item that has a
    machine check, answered on ``seen`` (an ``envs.canvas.perception.Perception`` of the edited image), then the
    quality principle. Items without a check are left out: nothing can say their true answer.

    ``checklist`` items are mappings or objects with ``question``, ``expected``, ``group`` and ``check``.
    """
    from envs.canvas.checks import evaluate_check

    out: list[Principle] = []
    for item in checklist:
        get = item.get if isinstance(item, Mapping) else (lambda key, default=None, _i=item: getattr(_i, key, default))
        check = get("check")
        if not check:
            continue
        answer = evaluate_check(check, seen.objects, seen.background)
        group = get("group", "follow")
        out.append(Principle(kind=group if group in ("keep", "follow", "quality") else "follow", question=get("question"),
                             answer=answer, expected=get("expected", "yes"),
                             reason=check_reason(check, seen.objects, seen.background)))
    stray = int(getattr(seen, "spurious", 0))
    out.append(Principle("quality", QUALITY_QUESTION, "yes" if stray == 0 else "no",
                         reason="none seen" if stray == 0 else f"{stray} stray mark" + ("" if stray == 1 else "s")))
    return out


def trajectory_text(checklist: Iterable[Mapping[str, Any]], seen: Any) -> str:
    """:func:`reward_trajectory` written as a completion (:func:`rewards.principles.format_principles`)."""
    return format_principles(reward_trajectory(checklist, seen))
