"""Canvas-style English, parsed by rule: instructions -> clauses in execution order -> (action, subject, target).

Pure functions (no Ray, no models, no I/O) shared by the rule-based agents, the Canvas editor and the Canvas
verifier. The grammar is the world's own wording, read from `envs.canvas.templates` (clauses, sayings, questions,
wrappers; casual references such as "that little star" are read as "the small star"), so it covers every phrasing
the instruction generator can produce, held-out test templates included (they live in the same tables): that is the
world's vocabulary, not the answer, and it is what makes this an honest rule baseline. What the parser does *not*
do is reasoning: indirect subjects ("the shape left of the star") and knowledge values ("the colour of grass") come
back verbatim, for the agents to resolve (or not) against what perception sees.

How a text is read:

1. **Wrappers** ("Could you {c}?", "{c}, thanks.") are stripped; every wrapper that fits is tried, and the reading
   that parses best wins.
2. **Segments** are separated by the joiners (". Then ", ", and finally ", ...), which the generator writes in
   execution order.
3. A **segment** is one clause or a pair written with a connective: FORWARD ("{A}, then {B}", "after you {A}, {B}"),
   REVERSED ("{B}, but first {A}": A runs first although written second) or BOTH ("{A} and {B}": independent).
   Every split point of every connective is tried, and a split counts only when both halves parse as clauses, so
   "and" inside "of the same colour and size" never splits a clause.
4. A **clause** is matched against a regex compiled from every clause template (`CLAUSES`, plus the `EXPLICIT`
   forms): value slots accept only the world's values (colour names, region phrases, size words, "a circle", ...)
   or a knowledge phrase ("the colour of ..."), the subject slot accepts any text. Several templates can fit ("paint
   the background light blue" fits "paint {subj} {color}" with subject "the background light"); the reading with a
   canonical value, a well-formed subject and the most template words wins.

`split_clauses(text)` returns the clauses in execution order, each knowing its written position; `parse_clause`
reads one clause; `to_explicit_clause` writes a component in the EXPLICIT form the Canvas editor reads best.

The second half of the module is the semantic glue the agents share: a `Scene` built from perception, subject
resolution with explicit descriptions, and a lenient `simulate` that applies a component like
`envs.canvas.execute.apply_component` but tolerates perception's sub-pixel error in the geometry checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from envs.canvas.execute import apply_component
from envs.canvas.refer import BACKGROUND_SUBJECT, join_phrases, parse_description
from envs.canvas.scene import CanvasObject, Scene
from envs.canvas.templates import (
    BACKGROUND_WORDS,
    BOTH,
    CLAUSES,
    EXPLICIT,
    FINAL_JOINERS,
    FORWARD,
    JOINERS,
    QUESTION_WRAPPERS,
    QUESTIONS,
    REGION_PHRASES,
    REVERSED,
    SAYING_WRAPPERS,
    SAYINGS,
    SIZE_WORDS,
    WRAPPERS,
)
from envs.canvas.vocab import BACKGROUNDS, COLORS, REGIONS, SHAPES, SIZE_ORDER, SIZES
from rewards.types import Component, as_component

__all__ = [
    "Clause",
    "ParsedClause",
    "ParsedText",
    "RELATIVE_SIZES",
    "canonical_value",
    "explicit_text",
    "normalise",
    "parse_clause",
    "parse_text",
    "relative_size",
    "scene_from_perception",
    "simulate",
    "split_clauses",
    "split_subjects",
    "to_explicit_clause",
]

# ---------------------------------------------------------------------------------------------------------------
# normalisation and value vocabularies
# ---------------------------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Lowercase, 'colour' -> 'color', 'grey' -> 'gray', curly quotes straightened, whitespace collapsed.

    >>> normalise("  Change the Colour of\\nthe star to GREY ")
    'change the color of the star to gray'
    """
    text = text.replace("\u2019", "'").replace("\u2018", "'").lower()
    text = re.sub(r"\bcolour", "color", text)
    text = re.sub(r"\bgrey\b", "gray", text)
    return " ".join(text.split())


