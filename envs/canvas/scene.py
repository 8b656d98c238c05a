"""Scenes: objects on a background, their JSON form, and the geometry rules every valid scene obeys.

A scene is immutable; edits return new scenes (see `envs.canvas.execute`). Objects carry an `oid` so that the
generator can follow one object through several edits (the checklist asks about *that* object afterwards); the oid
is bookkeeping only and plays no part in rendering or perception.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from envs.canvas.vocab import BACKGROUNDS, BORDER_MARGIN, COLORS, MIN_GAP, SHAPES, SIZES, region_of

MAX_OBJECTS = 6


@dataclass(frozen=True)
class CanvasObject:
    """One shape on the canvas. `x`, `y` are the centre as fractions (0..1) of the width and height."""

    shape: str
    color: str
    size: str
    x: float
    y: float
    oid: int = 0

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; use one of {', '.join(SHAPES)}")
        if self.color not in COLORS:
            raise ValueError(f"unknown colour {self.color!r}; use one of {', '.join(COLORS)}")
        if self.size not in SIZES:
            raise ValueError(f"unknown size {self.size!r}; use one of {', '.join(SIZES)}")
        if not (0.0 <= self.x <= 1.0 and 0.0 <= self.y <= 1.0):
            raise ValueError(f"object centre ({self.x}, {self.y}) must lie in [0, 1] x [0, 1]")

    @property
    def radius(self) -> float:
        """Circumradius as a fraction of the width."""
        return SIZES[self.size]

    @property
    def region(self) -> str:
        return region_of(self.x, self.y)

    def with_(self, **changes: Any) -> "CanvasObject":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.oid,
            "shape": self.shape,
            "color": self.color,
            "size": self.size,
            "x": round(self.x, 4),
            "y": round(self.y, 4),
        }


@dataclass(frozen=True)
class Scene:
    """A background plus 0..MAX_OBJECTS objects (0 only transiently, e.g. after removing the last one)."""

    background: str
    objects: tuple[CanvasObject, ...] = field(default_factory=tuple)
    #: Lowest id a new object may take. Removing an object raises it past the removed id, so an object added later
    #: never inherits the id of one that was removed (the checklist follows objects by id). Not serialised.
    id_floor: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.background not in BACKGROUNDS:
            raise ValueError(f"unknown background {self.background!r}; use one of {', '.join(BACKGROUNDS)}")

    # -- queries -----------------------------------------------------------------------------------------------
    def by_oid(self, oid: int) -> CanvasObject:
        for obj in self.objects:
            if obj.oid == oid:
                return obj
        raise KeyError(f"no object with id {oid}")

    def has_oid(self, oid: int) -> bool:
        return any(obj.oid == oid for obj in self.objects)

    def next_oid(self) -> int:
        return max(max((o.oid for o in self.objects), default=-1) + 1, self.id_floor)

    def is_valid(self) -> bool:
        """Objects inside the canvas, at most MAX_OBJECTS, and no two closer than MIN_GAP."""
        return len(self.objects) <= MAX_OBJECTS and all(fits(o, [p for p in self.objects if p.oid != o.oid]) for o in self.objects)

    # -- edits -------------------------------------------------------------------------------------------------
    def replace_object(self, obj: CanvasObject) -> "Scene":
        return replace(self, objects=tuple(obj if o.oid == obj.oid else o for o in self.objects))

    def without(self, oid: int) -> "Scene":
        return replace(self, objects=tuple(o for o in self.objects if o.oid != oid), id_floor=max(self.id_floor, self.next_oid()))

    def with_object(self, obj: CanvasObject) -> "Scene":
        return replace(self, objects=self.objects + (obj,))

    def with_background(self, background: str) -> "Scene":
        return replace(self, background=background)

    # -- serialisation -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"background": self.background, "objects": [o.to_dict() for o in self.objects]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Scene":
        if not isinstance(data, dict) or "background" not in data or "objects" not in data:
            raise ValueError("a scene must be an object with 'background' and 'objects'")
        objects = []
        for i, o in enumerate(data["objects"]):
            try:
                objects.append(
                    CanvasObject(
                        shape=o["shape"], color=o["color"], size=o["size"],
                        x=float(o["x"]), y=float(o["y"]), oid=int(o.get("id", i)),
                    )
                )
            except KeyError as err:
                raise ValueError(f"scene object {i} lacks field {err.args[0]!r}") from None
        return cls(background=data["background"], objects=tuple(objects))

    @classmethod
    def from_json(cls, text: str) -> "Scene":
        return cls.from_dict(json.loads(text))

    def same_content(self, other: "Scene", tol: float = 1e-6) -> bool:
        """Equal up to object order and oids: same background and a one-to-one match of objects whose attributes
        agree and whose centres differ by at most `tol` per coordinate."""
        if self.background != other.background or len(self.objects) != len(other.objects):
            return False
        unused = list(other.objects)
        for obj in self.objects:
            match = next((o for o in unused if (o.shape, o.color, o.size) == (obj.shape, obj.color, obj.size)
                          and abs(o.x - obj.x) <= tol and abs(o.y - obj.y) <= tol), None)
            if match is None:
                return False
            unused.remove(match)
        return True


def fits(obj: CanvasObject, others: Iterable[CanvasObject], slack: float = 0.0) -> bool:
    """True when `obj` lies inside the canvas margin and keeps MIN_GAP from every object in `others`.

    Circumradii are used, so the test is conservative for every shape. `slack` (fraction of the width) loosens both
    limits: agents that simulate edits on a *perceived* scene use it to absorb perception's sub-pixel error.
    """
    r = obj.radius
    lo, hi = r + BORDER_MARGIN - slack, 1 - r - BORDER_MARGIN + slack
    if not (lo <= obj.x <= hi and lo <= obj.y <= hi):
        return False
    for other in others:
        if math.hypot(obj.x - other.x, obj.y - other.y) < r + other.radius + MIN_GAP - slack:
            return False
    return True


def random_object(rng: random.Random, others: list[CanvasObject], oid: int, tries: int = 200, **fixed: Any) -> CanvasObject | None:
    """A random object that fits among `others`, or None after `tries` placements. `fixed` pins attributes."""
    for _ in range(tries):
        attrs = {
            "shape": fixed.get("shape") or rng.choice(SHAPES),
            "color": fixed.get("color") or rng.choice(list(COLORS)),
            "size": fixed.get("size") or rng.choice(list(SIZES)),
        }
        r = SIZES[attrs["size"]]
        lo, hi = r + BORDER_MARGIN, 1 - r - BORDER_MARGIN
        # Rounded to the precision of the JSON form, so a scene read back from JSON renders identically.
        x = fixed["x"] if "x" in fixed else round(rng.uniform(lo, hi), 4)
        y = fixed["y"] if "y" in fixed else round(rng.uniform(lo, hi), 4)
        obj = CanvasObject(x=x, y=y, oid=oid, **attrs)
        if fits(obj, others):
            return obj
    return None


def random_scene(rng: random.Random, n_objects: int | None = None, min_objects: int = 1) -> Scene:
    """A random valid scene with `n_objects` objects (default: uniform in min_objects..MAX_OBJECTS)."""
    n = n_objects if n_objects is not None else rng.randint(min_objects, MAX_OBJECTS)
    if not 0 <= n <= MAX_OBJECTS:
        raise ValueError(f"a scene holds 0..{MAX_OBJECTS} objects, not {n}")
    while True:
        objects: list[CanvasObject] = []
        for oid in range(n):
            obj = random_object(rng, objects, oid)
            if obj is None:
                break
            objects.append(obj)
        if len(objects) == n:
            return Scene(rng.choice(list(BACKGROUNDS)), tuple(objects))
