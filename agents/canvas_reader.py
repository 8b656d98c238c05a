"""The full reference reader: every indirect reference the Canvas world writes, resolved by its meaning on a scene.

The rule thinker's reader (`agents.thinker.resolve_subject`) resolves only the easy references on purpose: it is a
baseline that learned thinkers should beat. A *verifier* may be stronger than the policy it judges (in the papers it
is a large VLM judge), and a label-free checklist derived from the user's words is only worth as much as the
reading behind it. This module reads the whole request language of `envs.canvas.reasoning`:

- superlative: "the leftmost / rightmost / topmost / highest / lowest <noun>", "the <noun> furthest to the left /
  right", "the <noun> nearest the bottom", "the largest / biggest / smallest / tiniest <noun>", "the <noun> with the
  greatest / least size" (noun: "shape" or a shape name);
- spatial: "the shape to the left of / to the right of / above / below <description>", "the shape nearest / closest
  to <description>", "whatever shape is nearest to <description>", "the shape / object in the <region>",
  "whatever is in the <region>";
- attribute: "the shape with / every shape with <n> corners", "the round shape", "the shape with three / six
  sides", "the shape with five points", the most common colour (three wordings), "the only shape whose colour no
  other shape shares";
- knowledge: "the shape that is <colour of an item>" and knowledge *values* ("the colour of denim", "the shape of a
  sail", "the colour of old parchment") through the world's full knowledge tables (`envs.canvas.templates`);
- logic: "every shape that is not <colour>" (and its two other wordings), "every / all the / each <colour> shape",
  "all <shape>s" / "every <shape>" / "each of the <shape>s", "every shape except / all shapes but <description>",
  "the shapes that are <colour> or <colour>".

How: one full-match regex per wording family, and a pure function per family that computes the meaning on the
scene the step runs on (`read_steps` tracks the scene through the earlier steps). This was preferred over running the
generator's reference finders (`SUBJECT_FINDERS`) on the perceived scene and matching their text: the finders draw
one wording per reference from an rng and keep a reference only when it clears the generator's safety margin, so
matching their output is neither deterministic nor complete (a wording the draw did not pick, or a reference just
inside the margin on the perceived scene, would be missed). Resolving by meaning has no such gaps, and reads phrases
the generator would never emit ("the shape to the left of the star" with two candidates) as what they are: ambiguous.

What it reads is the instruction text and a scene (the *perceived* source, for the verifier), never a task's
ground truth. A phrase it cannot read, or one whose meaning does not single out its objects on the scene (an
ambiguous singular, an empty plural), resolves to no objects with a note saying why, so the verifier writes an
unanswerable item for it (unknown fails) rather than guessing.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

from agents.canvas_language import canonical_value, normalise
from agents.thinker import Step, read_steps
from envs.canvas.refer import describe, parse_description, phrase, resolve
from envs.canvas.scene import CanvasObject, Scene
from envs.canvas.templates import KNOWN_BACKGROUNDS, KNOWN_COLORS, KNOWN_SHAPES
from envs.canvas.vocab import COLORS, REGIONS, SHAPE_CORNERS, SHAPES, SIZE_ORDER

__all__ = [
    "READERS",
    "Reading",
    "TIE",
    "knowledge_value",
    "most_common_color",
    "nearest",
    "read_steps_full",
    "resolve_reference",
    "resolve_subject_full",
    "resolve_value_full",
    "side_of",
    "unique_extreme",
]

#: Two positions closer than this (fraction of the width) are a tie: no object is "the leftmost" of two that share a
#: column. Perception places centres within ~0.005; the generator keeps compared positions 0.06 apart.
TIE = 0.015

#: The readers a Canvas verifier can use: "rule" (the rule thinker's, easy references only) or "full" (this module).
READERS = ("rule", "full")


@dataclass(frozen=True)
class Reading:
    """A subject phrase read on a scene: the family it was read as, the objects it names (empty when its meaning
    does not single them out on this scene) and, then, why."""

    family: str
    objects: tuple[CanvasObject, ...]
    note: str = ""


# -- knowledge ----------------------------------------------------------------------------------------------------

def _knowledge_table(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {normalise(text): value for value, texts in table.items() for text in texts}


_KNOWLEDGE: dict[str, dict[str, str]] = {
    "color": _knowledge_table(KNOWN_COLORS),
    "shape": _knowledge_table(KNOWN_SHAPES),
    "background": _knowledge_table(KNOWN_BACKGROUNDS),
}


def knowledge_value(kind: str, text: str) -> str | None:
    """The value of `kind` ('color', 'shape', 'background') that a knowledge phrase names, from the world's full
    tables; None for a phrase the world does not know.

    >>> knowledge_value("color", "the colour of denim"), knowledge_value("shape", "the shape on top of a Christmas tree")
    ('blue', 'star')
    >>> knowledge_value("background", "the colour of old parchment as well"), knowledge_value("color", "the colour of jam") is None
    ('cream', True)
    """
    table = _KNOWLEDGE.get(kind, {})
    phrase_ = normalise(text).strip(" .,;!?")
    return table.get(phrase_) or table.get(_VALUE_LEFTOVER.sub("", phrase_))


#: Words a connective or wrapper can leave after a knowledge value: the parser's knowledge slot takes any words, so
#: "... and change the backdrop to the colour of custard as well" ties between "{A} and {B}" (value "... custard as
#: well") and "{A}, and {B} as well"; a phrase the tables do not know is looked up again without them.
_VALUE_LEFTOVER = re.compile(r"(?:,? (?:as well|first|instead|too|for me|please|thanks))+$")


def resolve_value_full(kind: str, text: str) -> str | None:
    """Canonical value of `kind` named by `text`, directly ("blue", "the upper left corner") or through world
    knowledge ("the colour of denim"); None when neither.

    >>> resolve_value_full("color", "the colour of a tangerine"), resolve_value_full("region", "the upper left")
    ('orange', 'top left')
    """
    return canonical_value(kind, text) or knowledge_value(kind, text)


# -- pure geometry and counting -------------------------------------------------------------------------------------

#: Signed offset of an object from an anchor in the direction a relation names: positive = on that side.
_SIDES: dict[str, Callable[[CanvasObject, CanvasObject], float]] = {
    "left": lambda o, a: a.x - o.x,
    "right": lambda o, a: o.x - a.x,
    "above": lambda o, a: a.y - o.y,
    "below": lambda o, a: o.y - a.y,
}


def side_of(objects: Sequence[CanvasObject], anchor: CanvasObject, relation: str, tie: float = TIE) -> list[CanvasObject]:
    """The objects (anchor excluded) clearly on the `relation` side ('left', 'right', 'above', 'below') of `anchor`.

    >>> a = CanvasObject("star", "blue", "large", 0.5, 0.5, 0)
    >>> [o.oid for o in side_of([a, CanvasObject("circle", "red", "small", 0.2, 0.9, 1)], a, "left")]
    [1]
    """
    offset = _SIDES[relation]
    return [o for o in objects if o.oid != anchor.oid and offset(o, anchor) > tie]


def unique_extreme(objects: Sequence[CanvasObject], key: Callable[[CanvasObject], float], tie: float = 0.0) -> CanvasObject | None:
    """The object with the greatest `key`, when it beats the runner-up by more than `tie`; None on a tie or when
    there are fewer than two objects (a superlative compares)."""
    if len(objects) < 2:
        return None
    ranked = sorted(objects, key=key, reverse=True)
    return ranked[0] if key(ranked[0]) - key(ranked[1]) > tie else None


def nearest(objects: Sequence[CanvasObject], anchor: CanvasObject, tie: float = TIE) -> CanvasObject | None:
    """The object (anchor excluded) nearest to `anchor`, when it is nearer than the runner-up by more than `tie`."""
    others = [o for o in objects if o.oid != anchor.oid]
    if len(others) < 2:
        return others[0] if others else None
    return unique_extreme(others, lambda o: -math.hypot(o.x - anchor.x, o.y - anchor.y), tie)


def most_common_color(objects: Sequence[CanvasObject]) -> str | None:
    """The colour more objects share than any other; None on a tie at the top.

    >>> objs = [CanvasObject(s, c, "small", 0.1 + 0.2 * i, 0.5, i) for i, (s, c) in enumerate([("circle", "red"), ("star", "red"), ("square", "blue")])]
    >>> most_common_color(objs), most_common_color(objs[1:])
    ('red', None)
    """
    counts = Counter(o.color for o in objects).most_common()
    if not counts or (len(counts) >= 2 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


# -- the families ---------------------------------------------------------------------------------------------------

def _alt(words: Sequence[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_SHAPE = _alt(SHAPES)
_COLOR = _alt(list(COLORS))
_REGION = _alt(list(REGIONS) + ["center"])
_NOUN = rf"(?P<noun>shape|object|{_SHAPE})"
_CORNER_NUMBERS = {"no": 0, "zero": 0, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10}
_NUMBER = _alt(list(_CORNER_NUMBERS))

#: Position superlatives: the word (or the phrase after the noun) -> a key whose maximum is meant.
_POSITION_KEYS: dict[str, Callable[[CanvasObject], float]] = {
    "leftmost": lambda o: -o.x, "furthest to the left": lambda o: -o.x, "farthest to the left": lambda o: -o.x,
    "rightmost": lambda o: o.x, "furthest to the right": lambda o: o.x, "farthest to the right": lambda o: o.x,
    "topmost": lambda o: -o.y, "highest": lambda o: -o.y, "uppermost": lambda o: -o.y, "nearest the top": lambda o: -o.y,
    "lowest": lambda o: o.y, "bottommost": lambda o: o.y, "nearest the bottom": lambda o: o.y,
}
_SIZE_WORDS = {"largest": True, "biggest": True, "greatest": True, "smallest": False, "tiniest": False, "least": False}
_RELATIONS = {"to the left of": "left", "left of": "left", "to the right of": "right", "right of": "right",
              "above": "above", "below": "below", "under": "below"}


def _members(noun: str, scene: Scene) -> list[CanvasObject]:
    return [o for o in scene.objects if noun in ("shape", "object") or o.shape == noun]


def _one(family: str, text: str, found: Sequence[CanvasObject]) -> Reading:
    """A singular reference names exactly one object."""
    if len(found) == 1:
        return Reading(family, (found[0],))
    return Reading(family, (), f"{text!r} fits {len(found)} objects on this scene")


def _some(family: str, text: str, found: Sequence[CanvasObject]) -> Reading:
    """A plural reference names at least one object."""
    return Reading(family, tuple(found)) if found else Reading(family, (), f"{text!r} fits no object on this scene")


def _anchor(text: str, scene: Scene) -> CanvasObject | None:
    """The one object an explicit description (the anchor of a relation, the exception of "except") names."""
    found = resolve(text, scene.objects) if parse_description(text) is not None else []
    return found[0] if len(found) == 1 else None


def _superlative(m: re.Match[str], text: str, scene: Scene) -> Reading:
    noun, word = m["noun"], m["word"]
    members = _members(noun, scene)
    if len(members) < 2:
        # "the largest circle" where only one circle is left still names that circle (or, with none, nothing).
        return _one("superlative", text, members)
    if word in _SIZE_WORDS:
        largest = _SIZE_WORDS[word]
        found = unique_extreme(members, lambda o: SIZE_ORDER.index(o.size) * (1 if largest else -1))
    else:
        found = unique_extreme(members, _POSITION_KEYS[word], TIE)
    if found is None:
        return Reading("superlative", (), f"{text!r}: several {noun}s tie on this scene")
    return Reading("superlative", (found,))


def _relation(m: re.Match[str], text: str, scene: Scene) -> Reading:
    anchor = _anchor(m["anchor"], scene)
    if anchor is None:
        return Reading("spatial", (), f"{m['anchor']!r} does not name one object on this scene")
    return _one("spatial", text, side_of(scene.objects, anchor, _RELATIONS[m["rel"]]))


def _nearest(m: re.Match[str], text: str, scene: Scene) -> Reading:
    anchor = _anchor(m["anchor"], scene)
    if anchor is None:
        return Reading("spatial", (), f"{m['anchor']!r} does not name one object on this scene")
    found = nearest(scene.objects, anchor)
    return _one("spatial", text, [found] if found else [])


def _region(m: re.Match[str], text: str, scene: Scene) -> Reading:
    region = "centre" if m["region"] == "center" else m["region"]
    return _one("spatial", text, [o for o in scene.objects if o.region == region])


def _corners(m: re.Match[str], text: str, scene: Scene) -> Reading:
    corners = _CORNER_NUMBERS[m["n"]]
    if m["what"] == "points":  # a star's points: five points, ten corners
        corners *= 2
    found = [o for o in scene.objects if SHAPE_CORNERS[o.shape] == corners]
    plural = m["det"] != "the" or m["noun"].endswith("s")  # "every shape with ...", "the shapes with ..."
    return (_some if plural else _one)("attribute", text, found)


def _round(m: re.Match[str], text: str, scene: Scene) -> Reading:
    return _one("attribute", text, [o for o in scene.objects if SHAPE_CORNERS[o.shape] == 0])


def _most_common(m: re.Match[str], text: str, scene: Scene) -> Reading:
    color = most_common_color(scene.objects)
    if color is None:
        return Reading("attribute", (), f"{text!r}: no colour is more common than every other on this scene")
    return _some("attribute", text, [o for o in scene.objects if o.color == color])


def _unshared(m: re.Match[str], text: str, scene: Scene) -> Reading:
    counts = Counter(o.color for o in scene.objects)
    return _one("attribute", text, [o for o in scene.objects if counts[o.color] == 1])


def _knowledge_subject(m: re.Match[str], text: str, scene: Scene) -> Reading:
    color = knowledge_value("color", m["item"])
    if color is None:
        return Reading("knowledge", (), f"{m['item']!r} is not an item of the world's knowledge")
    return _one("knowledge", text, [o for o in scene.objects if o.color == color])


def _not_color(m: re.Match[str], text: str, scene: Scene) -> Reading:
    return _some("logic", text, [o for o in scene.objects if o.color != m["color"]])


def _all_color(m: re.Match[str], text: str, scene: Scene) -> Reading:
    return _some("logic", text, [o for o in scene.objects if o.color == m["color"]])


def _all_shape(m: re.Match[str], text: str, scene: Scene) -> Reading:
    return _some("logic", text, [o for o in scene.objects if o.shape == m["shape"]])


def _except(m: re.Match[str], text: str, scene: Scene) -> Reading:
    anchor = _anchor(m["anchor"], scene)
    if anchor is None:
        return Reading("logic", (), f"{m['anchor']!r} does not name one object on this scene")
    return _some("logic", text, [o for o in scene.objects if o.oid != anchor.oid])


def _either_color(m: re.Match[str], text: str, scene: Scene) -> Reading:
    return _some("logic", text, [o for o in scene.objects if o.color in (m["c1"], m["c2"])])


_Handler = Callable[[re.Match[str], str, Scene], Reading]
_PLURAL_SHAPE = rf"(?P<shape>{_SHAPE})(?:e?s)"
_ANCHOR = r"(?P<anchor>(?:the|a|an) .+)"

#: (full-match regex over the normalised phrase, handler), tried in order; the first that matches reads the phrase.
_FAMILIES: tuple[tuple[re.Pattern[str], _Handler], ...] = tuple((re.compile(f"^{p}$"), h) for p, h in (
    # superlatives
    (rf"the (?P<word>{_alt([w for w in _POSITION_KEYS if ' ' not in w] + list(_SIZE_WORDS))}) {_NOUN}", _superlative),
    (rf"the {_NOUN} (?P<word>{_alt([w for w in _POSITION_KEYS if ' ' in w])})", _superlative),
    (rf"the {_NOUN} with the (?P<word>greatest|least) size", _superlative),
    # spatial
    (rf"(?:the|whatever) (?:shape|object) (?:that is |which is |is )?(?P<rel>{_alt(list(_RELATIONS))}) {_ANCHOR}", _relation),
    (rf"(?:the (?:shape|object)|whatever (?:shape|object) is) (?:nearest|closest) to {_ANCHOR}", _nearest),
    (rf"(?:the (?:shape|object)|whatever|whatever (?:shape|object)) (?:that )?is (?:in|at) the (?P<region>{_REGION})(?: corner)?", _region),
    (rf"the (?:shape|object) (?:in|at) the (?P<region>{_REGION})(?: corner)?", _region),
    # attribute
    (rf"(?P<det>the|every|each|all(?: the)?) (?P<noun>shape|shapes|object|objects) with (?P<n>{_NUMBER}) (?P<what>corners|sides|points)", _corners),
    (r"the round (?:shape|object|one)", _round),
    (r"(?:every shape|each shape|all shapes|all the shapes|the shapes) (?:in|of|sharing) the (?:most common|most frequent) color", _most_common),
    (r"all shapes of the color that appears most often", _most_common),
    (r"the only (?:shape|object) whose color no other (?:shape|object) shares", _unshared),
    # knowledge
    (r"the (?:shape|object) that is (?P<item>the color of .+)", _knowledge_subject),
    # logic
    (rf"(?:every|each|all|all the) (?:shape|shapes|object|objects) (?:that is not|that are not|that isn't|that aren't|which is not) (?P<color>{_COLOR})", _not_color),
    (rf"all (?:the )?shapes except the (?P<color>{_COLOR}) ones", _not_color),
    (rf"(?:every|each|all|all the) (?:shape|shapes|object|objects) (?:except|but) {_ANCHOR}", _except),
    (rf"(?:every|each|all|all the) (?P<color>{_COLOR}) (?:shape|shapes|object|objects)", _all_color),
    (rf"the (?P<color>{_COLOR}) (?:shapes|ones)", _all_color),
    (rf"(?:all|all the|each of the|the) {_PLURAL_SHAPE}", _all_shape),
    (rf"(?:every|each) (?P<shape>{_SHAPE})", _all_shape),
    (rf"the (?:shapes|objects) that are (?P<c1>{_COLOR}) or (?P<c2>{_COLOR})", _either_color),
))


def resolve_reference(text: str, scene: Scene) -> Reading | None:
    """Read an indirect reference on `scene`; None when no family's wording fits the phrase.

    >>> s = Scene("white", (CanvasObject("star", "blue", "large", 0.5, 0.2, 0), CanvasObject("circle", "red", "small", 0.3, 0.6, 1),
    ...                     CanvasObject("square", "red", "medium", 0.8, 0.8, 2)))
    >>> [o.oid for o in resolve_reference("the shape below the star", s).objects]
    []
    >>> [o.oid for o in resolve_reference("The leftmost shape", s).objects], [o.oid for o in resolve_reference("every shape that isn't red", s).objects]
    ([1], [0])
    >>> resolve_reference("the shape the user likes", s) is None
    True
    """
    norm = normalise(text).strip(" .,;!?")
    for pattern, handler in _FAMILIES:
        m = pattern.match(norm)
        if m is not None:
            return handler(m, norm, scene)
    return None


def _name(obj: CanvasObject, scene: Scene) -> str:
    return describe(obj, scene) or phrase(obj, ("size", "color", "shape", "region"))


#: What the clause parser can leave at the end of a subject: "take out whatever is in the right, but only after you
#: ..." reads equally well with the connective "{B} after you {A}" as with "{B}, but only after you {A}", and on that
#: tie the subject keeps ", but only". The parser is shared with the rule thinker, whose readings stay as they are.
_LEFTOVER = re.compile(r",? (?:but only|but|though)$")


def _read_one(norm: str, scene: Scene) -> Reading | None:
    """One reference: an explicit description (plural when its noun is: "the red shapes"), else an indirect one."""
    if parse_description(norm) is not None:
        found = resolve(norm, scene.objects)
        # A singular description must single out its object ("the shape in the top left" with two there does not).
        return (_some if _PLURAL_NOUN.search(norm) else _one)("direct", norm, found)
    return resolve_reference(norm, scene)


#: A description whose noun is plural ("the red shapes", "the small circles in the top left").
_PLURAL_NOUN = re.compile(rf"\b(?:shapes|objects|ones|(?:{_SHAPE})e?s)\b")


def resolve_subject_full(text: str, scene: Scene) -> tuple[list[str], list[CanvasObject], str]:
    """Subject phrase -> (explicit descriptions, objects, note), like `agents.thinker.resolve_subject` but for every
    indirect reference: an explicit description that names one object is kept as written, anything else rewritten
    as the shortest unique description of each object it names on `scene`; a list of references ("the leftmost
    shape and the star") is read part by part. An unreadable or unresolvable phrase comes back verbatim with no
    objects and a note."""
    norm = _LEFTOVER.sub("", normalise(text))
    reading = _read_one(norm, scene)
    if reading is None:
        parts = [p.strip() for p in re.split(r",\s*(?:and\s+)?|\s+and\s+", norm) if p.strip()]
        readings = [_read_one(p, scene) for p in parts] if len(parts) > 1 else []
        if readings and all(r is not None and r.objects for r in readings):
            objects = list({o.oid: o for r in readings for o in r.objects}.values())  # type: ignore[union-attr]
            return [_name(o, scene) for o in objects], objects, ""
        return [norm], [], f"{norm!r} is not a reference the full reader knows"
    if not reading.objects:
        return [norm], [], reading.note
    if reading.family == "direct" and len(reading.objects) == 1:
        return [norm], list(reading.objects), ""
    return [_name(o, scene) for o in reading.objects], list(reading.objects), ""


def read_steps_full(text: str, scene: Scene, order: Sequence[int] | None = None) -> list[Step]:
    """`agents.thinker.read_steps` with the full reader: every reference and knowledge value resolved on the scene
    each step runs on."""
    return read_steps(text, scene, order, subject_resolver=resolve_subject_full, value_resolver=resolve_value_full)