#: Value kind of each template slot.
_SLOT_KIND = {"color": "color", "region": "region", "size": "size", "shape_np": "shape", "bg": "background", "obj": "object"}

#: Region phrase (normalised) -> canonical region. Covers REGION_PHRASES and "the <region>" for every region.
_REGION_WORDS: dict[str, str] = {}
for _region, _phrases in REGION_PHRASES.items():
    for _p in _phrases + (f"the {_region}", f"the {_region} corner"):
        _REGION_WORDS[normalise(_p)] = _region
        _REGION_WORDS[normalise(_p).removeprefix("the ")] = _region
_REGION_WORDS["the center"] = _REGION_WORDS["center"] = "centre"

#: Size word -> canonical size.
_SIZE_WORDS: dict[str, str] = {w: size for size, words in SIZE_WORDS.items() for w in words} | {s: s for s in SIZES}

#: Shape noun phrase -> canonical shape ("a circle", "an hexagon", "circles", "circle").
_SHAPE_WORDS: dict[str, str] = {}
for _s in SHAPES:
    for _form in (_s, f"a {_s}", f"an {_s}", f"{_s}s", f"{_s}es" if _s.endswith("s") else f"{_s}s"):
        _SHAPE_WORDS[_form] = _s

#: The forms a shape takes in a template's {shape_np} slot: with an article or plural, never bare (a bare noun
#: would let "make the pink shape a triangle" read as subject "the pink shape a").
_SHAPE_NP = [form for form in _SHAPE_WORDS if form not in SHAPES]

_BG_WORDS: dict[str, str] = {normalise(w): b for b in BACKGROUNDS for w in (b, *BACKGROUND_WORDS.get(b, ()))}

#: Relative size words of `CLAUSES["resize_up"]` / `["resize_down"]`, as targets before resolution.
RELATIVE_SIZES = ("bigger", "smaller")

#: Knowledge phrases ("the colour of grass", "the shape on top of a Christmas tree"): kept verbatim as values.
_KNOWN_COLOR = r"the color of [a-z0-9' -]+?"
_KNOWN_SHAPE = r"the shape (?:of|on top of) [a-z0-9' -]+?"


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


_OBJ_RE = (
    rf"(?:a|an) (?:{_alternation(_SIZE_WORDS)}) (?:{_alternation(COLORS)}) (?:{_alternation(SHAPES)})"
)
_SLOT_RE: dict[str, str] = {
    "subj": r".+",
    "color": rf"(?:{_alternation(COLORS)}|{_KNOWN_COLOR})",
    "region": rf"(?:{_alternation(_REGION_WORDS)})",
    "size": rf"(?:{_alternation(_SIZE_WORDS)})",
    "shape_np": rf"(?:{_alternation(_SHAPE_NP)}|{_KNOWN_SHAPE})",
    "bg": rf"(?:{_alternation(_BG_WORDS)}|{_KNOWN_COLOR})",
    "obj": _OBJ_RE,
    # Verb forms of the sayings that agree with the subject ("the star has to go", "the shapes ... have to go").
    "is": r"(?:is|are)",
    "has": r"(?:has|have)",
    "needs": r"(?:needs|need)",
    "it": r"(?:it|them)",
}
_AGREEMENT_SLOTS = ("is", "has", "needs", "it")


def canonical_value(kind: str, text: str) -> str | None:
    """The canonical value named by `text` in a slot of `kind`, or None when `text` names none directly.

    >>> canonical_value("region", "the upper left corner"), canonical_value("size", "tiny"), canonical_value("shape", "an hexagon")
    ('top left', 'small', 'hexagon')
    >>> canonical_value("color", "the colour of grass") is None
    True
    """
    value = normalise(text).strip(" .,;!?")
    if kind == "color":
        return value if value in COLORS else None
    if kind == "region":
        return _REGION_WORDS.get(value)
    if kind == "size":
        return _SIZE_WORDS.get(value)
    if kind == "shape":
        return _SHAPE_WORDS.get(value)
    if kind == "background":
        return _BG_WORDS.get(value)
    if kind == "object":
        return _canonical_object(value)
    raise ValueError(f"unknown value kind {kind!r}; use one of {', '.join(sorted(set(_SLOT_KIND.values())))}")


