"""Referring expressions: describing an object so that exactly one object fits, and resolving a description.

Explicit descriptions use only the object's own attributes and, as a last resort, its region:
"the circle", "the red shape", "the red circle", "the small circle", "the small red circle",
"the small red circle in the top left". `describe` returns the shortest that is unique in the scene; `resolve`
parses any of these forms (and the indefinite "a small red circle" used by `add`) and returns every matching object.
Indirect references ("the largest shape", "the shape left of the star") live in `envs.canvas.reasoning`: they are
resolved on the scene by their meaning, then rewritten as explicit descriptions for the ground truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from envs.canvas.scene import CanvasObject, Scene
from envs.canvas.vocab import COLORS, REGIONS, SHAPES, SIZES

# The attribute combinations tried by `describe`, most concise first.
ATTRIBUTE_ORDER: tuple[tuple[str, ...], ...] = (
    ("shape",),
    ("color",),
    ("color", "shape"),
    ("size", "shape"),
    ("size", "color"),
    ("size", "color", "shape"),
)

BACKGROUND_SUBJECT = "the background"


@dataclass(frozen=True)
class Description:
    """A parsed explicit description: the attributes it pins (None = any)."""

    shape: str | None = None
    color: str | None = None
    size: str | None = None
    region: str | None = None

    def matches(self, obj: CanvasObject) -> bool:
        return (
            (self.shape is None or obj.shape == self.shape)
            and (self.color is None or obj.color == self.color)
            and (self.size is None or obj.size == self.size)
            and (self.region is None or obj.region == self.region)
        )

    @property
    def attributes(self) -> tuple[str, ...]:
        """Which attributes the description reads (for dependency analysis); region reads position."""
        used = [name for name in ("shape", "color", "size") if getattr(self, name) is not None]
        if self.region is not None:
            used.append("pos")
        return tuple(used)


def phrase(obj: CanvasObject, attributes: Sequence[str], article: str = "the") -> str:
    """Noun phrase for `obj` naming `attributes` (any of size, color, shape, region).

    >>> o = CanvasObject("circle", "red", "small", 0.1, 0.1)
    >>> phrase(o, ("color",)), phrase(o, ("size", "color", "shape", "region")), phrase(o, ("shape",), "a")
    ('the red shape', 'the small red circle in the top left', 'a circle')
    """
    words = [obj.size] if "size" in attributes else []
    if "color" in attributes:
        words.append(obj.color)
    words.append(obj.shape if "shape" in attributes else "shape")
    text = " ".join(words)
    if "region" in attributes:
        text += f" in the {obj.region}"
    return f"{article} {text}"


def describe(obj: CanvasObject, scene: Scene) -> str | None:
    """Shortest explicit description of `obj` that matches no other object of `scene`; None if there is none.

    >>> s = Scene("white", (CanvasObject("circle", "red", "small", 0.2, 0.2, 0), CanvasObject("circle", "blue", "small", 0.8, 0.8, 1)))
    >>> describe(s.objects[0], s)
    'the red shape'
    """
    others = [o for o in scene.objects if o.oid != obj.oid]
    for attrs in ATTRIBUTE_ORDER:
        if not any(all(getattr(o, a) == getattr(obj, a) for a in attrs) for o in others):
            return phrase(obj, attrs)
    full = ("size", "color", "shape")
    if not any(all(getattr(o, a) == getattr(obj, a) for a in full) and o.region == obj.region for o in others):
        return phrase(obj, full + ("region",))
    return None


def unique_descriptions(obj: CanvasObject, scene: Scene) -> list[str]:
    """Every explicit description of `obj` that is unique in `scene` (for varied instruction wording)."""
    return [phrase(obj, attrs) for attrs in unique_attribute_sets(obj, scene)]


def unique_attribute_sets(obj: CanvasObject, scene: Scene) -> list[tuple[str, ...]]:
    """The entries of ATTRIBUTE_ORDER that single out `obj` in `scene`."""
    others = [o for o in scene.objects if o.oid != obj.oid]
    return [attrs for attrs in ATTRIBUTE_ORDER if not any(all(getattr(o, a) == getattr(obj, a) for a in attrs) for o in others)]


_SHAPE_WORDS = {s: s for s in SHAPES} | {s + "s": s for s in SHAPES} | {"shape": None, "shapes": None, "object": None, "one": None}
_REGION_RE = "|".join(sorted((re.escape(r) for r in REGIONS), key=len, reverse=True))
_DESC_RE = re.compile(
    rf"^(?:(?:the|a|an)\s+)?(?:(?P<size>{'|'.join(SIZES)})\s+)?(?:(?P<color>{'|'.join(COLORS)})\s+)?"
    rf"(?P<noun>{'|'.join(sorted(_SHAPE_WORDS, key=len, reverse=True))})"
    rf"(?:\s+(?:in|at|on)\s+the\s+(?P<region>{_REGION_RE})(?:\s+corner)?)?$"
)


def parse_description(text: str) -> Description | None:
    """Parse an explicit description; None if `text` is not one.

    >>> parse_description("The small red circle in the top left")
    Description(shape='circle', color='red', size='small', region='top left')
    >>> parse_description("the shape left of the star") is None
    True
    """
    m = _DESC_RE.match(" ".join(text.lower().replace("colour", "color").split()))
    if not m:
        return None
    return Description(shape=_SHAPE_WORDS[m["noun"]], color=m["color"], size=m["size"], region=m["region"])


def resolve(text: str, objects: Iterable[CanvasObject]) -> list[CanvasObject]:
    """Objects matching an explicit description (empty if it matches none or does not parse)."""
    desc = parse_description(text)
    if desc is None:
        return []
    return [o for o in objects if desc.matches(o)]


def join_phrases(phrases: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'.

    >>> join_phrases(["the circle", "the star", "the square"])
    'the circle, the star and the square'
    """
    if not phrases:
        raise ValueError("need at least one phrase to join")
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]
