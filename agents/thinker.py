"""Rule-based thinker: rewrites an instruction into an explicit plan in execution order.

`RuleThinker` is an honest baseline, not an oracle: it reads only the instruction text and what perception sees in
the source image (never the task's scenes or components). How it plans:

1. `agents.canvas_language.parse_text` reads the wording: wrappers, joiners and order words give the clauses in
   execution order ("B after you A" -> A, B).
2. The source image is perceived and turned into a `Scene`; every step is resolved on that scene *as it is at that
   step* and then simulated on it (`canvas_language.simulate`, i.e. `envs.canvas.execute.apply_component`), so a
   later clause may name "the blue circle" that an earlier clause made blue.
3. Subjects: explicit descriptions ("the small red circle") are kept as written. Of the indirect references it
   resolves only the easy ones, and rewrites them as the shortest unique explicit description
   (`envs.canvas.refer.describe`): superlatives of size ("the largest shape", "the tiniest circle") and knowledge
   subjects ("the shape that is the colour of a lemon") whose item is in its small knowledge table. Everything else
   (spatial, corner counts, logic, unknown items) is kept verbatim: it is good on direct requests and imperfect on
   indirect ones, by design.
4. Targets: canonical values; relative sizes ("make it bigger") from the subject's perceived size; knowledge values
   through the same small table (`KNOWN_COLOR_ITEMS`, `KNOWN_SHAPE_ITEMS`, `KNOWN_BACKGROUND_ITEMS`: a few common
   items per value, far from the world's full tables). Unknown values stay as written.
5. The plan is the EXPLICIT clause of every step (`templates.EXPLICIT`), joined by ". Then ": the same form as the
   task's `explicit_instruction`, which is what the Canvas editor reads best.

Reflection (`state.feedback` set, round > 0), in two ways:

- **Fix the failed items.** The Canvas verifier's feedback names failed checklist items in the checklist's fixed
  wording ("Failed: Is the circle now blue and in the top left? (expected yes, saw no)", "Has the star been
  removed?", "Is there a small red star in the top left?", "Is the background now cream?"). `feedback_fixes` reads
  those that ask for a change; the new plan keeps the steps the first plan could resolve and appends one explicit
  step per missing change, naming each object (resolved by its feedback name on the perceived *source* scene, then
  followed through the kept steps) by its description at that point. The gain comes from the verifier: with the
  task's reference checklist its feedback says what the unresolved steps were meant to do; with a checklist it
  derived from the thinker's own reading, it has nothing new to say.
- **Try another order**, when the feedback holds nothing to fix but some item was answered wrongly: the order the
  wording gives, the dependency heuristic's order alone (`agents.sorter.dependency_order`), the written order; the
  first whose plan text differs from every plan already tried (`state.history`). When only unanswerable items
  failed ("could not tell": steps it could not resolve), no order helps and the plan is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from agents.base import Agent, EpisodeState, Plan
from agents.canvas_language import (
    Clause,
    ParsedClause,
    canonical_value,
    explicit_text,
    normalise,
    parse_text,
    relative_size,
    scene_from_perception,
    simulate,
    to_explicit_clause,
)
from agents.canvas_paint import perceive_png
from envs.canvas.execute import EditError
from envs.canvas.refer import BACKGROUND_SUBJECT, describe, parse_description, phrase, resolve
from envs.canvas.scene import CanvasObject, Scene
from envs.canvas.vocab import BACKGROUNDS, COLORS, REGIONS, SHAPES, SIZE_ORDER, SIZES
from rewards.types import Component

__all__ = [
    "SubjectResolver",
    "ValueResolver",
    "KNOWN_BACKGROUND_ITEMS",
    "KNOWN_COLOR_ITEMS",
    "KNOWN_SHAPE_ITEMS",
    "RuleThinker",
    "Step",
    "read_steps",
    "feedback_fixes",
    "resolve_subject",
    "resolve_value",
]

#: The rule thinker's world knowledge: a few common items per colour, nowhere near the generator's full tables.
KNOWN_COLOR_ITEMS: dict[str, str] = {
    "grass": "green",
    "a clear sky": "blue",
    "a ripe tomato": "red",
    "a strawberry": "red",
    "a ripe banana": "yellow",
    "a lemon": "yellow",
    "a carrot": "orange",
    "a pumpkin": "orange",
    "lavender": "purple",
    "a flamingo": "pink",
    "chocolate": "brown",
    "coal": "black",
}
KNOWN_SHAPE_ITEMS: dict[str, str] = {
    "a coin": "circle",
    "a wheel": "circle",
    "a slice of pizza": "triangle",
    "a honeycomb cell": "hexagon",
    "a starfish": "star",
    "a kite": "diamond",
    "a postage stamp": "square",
}
KNOWN_BACKGROUND_ITEMS: dict[str, str] = {
    "fresh snow": "white",
    "milk": "white",
    "vanilla ice cream": "cream",
    "a pale morning sky": "light blue",
    "a rain cloud": "light gray",
}

_KNOWN_RE = re.compile(r"^the (color|shape) (?:of|on top of) (.+)$")
_SUPERLATIVE_RE = re.compile(r"^the (largest|biggest|smallest|tiniest) (\w+)$")
_SUPERLATIVE_ALT_RE = re.compile(r"^the (\w+) with the (greatest|least) size$")
_KNOWN_SUBJECT_RE = re.compile(r"^the (?:shape|object) that is (the color of .+)$")


def resolve_value(kind: str, text: str) -> str | None:
    """Canonical value of `kind` ('color', 'shape', 'background', 'region', 'size') named by `text`, directly or
    through the small knowledge table; None when unknown.

    >>> resolve_value("color", "the colour of grass"), resolve_value("color", "the colour of denim")
    ('green', None)
    """
    value = canonical_value(kind, text)
    if value is not None:
        return value
    m = _KNOWN_RE.match(normalise(text))
    if m is None:
        return None
    table = {"color": KNOWN_COLOR_ITEMS, "shape": KNOWN_SHAPE_ITEMS, "background": KNOWN_BACKGROUND_ITEMS}.get(kind, {})
    return table.get(m[2].strip())


def _unique_extreme(members: list[CanvasObject], largest: bool) -> CanvasObject | None:
    if len(members) < 2:
        return None
    ranked = sorted(members, key=lambda o: SIZE_ORDER.index(o.size), reverse=largest)
    return ranked[0] if ranked[0].size != ranked[1].size else None


def _name(obj: CanvasObject, scene: Scene) -> str:
    return describe(obj, scene) or phrase(obj, ("size", "color", "shape", "region"))


def resolve_subject(text: str, scene: Scene) -> tuple[list[str], list[CanvasObject], str]:
    """Subject phrase -> (descriptions, objects, note).

    Explicit descriptions are kept as written (their objects looked up in `scene`); easy indirect references are
    rewritten as explicit descriptions; anything else comes back verbatim with no objects and a note saying why.
    """
    text = normalise(text)
    desc = parse_description(text)
    if desc is not None:
        found = resolve(text, scene.objects)
        note = "" if len(found) == 1 else f"{text!r} matches {len(found)} objects"
        return [text], found if len(found) == 1 else [], note
    m = _SUPERLATIVE_RE.match(text) or _SUPERLATIVE_ALT_RE.match(text)
    if m is not None:
        word, noun = (m[1], m[2]) if m.re is _SUPERLATIVE_RE else (m[2], m[1])
        largest = word in ("largest", "biggest", "greatest")
        members = [o for o in scene.objects if noun == "shape" or o.shape == noun]
        if noun == "shape" or noun in SHAPES:
            obj = _unique_extreme(members, largest)
            if obj is not None:
                return [_name(obj, scene)], [obj], ""
        return [text], [], f"{text!r}: no unique {'largest' if largest else 'smallest'} {noun}"
    m = _KNOWN_SUBJECT_RE.match(text)
    if m is not None:
        color = resolve_value("color", m[1])
        members = [o for o in scene.objects if o.color == color] if color else []
        if len(members) == 1:
            return [_name(members[0], scene)], members, ""
        return [text], [], f"{text!r}: " + ("unknown item" if color is None else f"{len(members)} {color} objects")
    return [text], [], f"{text!r} is an indirect reference the rule thinker does not resolve"


#: How a reader turns a subject phrase into (explicit descriptions, objects, note) on the step's scene, and a value
#: phrase of a kind into a canonical value: `resolve_subject` / `resolve_value` here, the verifier's full reader in
#: `agents.canvas_reader`.
SubjectResolver = Callable[[str, Scene], tuple[list[str], list[CanvasObject], str]]
ValueResolver = Callable[[str, str], str | None]


@dataclass(frozen=True)
class Step:
    """One clause of a plan, resolved on the scene as it is when the step runs.

    `component` has explicit subjects and canonical targets where they could be resolved, the words as written
    elsewhere; `resolved` is True when all of it was; `explicit` is the EXPLICIT clause (the clause as written when
    it did not parse); `written` is the clause's position in the text.
    """

    clause: Clause
    component: Component | None
    resolved: bool
    explicit: str
    note: str = ""

    @property
    def written(self) -> int:
        return self.clause.written


def _resolve_clause(parsed: ParsedClause, scene: Scene, subject_resolver: SubjectResolver = resolve_subject,
                    value_resolver: ValueResolver = resolve_value) -> tuple[Component, bool, list[str]]:
    notes: list[str] = []
    action = parsed.action
    if action == "background":
        subjects, objects_ok = [BACKGROUND_SUBJECT], True
    elif action == "add":
        subjects, objects_ok = list(parsed.subjects), True
    else:
        subjects, objects = [], []
        objects_ok = True
        for text in parsed.subjects:
            names, found, note = subject_resolver(text, scene)
            subjects += names
            objects += found
            objects_ok &= bool(found)
            if note:
                notes.append(note)
    target: list[str] = []
    target_ok = True
    if action != "remove":
        if parsed.relative:
            sizes = {o.size for o in objects} if objects_ok else set()
            value = relative_size(next(iter(sizes)), parsed.target) if len(sizes) == 1 else None  # type: ignore[arg-type]
            if value is None:
                notes.append(f"cannot tell what '{parsed.target}' means for {', '.join(subjects)}")
        elif parsed.target is not None:
            value = parsed.target
        else:
            kind = {"recolor": "color", "reshape": "shape", "background": "background", "move": "region",
                    "add": "region", "resize": "size"}[action]
            value = value_resolver(kind, parsed.target_text)
            if value is None:
                notes.append(f"unknown {kind} {parsed.target_text!r}")
        target_ok = value is not None
        target = [value if value is not None else (parsed.target or parsed.target_text)]
    return Component(action, tuple(subjects), tuple(target)), objects_ok and target_ok, notes


def read_steps(text: str, scene: Scene, order: Sequence[int] | None = None, *,
               subject_resolver: SubjectResolver = resolve_subject, value_resolver: ValueResolver = resolve_value) -> list[Step]:
    """Read `text` into resolved steps, in execution order, tracking `scene` through them.

    `order` (written indices) overrides the execution order the wording gives. A step that cannot be resolved or
    executed leaves the tracked scene as it was. `subject_resolver` / `value_resolver` are the rule thinker's
    (`resolve_subject`, `resolve_value`: easy references only) unless a stronger reader is passed, as the Canvas
    verifier's `reader="full"` does (`agents.canvas_reader`).
    """
    parsed_text = parse_text(text)
    clauses = list(parsed_text.clauses)
    if order is not None:
        by_written = {c.written: c for c in clauses}
        clauses = [by_written[i] for i in order if i in by_written]
    steps: list[Step] = []
    for clause in clauses:
        if clause.parsed is None:
            steps.append(Step(clause, None, False, clause.text, f"could not parse {clause.text!r}"))
            continue
        component, resolved, notes = _resolve_clause(clause.parsed, scene, subject_resolver, value_resolver)
        if resolved:
            try:
                scene = simulate(scene, component)
            except EditError as err:
                notes.append(f"does not run on the perceived scene: {err}")
        steps.append(Step(clause, component, resolved, to_explicit_clause(component), "; ".join(notes)))
    return steps


_FAILED_RE = re.compile(r"Failed: (.+?\?) \(expected (yes|no), (?:saw (?:yes|no)|could not tell)\)")
_NOW_RE = re.compile(r"^Is (the .+?) now (.+)\?$")
_REMOVED_RE = re.compile(r"^Has (the .+?) been removed\?$")
_ADDED_RE = re.compile(r"^Is there an? (\w+) (\w+) (\w+) in the (.+)\?$")
_BACKGROUND_RE = re.compile(r"^Is the background now (.+)\?$")


def feedback_fixes(feedback: str) -> list[tuple[str, str, dict[str, str]]]:
    """The changes that failed checklist items ask for: (kind, name, values) with kind 'change' (values: any of
    color, size, shape, region), 'remove', 'add' (name: the new object) or 'background' (values: background).

    >>> feedback_fixes("Failed: Is the circle now blue and a star? (expected yes, saw no)\\n"
    ...                "Failed: Is the background still white? (expected yes, saw no)")
    [('change', 'the circle', {'color': 'blue', 'shape': 'star'})]
    """
    fixes: list[tuple[str, str, dict[str, str]]] = []
    for question, expected in _FAILED_RE.findall(feedback):
        if expected != "yes":
            continue
        if m := _BACKGROUND_RE.match(question):
            if m[1] in BACKGROUNDS:
                fixes.append(("background", BACKGROUND_SUBJECT, {"background": m[1]}))
        elif m := _NOW_RE.match(question):
            values: dict[str, str] = {}
            for part in m[2].split(" and "):
                part = part.strip()
                if part in COLORS:
                    values["color"] = part
                elif part in SIZES:
                    values["size"] = part
                elif part.removeprefix("an ").removeprefix("a ") in SHAPES:
                    values["shape"] = part.removeprefix("an ").removeprefix("a ")
                elif part.removeprefix("in the ") in REGIONS:
                    values["region"] = part.removeprefix("in the ")
            if values:
                fixes.append(("change", m[1], values))
        elif m := _REMOVED_RE.match(question):
            fixes.append(("remove", m[1], {}))
        elif (m := _ADDED_RE.match(question)) and not question.startswith("Is there still"):
            if m[1] in SIZES and m[2] in COLORS and m[3] in SHAPES and m[4] in REGIONS:
                fixes.append(("add", f"a {m[1]} {m[2]} {m[3]}", {"region": m[4]}))
    return fixes


def _fix_components(fix: tuple[str, str, dict[str, str]], source: Scene, scene: Scene) -> list[Component]:
    """Components that make one fix on `scene` (the source scene after the kept steps)."""
    kind, name, values = fix
    if kind == "add":
        return [Component("add", (name,), (values["region"],))]
    if kind == "background":
        return [Component("background", (BACKGROUND_SUBJECT,), (values["background"],))]
    found = resolve(name, source.objects)
    if len(found) != 1 or not scene.has_oid(found[0].oid):
        return []
    oid = found[0].oid
    if kind == "remove":
        return [Component("remove", (_name(scene.by_oid(oid), scene),))]
    out = []
    for attr, action in (("color", "recolor"), ("size", "resize"), ("shape", "reshape"), ("region", "move")):
        obj = scene.by_oid(oid)
        if attr in values and getattr(obj, attr) != values[attr]:
            comp = Component(action, (_name(obj, scene),), (values[attr],))
            try:
                scene = simulate(scene, comp)
            except EditError:
                continue
            out.append(comp)
    return out


class RuleThinker(Agent):
    """Rewrites the instruction as explicit single-step clauses in execution order (module docstring)."""

    role = "thinker"
    backend = "rule"

    def act(self, state: EpisodeState) -> Plan:
        scene = scene_from_perception(perceive_png(state.source_png))
        steps = read_steps(state.instruction, scene)
        think = [f"perceived {len(scene.objects)} objects on {scene.background}"]
        if state.feedback:
            steps, why = self._replan(state, scene, steps)
            think.append(f"reflection round {state.round}: {why}; feedback was: {state.feedback}")
        for k, step in enumerate(steps, start=1):
            think.append(f"{k}. {step.explicit}" + (f"  [{step.note}]" if step.note else ""))
        return Plan(text=explicit_text([s.explicit for s in steps]), think="\n".join(think))

    def _replan(self, state: EpisodeState, scene: Scene, steps: list[Step]) -> tuple[list[Step], str]:
        fixes = feedback_fixes(state.feedback or "")
        if fixes:
            kept = [s for s in steps if s.resolved]
            tracked = scene
            for step in kept:
                try:
                    tracked = simulate(tracked, step.component)  # type: ignore[arg-type]
                except EditError:
                    pass
            added: list[Step] = []
            # Removals first (they make room), additions last (they need it).
            for fix in sorted(fixes, key=lambda f: ("remove", "change", "background", "add").index(f[0])):
                for comp in _fix_components(fix, scene, tracked):
                    try:
                        tracked = simulate(tracked, comp)
                    except EditError:
                        continue
                    clause = Clause(to_explicit_clause(comp), None, len(steps) + len(added), len(kept) + len(added))
                    added.append(Step(clause, comp, True, clause.text, "from the verifier's feedback"))
            if added:
                return kept + added, f"kept {len(kept)} resolved steps and added {len(added)} from the failed items"
        if "(expected yes, saw" not in (state.feedback or "") and "(expected no, saw" not in (state.feedback or ""):
            # Only items nobody could answer failed (steps the reading could not resolve): no order fixes that.
            return steps, "the failed items were unanswerable; kept the plan"
        return self._reorder(state, scene, steps)

    def _reorder(self, state: EpisodeState, scene: Scene, steps: list[Step]) -> tuple[list[Step], str]:
        from agents.sorter import dependency_order  # the sorter's heuristic; imported late to keep modules apart

        tried = {r.plan.text for r in state.history if r.plan is not None}
        if state.plan is not None:
            tried.add(state.plan.text)
        written = sorted(s.written for s in steps)
        by_written = sorted(steps, key=lambda s: s.written)
        heuristic = [by_written[i].written for i in dependency_order([s.component for s in by_written])]
        candidates = [("the order the wording gives", None), ("the dependency heuristic's order", heuristic),
                      ("the written order", written)]
        for why, order in candidates:
            candidate = steps if order is None else read_steps(state.instruction, scene, order)
            if explicit_text([s.explicit for s in candidate]) not in tried:
                return candidate, f"re-planned with {why}"
        return steps, "no untried order left; kept the wording's order"