def _canonical_object(text: str) -> str | None:
    """'a tiny red circle' -> 'a small red circle' (size, colour and shape all named), else None."""
    words = normalise(text).split()
    if len(words) != 4 or words[0] not in ("a", "an"):
        return None
    size, color, shape = _SIZE_WORDS.get(words[1]), words[2], words[3]
    if size is None or color not in COLORS or shape not in SHAPES:
        return None
    return f"a {size} {color} {shape}"


# ---------------------------------------------------------------------------------------------------------------
# clause grammar
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ClauseTemplate:
    family: str  # CLAUSES family ("resize_up", ...) or "explicit"
    action: str
    template: str
    regex: re.Pattern[str]
    value_slot: str | None
    literal: int  # characters of fixed wording: the more, the more specific


def _compile(family: str, action: str, template: str) -> _ClauseTemplate:
    text = normalise(template).rstrip("?")  # a question's mark is stripped from the text with the wrapper
    parts = re.split(r"(\{[a-z_]+\})", text)
    pattern = ""
    value_slot = None
    literal = 0
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            slot = part[1:-1]
            pattern += f"(?P<{slot}>{_SLOT_RE[slot]})"
            if slot != "subj" and slot not in _AGREEMENT_SLOTS:
                value_slot = slot
        else:
            pattern += re.escape(part)
            literal += len(part.strip())
    return _ClauseTemplate(family, action, template, re.compile(f"^{pattern}$"), value_slot, literal)


def _family_action(family: str) -> str:
    return "resize" if family.startswith("resize") else family


_TEMPLATES: tuple[_ClauseTemplate, ...] = tuple(
    [_compile(family, _family_action(family), t) for table in (CLAUSES, SAYINGS, QUESTIONS) for family, ts in table.items() for t in ts]
    + [_compile("explicit", action, t) for action, t in EXPLICIT.items()]
)

#: Casual words of a direct reference and what the explicit description says ("that square", "the little triangle").
_CASUAL_WORDS = {"that": "the", "this": "the", **{w: size for size, words in SIZE_WORDS.items() for w in words if w != size}}


def _plain_reference(subject: str) -> str:
    """A casually written explicit description in its plain form, when that is one ("that little star" -> "the
    small star"); anything else unchanged."""
    plain = " ".join(_CASUAL_WORDS.get(w, w) for w in subject.split())
    return plain if plain != subject and parse_description(plain) is not None else subject


@dataclass(frozen=True)
class ParsedClause:
    """One clause read as a component.

    `subject` is the subject phrase as written ("the red circle", "every shape that is not red", "the hexagon and
    the circle"); `subjects` splits an explicit list into its descriptions (else it is `(subject,)`). `target` is
    the canonical value, "bigger"/"smaller" for relative resizes, or None when the value could not be named
    directly (a knowledge phrase, kept in `target_text`). `explicit` tells whether every subject is an explicit
    description (`envs.canvas.refer`), i.e. whether it can be resolved without reasoning.
    """

    action: str
    subject: str
    subjects: tuple[str, ...]
    target: str | None
    target_text: str
    template: str
    family: str
    explicit: bool
    score: float

    @property
    def relative(self) -> bool:
        return self.target in RELATIVE_SIZES

    @property
    def resolved_target(self) -> bool:
        """True when the target is a canonical value (or the action has none)."""
        return self.action == "remove" or (self.target is not None and not self.relative)

    def component(self) -> Component:
        """As a `rewards.Component`; an unresolved target is kept as written."""
        target: tuple[str, ...] = ()
        if self.action != "remove":
            target = (self.target if self.target is not None else self.target_text,)
        return Component(self.action, self.subjects, target)


_DEFINITE_START = ("the ", "every ", "all ", "each ", "whatever ", "any ", "both ")
_CONNECTIVE_WORDS = re.compile(r"(?:, then |\bthen\b|after you|before you|but first|once you|\bafterwards\b|; |\. )")


