"""Checklist items as machine-checkable yes/no questions about a scene.

Each item has a human question, the expected answer, and a `check`: a small JSON-able spec that can be evaluated
on any list of objects with `shape, color, size, x, y` (ground-truth scene objects or perceived ones). The expected
answer is *computed* by evaluating the check on the target scene, so question and answer can never disagree; the
Canvas verifier evaluates the same check on what it perceives in the edited image.

Check kinds:
- `present`: an object with the given attributes has its centre within `tol` of (x, y)  -> yes/no
             (`"negate": true` flips the answer: "has the red circle been removed?")
- `background`: the background is `value`                                                -> yes/no
- `count`: exactly `value` objects                                                        -> yes/no
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Protocol, Sequence

#: Centre tolerance for `present` checks (fraction of width): 2x perception's worst-case error, far below the
#: distance between two region anchors (1/3), so a moved object never passes for the unmoved one.
POSITION_TOL = 0.06


class ObjectLike(Protocol):
    shape: str
    color: str
    size: str
    x: float
    y: float


def present_check(shape: str, color: str, size: str, x: float, y: float, tol: float = POSITION_TOL, negate: bool = False) -> dict[str, Any]:
    return {"kind": "present", "shape": shape, "color": color, "size": size, "x": round(x, 4), "y": round(y, 4), "tol": tol, "negate": negate}


def evaluate_check(check: dict[str, Any], objects: Iterable[ObjectLike], background: str | None) -> str:
    """'yes' or 'no' for `check` on the given objects/background.

    >>> from envs.canvas.scene import CanvasObject
    >>> objs = [CanvasObject("circle", "red", "small", 0.5, 0.5)]
    >>> evaluate_check(present_check("circle", "red", "small", 0.52, 0.5), objs, "white")
    'yes'
    >>> evaluate_check({"kind": "count", "value": 2}, objs, "white")
    'no'
    """
    kind = check.get("kind")
    objects = list(objects)
    if kind == "present":
        hit = any(
            o.shape == check["shape"] and o.color == check["color"] and o.size == check["size"]
            and math.hypot(o.x - check["x"], o.y - check["y"]) <= check.get("tol", POSITION_TOL)
            for o in objects
        )
        return "yes" if hit != bool(check.get("negate", False)) else "no"
    if kind == "background":
        return "yes" if background == check["value"] else "no"
    if kind == "count":
        return "yes" if len(objects) == int(check["value"]) else "no"
    raise ValueError(f"unknown check kind {kind!r}; expected present, background or count")


def evaluate_checklist(checklist: Sequence[dict[str, Any]], objects: Iterable[ObjectLike], background: str | None) -> list[str]:
    objects = list(objects)
    return [evaluate_check(item["check"], objects, background) for item in checklist]