def split_subjects(text: str) -> tuple[str, ...]:
    """Split 'the hexagon, the star and the circle' into explicit descriptions when every part is one; else
    return `(text,)`.

    >>> split_subjects("the hexagon, the star and the small red circle")
    ('the hexagon', 'the star', 'the small red circle')
    >>> split_subjects("the shapes that are pink or black")
    ('the shapes that are pink or black',)
    """
    text = normalise(text)
    parts = [p.strip() for p in re.split(r",\s*(?:and\s+)?|\s+and\s+", text) if p.strip()]
    if len(parts) > 1 and all(parse_description(p) is not None for p in parts):
        return tuple(parts)
    return (text,)


def _subject_score(action: str, subject: str) -> tuple[float, tuple[str, ...], bool]:
    """(quality in 0..1, subjects, explicit?) of a subject slot; quality 0 rejects the reading."""
    if action == "background":
        return 1.0, (BACKGROUND_SUBJECT,), True
    if re.search(r"\b(?:background|backdrop|picture|canvas|image)\b", subject):
        return 0.0, (subject,), False
    if action == "add":
        canonical = _canonical_object(subject)
        return (1.0, (canonical,), True) if canonical else (0.0, (subject,), False)
    if subject.startswith(("a ", "an ")):
        return 0.0, (subject,), False
    parts = split_subjects(subject)
    if all(parse_description(p) is not None for p in parts):
        return 1.0, parts, True
    if not subject.startswith(_DEFINITE_START):
        return 0.0, parts, False
    if _CONNECTIVE_WORDS.search(subject):
        return 0.2, parts, False
    return 0.6, parts, False


def _value(template: _ClauseTemplate, match: re.Match[str]) -> tuple[float, str | None, str]:
    """(quality, canonical target, text) of a match's value slot."""
    if template.family == "resize_up":
        return 1.0, "bigger", "bigger"
    if template.family == "resize_down":
        return 1.0, "smaller", "smaller"
    if template.value_slot is None:
        return 1.0, None, ""
    kind = _SLOT_KIND[template.value_slot]
    text = match[template.value_slot]
    if template.action == "add":
        region = canonical_value("region", match["region"])
        return (1.0 if region else 0.5), region, match["region"]
    value = canonical_value(kind, text)
    return (1.0 if value else 0.5), value, text


@lru_cache(maxsize=1 << 16)
def _parse_clause_normalised(text: str) -> ParsedClause | None:
    best: ParsedClause | None = None
    for template in _TEMPLATES:
        match = template.regex.match(text)
        if match is None:
            continue
        if template.action == "add":
            subject = match["obj"]
        elif template.action == "background":
            subject = BACKGROUND_SUBJECT
        else:
            subject = _plain_reference(match["subj"].strip())
        subj_q, subjects, explicit = _subject_score(template.action, subject)
        if subj_q <= 0:
            continue
        value_q, target, target_text = _value(template, match)
        score = subj_q + value_q + 0.001 * template.literal
        if best is None or score > best.score:
            best = ParsedClause(template.action, subject if template.action != "add" else subjects[0], subjects,
                                target, target_text, template.template, template.family, explicit, score)
    return best


def parse_clause(text: str) -> ParsedClause | None:
    """Read one clause as (action, subject, target); None when no clause template fits.

    >>> c = parse_clause("Colour the small red circle the colour of grass")
    >>> c.action, c.subjects, c.target, c.target_text
    ('recolor', ('the small red circle',), None, 'the color of grass')
    >>> c = parse_clause("pop a tiny blue star into the upper left corner")
    >>> c.action, c.subjects, c.target
    ('add', ('a small blue star',), 'top left')
    >>> parse_clause("paint the background light blue").action
    'background'
    >>> parse_clause("dance a little jig") is None
    True
    """
    return _parse_clause_normalised(normalise(text).strip(" .,;!?"))


# ---------------------------------------------------------------------------------------------------------------
# instructions: wrappers, joiners, connectives, order
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """One clause of an instruction: its text, its reading (None if unparsed) and where it sits.

    `written` is its position in the text; `step` its position in the execution order the order words imply.
    """

    text: str
    parsed: ParsedClause | None
    written: int
    step: int
    segment: int = 0
    connective: str = "single"  # single | forward | reversed | both


@dataclass(frozen=True)
class ParsedText:
    """An instruction read as clauses.

    `clauses` are in execution order. `constraints` are the (written i, written j) pairs where the wording says i
    runs before j (joiners and FORWARD / REVERSED connectives; BOTH pairs are unordered). `complete` is True when
    every clause parsed and nothing was left over.
    """

    clauses: tuple[Clause, ...]
    constraints: tuple[tuple[int, int], ...]
    complete: bool
    score: float

    @property
    def written(self) -> tuple[Clause, ...]:
        return tuple(sorted(self.clauses, key=lambda c: c.written))

    @property
    def order(self) -> list[int]:
        """Execution order as written indices."""
        return [c.written for c in self.clauses]


def _split_template(template: str) -> tuple[str, str, str, str, str]:
    """'{B}, but first {A}' -> (prefix, first slot, middle, second slot, suffix), normalised."""
    m = re.fullmatch(r"(.*?)\{([ab])\}(.*?)\{([ab])\}(.*)", normalise(template), re.S)
    if m is None:
        raise ValueError(f"connective template {template!r} needs the slots {{A}} and {{B}}")
    return m[1], m[2].upper(), m[3], m[4].upper(), m[5]


_PAIRS: tuple[tuple[str, tuple[str, str, str, str, str]], ...] = tuple(
    [("forward", _split_template(t)) for t in FORWARD]
    + [("reversed", _split_template(t)) for t in REVERSED]
    + [("both", _split_template(t)) for t in BOTH]
)
_JOINERS: tuple[str, ...] = tuple(sorted({normalise(j) if j.strip() else j for j in JOINERS + FINAL_JOINERS}, key=lambda j: (-len(j), j)))


def _wrapper_parts(wrapper: str) -> tuple[str, str]:
    # Final punctuation is not part of a wrapper: requests typed in a chat box often end without it.
    prefix, _, suffix = normalise(wrapper).rstrip(" .?!").partition("{c}")
    return prefix, suffix


_WRAPPERS = tuple(sorted({_wrapper_parts(w) for w in WRAPPERS + SAYING_WRAPPERS + QUESTION_WRAPPERS},
                         key=lambda ps: (-(len(ps[0]) + len(ps[1])), ps)))

# A segment reading: (score, [(clause text, parsed, connective)] in execution order, written positions)
_Reading = tuple[float, tuple[tuple[str, ParsedClause, str], ...], tuple[int, ...]]


def _clause_reading(text: str) -> ParsedClause | None:
    text = text.strip(" ,;.")
    if not text:
        return None
    return _parse_clause_normalised(text)


@lru_cache(maxsize=1 << 14)
def _segment(text: str) -> _Reading | None:
    """Best reading of one segment: a clause, or a pair joined by a connective."""
    text = text.strip(" ,;.")
    best: _Reading | None = None
    single = _clause_reading(text)
    if single is not None:
        best = (single.score, ((text, single, "single"),), (0,))
    for kind, (prefix, first, middle, second, suffix) in _PAIRS:
        if not (text.startswith(prefix) and text.endswith(suffix)) or len(text) < len(prefix) + len(suffix) + len(middle):
            continue
        inner = text[len(prefix): len(text) - len(suffix)] if suffix else text[len(prefix):]
        start = inner.find(middle, 1)
        while start > 0:
            x, y = inner[:start], inner[start + len(middle):]
            start = inner.find(middle, start + 1)
            px, py = _clause_reading(x), _clause_reading(y)
            if px is None or py is None:
                continue
            a_text, a, b_text, b = (x, px, y, py) if first == "A" else (y, py, x, px)
            score = a.score + b.score
            if best is None or score > best[0] + 1e-9:
                # A runs first; written positions: the first slot is written first.
                written = (0, 1) if first == "A" else (1, 0)
                best = (score, ((a_text.strip(" ,;."), a, kind), (b_text.strip(" ,;."), b, kind)), written)
    return best


def _segments(text: str) -> tuple[float, list[tuple[str, _Reading | None]]]:
    """Split `text` at joiners into segments, choosing the split whose segments read best (dynamic programming
    over joiner positions). Unreadable stretches become unparsed segments."""
    cuts: list[tuple[int, int]] = []  # (start, end) of every joiner occurrence
    for joiner in _JOINERS:
        pos = text.find(joiner)
        while pos >= 0:
            cuts.append((pos, pos + len(joiner)))
            pos = text.find(joiner, pos + 1)
    starts = sorted({0} | {end for _, end in cuts})
    n = len(text)
    # best[i]: best (score, segments) for text[i:]
    best: dict[int, tuple[float, list[tuple[str, _Reading | None]]]] = {}
    for i in sorted(starts, reverse=True):
        options: list[tuple[float, list[tuple[str, _Reading | None]]]] = []
        ends = [(s, e) for s, e in cuts if s > i and e in best] + [(n, None)]
        for s, e in ends:
            piece = text[i:s]
            reading = _segment(piece)
            # An unreadable piece costs more than any reading gains, so parsed splits always win.
            score = reading[0] if reading else -10.0
            rest_score, rest = (0.0, []) if e is None else best[e]
            options.append((score + rest_score, [(piece, reading)] + rest))
        best[i] = max(options, key=lambda o: o[0])
    return best[0]


def parse_text(text: str) -> ParsedText:
    """Read a whole instruction (wrappers, joiners, connectives) into clauses in execution order.

    >>> p = parse_text("Could you draw a mid-sized green triangle in the top left corner after you recolour the circle to blue?")
    >>> [(c.parsed.action, c.written) for c in p.clauses], p.constraints
    ([('recolor', 1), ('add', 0)], ((1, 0),))
    """
    norm = normalise(text).rstrip(" .?!")
    # Longest wrapper first, the bare text last: on a tie the reading with the wrapper stripped wins, so that
    # "... the colour of bubble gum for me." does not keep "for me" inside a knowledge phrase.
    candidates = []
    for prefix, suffix in _WRAPPERS:
        if (prefix or suffix) and norm.startswith(prefix) and norm.endswith(suffix) and len(norm) > len(prefix) + len(suffix):
            candidates.append(norm[len(prefix): len(norm) - len(suffix)] if suffix else norm[len(prefix):])
    candidates.append(norm)
    best: tuple[float, list[tuple[str, _Reading | None]]] | None = None
    for core in candidates:
        core = core.strip(" .?!")
        if not core:
            continue
        result = _segments(core)
        if best is None or result[0] > best[0] + 1e-9:
            best = result
    if best is None:
        return ParsedText((), (), False, 0.0)
    clauses: list[Clause] = []
    constraints: list[tuple[int, int]] = []
    written_base = 0
    step = 0
    previous_segment: list[int] = []
    complete = True
    for k, (piece, reading) in enumerate(best[1]):
        if reading is None:
            complete = False
            clauses.append(Clause(piece.strip(" ,;."), None, written_base, step, k, "single"))
            members = [written_base]
            written_base += 1
            step += 1
        else:
            _, items, written = reading
            members = []
            for (clause_text, parsed, kind), w in zip(items, written):
                clauses.append(Clause(clause_text, parsed, written_base + w, step, k, kind))
                members.append(written_base + w)
                step += 1
            if len(items) == 2 and items[0][2] in ("forward", "reversed"):
                constraints.append((written_base + written[0], written_base + written[1]))
            written_base += len(items)
        constraints.extend((i, j) for i in previous_segment for j in members)
        previous_segment = members
    return ParsedText(tuple(clauses), tuple(constraints), complete, best[0])


def split_clauses(text: str) -> list[Clause]:
    """The clauses of `text` in execution order (see `parse_text`).

    >>> [(c.text, c.written) for c in split_clauses("Remove the star, but first make the circle blue. Finally, add a big red square at the centre.")]
    [('make the circle blue', 1), ('remove the star', 0), ('add a big red square at the centre', 2)]
    """
    return list(parse_text(text).clauses)


# ---------------------------------------------------------------------------------------------------------------
# writing components back as text
# ---------------------------------------------------------------------------------------------------------------


def _shape_np(value: str, plural: bool) -> str:
    if value not in SHAPES:
        return value
    if plural:
        return f"{value}es" if value.endswith("s") else f"{value}s"
    return f"an {value}" if value[0] in "aeiou" else f"a {value}"


#: A single subject phrase that names several objects ("every pink shape", "all circles", "the red ones").
_PLURAL_PHRASE = re.compile(r"^(?:every|all|each|both)\b|\b(?:shapes|objects|ones)\b|\b(?:circles|squares|triangles|stars|hexagons|diamonds)\b")


def to_explicit_clause(component: Component | Mapping[str, Any] | Any) -> str:
    """A component in the EXPLICIT clause form (`envs.canvas.templates.EXPLICIT`), lowercase, no full stop.

    Accepts a `rewards.Component`, a mapping, or anything with action/subject/target (e.g. `ComponentSpec`).
    Unresolved targets (knowledge phrases) are written as they are.

    >>> to_explicit_clause({"action": "reshape", "subject": ["the hexagon", "the star"], "target": ["circle"]})
    'turn the hexagon and the star into circles'
    >>> to_explicit_clause({"action": "add", "subject": ["a small red star"], "target": ["top right"]})
    'add a small red star in the top right'
    """
    if not isinstance(component, (Component, Mapping)):
        component = {"action": component.action, "subject": list(component.subject), "target": list(component.target)}
    comp = as_component(component)
    action = comp.action.strip().lower()
    subjects = list(comp.subject) or ["it"]
    target = comp.target[0] if comp.target else ""
    subj = join_phrases(subjects)
    if action not in EXPLICIT:
        return f"{action} {subj} {target}".strip()
    template = EXPLICIT[action]
    if action in ("move", "add") and target not in REGIONS:
        template = template.replace("the {region}", "{region}")
    plural = len(subjects) > 1 or bool(_PLURAL_PHRASE.search(subjects[0]))
    return template.format(subj=subj, color=target, region=target, size=target, bg=target, obj=subjects[0],
                           shape_np=_shape_np(target, plural))


def explicit_text(clauses: Sequence[str]) -> str:
    """Clauses joined the way `explicit_instruction` writes them: '. Then ' and sentence case.

    >>> explicit_text(["make the circle blue", "remove the star"])
    'Make the circle blue. Then remove the star.'
    """
    if not clauses:
        return ""
    text = ". Then ".join(c.strip().rstrip(".") for c in clauses) + "."
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------------------------------------------------------
# scenes as the agents see them
# ---------------------------------------------------------------------------------------------------------------


def scene_from_perception(perception: Any) -> Scene:
    """A `Scene` of what perception saw (`envs.canvas.perception.Perception` or anything with `background` and
    `objects` of shape/color/size/x/y); object ids are the perception order. No ground truth is involved."""
    objects = tuple(CanvasObject(o.shape, o.color, o.size, float(o.x), float(o.y), i) for i, o in enumerate(perception.objects))
    return Scene(perception.background, objects)


def relative_size(current: str, direction: str) -> str | None:
    """The size one step up ('bigger') or down ('smaller') from `current`, or None past either end.

    >>> relative_size("small", "bigger"), relative_size("large", "bigger")
    ('medium', None)
    """
    i = SIZE_ORDER.index(current) + (1 if direction == "bigger" else -1)
    return SIZE_ORDER[i] if 0 <= i < len(SIZE_ORDER) else None


#: Geometry slack of `simulate` (fraction of the width): perception places centres within ~0.5 px (0.004 at 128 px).
SIMULATE_SLACK = 0.01


def simulate(scene: Scene, component: Component | Mapping[str, Any], slack: float = SIMULATE_SLACK) -> Scene:
    """Apply one component to a *perceived* scene.

    `envs.canvas.execute.apply_component` with its geometry limits loosened by `slack`: perception's sub-pixel
    error can put an object just over a limit the true scene meets. Raises `EditError` like apply_component.
    """
    return apply_component(scene, component, slack=slack)
