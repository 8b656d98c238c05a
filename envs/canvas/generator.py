"""The Canvas task generator: scenes, multi-step instructions with order words and indirect references, and the
full ground truth (explicit instruction, components, dependency graph and a valid order, checklist, target).

How one task is made (`generate_task`):
1. Draw a reasoning category, a number of steps (1-4) and a source scene.
2. Build the steps in execution order on the evolving scene. A step picks an action, a subject reference (direct,
   or indirect for the one step that carries the category) and a target; later steps prefer objects that earlier
   steps touched, so references often only resolve after an earlier edit ("...then move the blue circle").
3. Dependencies: each step reads and writes attributes (`Read`/`Write` below). Step j depends on an earlier step i
   when one writes what the other reads or writes, or both act on one object. The graph (networkx) is
   conservative; every topological order is then *executed* and must reach the same target scene, else the task is
   rejected, so every emitted order really is valid.
4. Wording: consecutive steps are paired and written with forward, reversed ("B after you A") or, when independent,
   unordered connectives; a step left on its own may be worded as a saying ("the star has to go") or, for a
   one-step request, a question; segments are joined in execution order. Components are listed in written order and
   `order` maps back to an execution order.
5. Split: train tasks use no held-out template or template pair; test tasks use at least one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterator

import networkx as nx

from envs.canvas.checklist import build_checklist
from envs.canvas.execute import EditError, apply_component, execute
from envs.canvas.reasoning import (
    SUBJECT_FINDERS,
    Reference,
    canonical_new_object,
    direct_references,
    compare_scan,
    knowledge_value,
    new_object_phrase,
    order_scan,
    reference_scan,
    running_scan,
    scene_text_order,
    size_word,
)
from envs.canvas.refer import BACKGROUND_SUBJECT, describe, join_phrases
from envs.canvas.render import DEFAULT_SIZE, render
from envs.canvas.scene import MAX_OBJECTS, Scene, random_scene
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
    template_id,
    uses_held_out,
)
from envs.canvas.vocab import BACKGROUNDS, COLORS, REGIONS, SHAPES, SIZE_ORDER, SIZES
from envs.task import ChecklistItem, ComponentSpec, EditTask
from envs.image_io import encode_png
from rewards.types import Component

Attr = tuple[Any, str]  # (object id | "*" | "bg", attribute)
ALL_ATTRS = ("shape", "color", "size", "pos", "exists")

CATEGORY_WEIGHTS = {"direct": 0.3, "knowledge": 0.14, "spatial": 0.14, "superlative": 0.14, "attribute": 0.14, "logic": 0.14}
STEP_WEIGHTS = {1: 0.25, 2: 0.3, 3: 0.25, 4: 0.2}
ACTION_WEIGHTS = {"recolor": 0.24, "move": 0.14, "resize": 0.14, "reshape": 0.14, "remove": 0.12, "add": 0.12, "background": 0.1}
#: Actions that accept several subjects at once (a move puts its object on a region anchor: one at a time).
PLURAL_ACTIONS = ("recolor", "resize", "reshape", "remove")


#: Share of stand-alone segments worded as a saying ("the star has to go") rather than an imperative clause, and
#: of one-step sayings asked as a question instead.
SAYING_SHARE = 0.3
QUESTION_SHARE = 0.35
#: Share of direct references written casually: "that square", "the little triangle" (the ground truth keeps the
#: canonical description).
CASUAL_REFERENCE_SHARE = 0.25
#: Share of instructions typed in lower case without a final full stop, as in a chat box.
CHAT_CASE_SHARE = 0.2


class Reject(Exception):
    """This draw cannot make a valid task; draw again."""


@dataclass(frozen=True)
class Wording:
    """One way of writing a step, with the id of the template it came from."""

    text: str
    template: str


@dataclass
class Step:
    action: str
    component: Component
    clause: Wording
    explicit_clause: str
    templates: list[str]  # reference and knowledge templates; the wording's template is chosen in `compose`
    reads: set[Attr]
    writes: set[Attr]
    subjects: tuple[int, ...] = ()
    category: str = "direct"
    saying: Wording | None = None
    question: Wording | None = None
    note: str | None = None  # what the step's indirect reference or knowledge phrase names ("<phrase> = <meaning>")
    scan: str = ""  # how the note's reference is resolved, object by object (`reference_scan`); "" for a value
    running: str = ""  # the same by keeping the best so far (`running_scan`); "" unless a superlative of one value
    ordered: str = ""  # the competing objects top to bottom (`order_scan`); "" unless a superlative of height
    compared: str = ""  # the running best with each decision written out (`compare_scan`); as `running`


@dataclass
class GeneratorConfig:
    size: int = DEFAULT_SIZE
    max_attempts: int = 500
    category_weights: dict[str, float] = field(default_factory=lambda: dict(CATEGORY_WEIGHTS))
    step_weights: dict[int, float] = field(default_factory=lambda: dict(STEP_WEIGHTS))


def _weighted(rng: random.Random, weights: dict[Any, float]) -> Any:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _choose(rng: random.Random, options: list[Any]) -> Any:
    if not options:
        raise Reject("nothing to choose from")
    return rng.choice(options)


def _wordings(rng: random.Random, family: str, plural: bool = False, avoid: str | None = None,
              **slots: str) -> tuple[Wording, Wording, Wording]:
    """The clause, saying and question of one step: every table is drawn from, so the draws do not depend on which
    wording `compose` keeps. Templates containing ``avoid`` are not drawn (a knowledge phrase does not fit
    "a {bg} background")."""
    agree = ({"is": "are", "has": "have", "needs": "need", "it": "them"} if plural
             else {"is": "is", "has": "has", "needs": "needs", "it": "it"})
    out = []
    for prefix, table in (("", CLAUSES), ("say_", SAYINGS), ("ask_", QUESTIONS)):
        indices = [k for k, t in enumerate(table[family]) if avoid is None or avoid not in t]
        index = rng.choice(indices)
        out.append(Wording(table[family][index].format(**slots, **agree), template_id(prefix + family, index)))
    return out[0], out[1], out[2]


def _casual(rng: random.Random, text: str) -> str:
    """A direct reference as people type it: "that square", "the little triangle"."""
    if rng.random() >= CASUAL_REFERENCE_SHARE:
        return text
    words = text.split()
    sizes = [k for k, w in enumerate(words) if w in SIZE_WORDS]
    if sizes and rng.random() < 0.6:
        k = sizes[0]
        words[k] = rng.choice(SIZE_WORDS[words[k]])
    elif words[0] == "the":
        words[0] = rng.choice(("that", "this"))
    return " ".join(words)


def _shape_np(shape: str, plural: bool) -> str:
    if plural:
        return f"{shape}es" if shape.endswith("s") else f"{shape}s"
    return f"an {shape}" if shape[0] in "aeiou" else f"a {shape}"


# -- steps --------------------------------------------------------------------------------------------------------

def _subject_reference(rng: random.Random, scene: Scene, category: str, action: str, touched: list[int]) -> Reference:
    if category in SUBJECT_FINDERS:
        options = [r for r in SUBJECT_FINDERS[category](scene, rng) if action in PLURAL_ACTIONS or not r.plural]
        if not options:
            raise Reject(f"no {category} reference for {action}")
        return rng.choice(options)
    pool = [scene.by_oid(i) for i in touched if scene.has_oid(i)]
    obj = rng.choice(pool) if pool and rng.random() < 0.5 else _choose(rng, list(scene.objects))
    ref = direct_references(obj, scene, rng)
    if ref is None:
        raise Reject("object cannot be described uniquely")
    return ref


def make_step(rng: random.Random, scene: Scene, category: str, touched: list[int]) -> Step:
    """One step in the given reasoning category, valid on `scene`; raises Reject when the draw does not fit."""
    actions = dict(ACTION_WEIGHTS)
    knowledge_target = category == "knowledge" and rng.random() < 0.6
    if knowledge_target:
        actions = {a: actions[a] for a in ("recolor", "reshape", "background")}
    elif category not in ("direct", "knowledge"):
        actions = {a: w for a, w in actions.items() if a not in ("add", "background")}
    if len(scene.objects) >= MAX_OBJECTS:
        actions.pop("add", None)
    if len(scene.objects) <= 1:
        actions.pop("remove", None)
    action = _weighted(rng, actions)
    subject_category = "direct" if knowledge_target else category

    if action == "background":
        value = _choose(rng, [b for b in BACKGROUNDS if b != scene.background])
        text, tid = knowledge_value("background", value, rng) if knowledge_target else (rng.choice(BACKGROUND_WORDS[value]), None)
        clause, saying, question = _wordings(rng, "background", bg=text, avoid="{bg} background" if knowledge_target else None)
        comp = Component("background", (BACKGROUND_SUBJECT,), (value,))
        return Step(action, comp, clause, EXPLICIT["background"].format(bg=value), [tid] if tid else [],
                    reads=set(), writes={("bg", "bg")}, category="knowledge" if knowledge_target else "direct",
                    saying=saying, question=question, note=f"{text} = {value}" if knowledge_target else None)

    if action == "add":
        shape, color, size = rng.choice(SHAPES), rng.choice(list(COLORS)), rng.choice(list(SIZES))
        region = rng.choice(list(REGIONS))
        comp = Component("add", (canonical_new_object(shape, color, size),), (region,))
        clause, saying, question = _wordings(rng, "add", obj=new_object_phrase(shape, color, size, rng),
                                             region=rng.choice(REGION_PHRASES[region]))
        explicit = EXPLICIT["add"].format(obj=comp.subject[0], region=region)
        writes = {("*", a) for a in ALL_ATTRS}
        return Step(action, comp, clause, explicit, [], reads={("*", "pos"), ("*", "size")}, writes=writes,
                    saying=saying, question=question)

    ref = _subject_reference(rng, scene, subject_category, action, touched)
    objects = [scene.by_oid(i) for i in ref.oids]
    if ref.category == "direct":
        subjects = (ref.text,)
    else:
        names = [describe(o, scene) for o in objects]
        if None in names:
            raise Reject("a referenced object has no explicit description")
        subjects = tuple(names)  # type: ignore[arg-type]
    plural = len(objects) > 1
    shown = _casual(rng, ref.text) if ref.category == "direct" else ref.text
    templates = [] if ref.category == "direct" else [ref.template]
    # The note lists its objects in the order of the scene text (top to bottom, then left to right), as its scan does.
    in_scene_order = scene_text_order(objects)
    note = None if ref.category == "direct" else f"{ref.text} = " + ", ".join(f"{o.size} {o.color} {o.shape}" for o in in_scene_order)
    scan = "" if ref.category == "direct" else reference_scan(ref, scene)
    running = "" if ref.category == "direct" else running_scan(ref, scene)
    ordered = "" if ref.category == "direct" else order_scan(ref, scene)
    compared = "" if ref.category == "direct" else compare_scan(ref, scene)
    reads: set[Attr] = set(ref.reads)
    writes: set[Attr] = set()

    if action == "recolor":
        choices = [c for c in COLORS if all(o.color != c for o in objects)]
        value = _choose(rng, choices)
        text = value
        if knowledge_target:
            text, tid = knowledge_value("color", value, rng)
            templates.append(tid)
            note, scan, running, ordered, compared = f"{text} = {value}", "", "", "", ""
        clause, saying, question = _wordings(rng, "recolor", plural, subj=shown, color=text)
        explicit = EXPLICIT["recolor"].format(subj=join_phrases(subjects), color=value)
        writes = {(o.oid, "color") for o in objects}
    elif action == "reshape":
        value = _choose(rng, [s for s in SHAPES if all(o.shape != s for o in objects)])
        text = _shape_np(value, plural)
        if knowledge_target:
            text, tid = knowledge_value("shape", value, rng)
            templates.append(tid)
            note, scan, running, ordered, compared = f"{text} = {value}", "", "", "", ""
        clause, saying, question = _wordings(rng, "reshape", plural, subj=shown, shape_np=text)
        explicit = EXPLICIT["reshape"].format(subj=join_phrases(subjects), shape_np=_shape_np(value, plural))
        writes = {(o.oid, "shape") for o in objects}
    elif action == "resize":
        sizes = {o.size for o in objects}
        value = _choose(rng, [s for s in SIZES if s not in sizes])
        family = "resize"
        if len(sizes) == 1 and rng.random() < 0.4:
            step = SIZE_ORDER.index(value) - SIZE_ORDER.index(next(iter(sizes)))
            if step in (1, -1):
                family = "resize_up" if step == 1 else "resize_down"
        clause, saying, question = _wordings(rng, family, plural, subj=shown, size=size_word(value, rng))
        explicit = EXPLICIT["resize"].format(subj=join_phrases(subjects), size=value)
        writes = {(o.oid, "size") for o in objects}
        reads |= {("*", "pos"), ("*", "size")}
    elif action == "move":
        value = _choose(rng, [r for r in REGIONS if r != objects[0].region])
        clause, saying, question = _wordings(rng, "move", plural, subj=shown, region=rng.choice(REGION_PHRASES[value]))
        explicit = EXPLICIT["move"].format(subj=subjects[0], region=value)
        writes = {(objects[0].oid, "pos")}
        reads |= {("*", "pos"), ("*", "size")}
    elif action == "remove":
        value = None
        clause, saying, question = _wordings(rng, "remove", plural, subj=shown)
        explicit = EXPLICIT["remove"].format(subj=join_phrases(subjects))
        writes = {("*", a) for a in ALL_ATTRS}
    else:  # pragma: no cover - ACTION_WEIGHTS and the branches above list the same actions
        raise AssertionError(action)
    comp = Component(action, subjects, (value,) if value is not None else ())
    return Step(action, comp, clause, explicit, templates, reads, writes, tuple(o.oid for o in objects),
                category="knowledge" if knowledge_target else ref.category, saying=saying, question=question, note=note,
                scan=scan, running=running, ordered=ordered, compared=compared)


# -- dependencies ---------------------------------------------------------------------------------------------------

def _overlap(a: set[Attr], b: set[Attr]) -> bool:
    return any(x[1] == y[1] and (x[0] == y[0] or "*" in (x[0], y[0])) for x in a for y in b)


def dependency_graph(steps: list[Step]) -> nx.DiGraph:
    """Edges i -> j (i < j, execution order) where j must follow i."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(steps)))
    for i, a in enumerate(steps):
        for j in range(i + 1, len(steps)):
            b = steps[j]
            if set(a.subjects) & set(b.subjects) or _overlap(a.writes, b.reads) or _overlap(b.writes, a.reads) or _overlap(a.writes, b.writes):
                graph.add_edge(i, j)
    return graph


# -- wording --------------------------------------------------------------------------------------------------------

def _sentence_case(text: str) -> str:
    out = text[:1].upper() + text[1:]
    for mark in (". ", "? "):
        parts = out.split(mark)
        out = mark.join(p[:1].upper() + p[1:] if k else p for k, p in enumerate(parts))
    return out


def compose(rng: random.Random, steps: list[Step], graph: nx.DiGraph) -> tuple[str, list[int], list[str]]:
    """Instruction text, the written order (execution indices in the order written) and the template ids used."""
    segments: list[tuple[str, list[int]]] = []
    templates: list[str] = []
    sayings = 0
    i = 0
    while i < len(steps):
        if i + 1 < len(steps) and rng.random() < 0.6:
            a, b = steps[i].clause, steps[i + 1].clause
            families = [("fwd", FORWARD), ("rev", REVERSED)] + ([] if graph.has_edge(i, i + 1) else [("both", BOTH)])
            name, table = rng.choice(families)
            index = rng.randrange(len(table))
            templates += [template_id(name, index), a.template, b.template]
            written = [i + 1, i] if name == "rev" else [i, i + 1]
            segments.append((table[index].format(A=a.text, B=b.text), written))
            i += 2
        else:
            wording = steps[i].clause
            if steps[i].saying is not None and rng.random() < SAYING_SHARE:
                question = len(steps) == 1 and steps[i].question is not None and rng.random() < QUESTION_SHARE
                wording = steps[i].question if question else steps[i].saying
                sayings += 1
            templates.append(wording.template)
            segments.append((wording.text, [i]))
            i += 1
    text = segments[0][0]
    for k, (segment, _) in enumerate(segments[1:], start=1):
        final = k == len(segments) - 1 and len(segments) >= 2 and rng.random() < 0.5
        table, name = (FINAL_JOINERS, "final") if final else (JOINERS, "join")
        index = rng.randrange(len(table))
        templates.append(template_id(name, index))
        text += table[index] + segment
    # A multi-segment text may open with "after you ...": only wrappers that leave its start alone fit; a saying
    # takes no verb wrapper ("Could you the star has to go?"), and a question keeps its question mark.
    if text.endswith("?"):
        family, table = "qwrap", QUESTION_WRAPPERS
    elif sayings:
        family, table = "swrap", SAYING_WRAPPERS
    else:
        family, table = "wrap", WRAPPERS
    wrappers = table if len(segments) == 1 else tuple(w for w in table if w.startswith("{c}"))
    index = rng.randrange(len(wrappers))
    templates.append(template_id(family, table.index(wrappers[index])))
    text = _sentence_case(wrappers[index].format(c=text))
    if rng.random() < CHAT_CASE_SHARE:
        text = text[:1].lower() + text[1:].rstrip(".")
    written = [s for _, order in segments for s in order]
    return text, written, templates


def explicit_instruction(steps: list[Step]) -> str:
    return _sentence_case(". Then ".join(s.explicit_clause for s in steps) + ".")


def reference_description(scene: Scene) -> str:
    """A rational reference description of a scene: what the ideal edited image shows, in words."""
    parts = [f"a {o.size} {o.color} {o.shape} in the {o.region}" for o in sorted(scene.objects, key=lambda o: (round(o.y, 2), o.x))]
    return f"A {scene.background} background with " + (join_phrases(parts) if parts else "no shapes") + "."


# -- tasks ----------------------------------------------------------------------------------------------------------

def _attempt(rng: random.Random, split: str, cfg: GeneratorConfig) -> tuple[Scene, Scene, list[Step], nx.DiGraph, str, list[int], list[str]]:
    category = _weighted(rng, cfg.category_weights)
    n_steps = _weighted(rng, cfg.step_weights)
    source = random_scene(rng, min_objects=2 if category in ("direct", "knowledge") else 3)
    indirect_at = rng.randrange(n_steps) if category != "direct" else -1
    steps: list[Step] = []
    scene = source
    touched: list[int] = []
    for k in range(n_steps):
        step_category = category if k == indirect_at else "direct"
        for _ in range(20):
            try:
                step = make_step(rng, scene, step_category, touched)
                after = apply_component(scene, step.component)
                if not after.objects:
                    raise Reject("an edit may not empty the canvas")
                scene = after
                break
            except (Reject, EditError):
                continue
        else:
            raise Reject("no valid step")
        if k == indirect_at and step.category != category:
            raise Reject("indirect step lost its category")
        steps.append(step)
        touched.extend(step.subjects)
    if source.same_content(scene):
        raise Reject("the edits cancel out")
    graph = dependency_graph(steps)
    components = [s.component for s in steps]
    for order in nx.all_topological_sorts(graph):
        try:
            result = execute(source, components, order)
        except EditError as err:
            raise Reject(f"order {order} fails: {err}") from None
        if not result.same_content(scene):
            raise Reject(f"order {order} reaches another scene")
    text, written, templates = compose(rng, steps, graph)
    templates += [t for s in steps for t in s.templates]  # reference and knowledge templates
    held_out = uses_held_out(templates)
    if held_out != (split == "test"):
        raise Reject("wording does not belong to this split")
    return source, scene, steps, graph, text, written, templates


def generate_task(index: int, seed: int = 0, split: str = "train", cfg: GeneratorConfig | None = None) -> EditTask:
    """The `index`-th task of the (seed, split) stream: deterministic, independent of every other index."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    cfg = cfg or GeneratorConfig()
    rng = random.Random(f"editrl-canvas:{split}:{seed}:{index}")
    for _ in range(cfg.max_attempts):
        try:
            source, target, steps, graph, text, written, templates = _attempt(rng, split, cfg)
        except Reject:
            continue
        position = {e: w for w, e in enumerate(written)}
        category = next((s.category for s in steps if s.category != "direct"), "direct")
        return EditTask(
            task_id=f"canvas-{split}-{seed}-{index:07d}",
            split=split,
            category=category,
            n_steps=len(steps),
            instruction=text,
            explicit_instruction=explicit_instruction(steps),
            source_png=encode_png(render(source, cfg.size)),
            target_png=encode_png(render(target, cfg.size)),
            source_scene=source.to_json(),
            target_scene=target.to_json(),
            components=[ComponentSpec(action=steps[e].component.action, subject=list(steps[e].component.subject), target=list(steps[e].component.target)) for e in written],
            order=[position[e] for e in range(len(steps))],
            dependencies=sorted((position[i], position[j]) for i, j in graph.edges),
            checklist=[ChecklistItem(**item) for item in build_checklist(source, target)],
            reference=reference_description(target),
            template_ids=sorted(set(templates)),
            reasoning=[s.note for s in steps if s.note],
            reasoning_scans=[s.scan for s in steps if s.note],
            reasoning_running_scans=[s.running for s in steps if s.note],
            reasoning_order_scans=[s.ordered for s in steps if s.note],
            reasoning_compare_scans=[s.compared for s in steps if s.note],
        )
    raise RuntimeError(f"could not generate task {index} (seed {seed}, {split}) in {cfg.max_attempts} attempts")


def generate_tasks(n: int, seed: int = 0, split: str = "train", cfg: GeneratorConfig | None = None, start: int = 0) -> Iterator[EditTask]:
    for index in range(start, start + n):
        yield generate_task(index, seed, split, cfg)


#: Step counts of learning data when they should match what held-out tasks ask for. Plain ``generate_tasks`` cannot
#: give that on the train split: an instruction with more clauses is more likely to use a held-out template or
#: template pair, so the split rule rejects long train instructions far more often than short ones (measured: the
#: default train stream is ~60% one-step and ~1% four-step, the test stream ~14% one-step and ~28% four-step).
BALANCED_STEPS: dict[int, float] = {1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25}

#: Attempts per task when the step count is fixed: a four-step train instruction passes the split rule about once
#: in 60 draws (9 templates, 36 template pairs).
_FIXED_STEP_ATTEMPTS = 20000


def generate_mixed_task(index: int, seed: int = 0, split: str = "train", step_mix: dict[int, float] | None = None,
                        size: int = DEFAULT_SIZE, category_mix: dict[str, float] | None = None) -> EditTask:
    """The ``index``-th task of a (seed, split) stream whose number of steps is drawn from ``step_mix`` (default
    :data:`BALANCED_STEPS`) *before* the split rule rejects anything, so the stream has that mixture exactly in
    expectation. ``category_mix`` replaces the generator's category weights (:data:`CATEGORY_WEIGHTS`), e.g. to
    train on the indirect references only. Deterministic and independent of every other index, like
    :func:`generate_task`."""
    mix = step_mix or BALANCED_STEPS
    if not mix or any(k not in STEP_WEIGHTS or w < 0 for k, w in mix.items()) or sum(mix.values()) <= 0:
        raise ValueError(f"step_mix must weigh step counts among {sorted(STEP_WEIGHTS)} with non-negative weights, got {mix}")
    categories = dict(category_mix) if category_mix else dict(CATEGORY_WEIGHTS)
    if any(k not in CATEGORY_WEIGHTS or w < 0 for k, w in categories.items()) or sum(categories.values()) <= 0:
        raise ValueError(f"category_mix must weigh categories among {', '.join(CATEGORY_WEIGHTS)} with non-negative weights, "
                         f"got {category_mix}")
    n_steps = _weighted(random.Random(f"editrl-canvas-steps:{split}:{seed}:{index}"), mix)
    cfg = GeneratorConfig(size=size, max_attempts=_FIXED_STEP_ATTEMPTS, step_weights={n_steps: 1.0}, category_weights=categories)
    return generate_task(index, seed, split, cfg)


def generate_mixed_tasks(n: int, seed: int = 0, split: str = "train", step_mix: dict[int, float] | None = None,
                         size: int = DEFAULT_SIZE, start: int = 0, category_mix: dict[str, float] | None = None) -> Iterator[EditTask]:
    """Tasks ``start .. start + n - 1`` of :func:`generate_mixed_task`'s stream."""
    for index in range(start, start + n):
        yield generate_mixed_task(index, seed, split, step_mix, size, category_mix)


def generate_stream_task(index: int, seed: int = 0, split: str = "train", step_mix: dict[int, float] | None = None,
                         category_mix: dict[str, float] | None = None, size: int = DEFAULT_SIZE) -> EditTask:
    """The ``index``-th task of the plain stream (:func:`generate_task`) when neither mixture is given, else of the
    mixed stream (:func:`generate_mixed_task`): the one place that choice is made for learning data."""
    if step_mix is None and category_mix is None:
        return generate_task(index, seed, split, GeneratorConfig(size=size))
    return generate_mixed_task(index, seed, split, step_mix, size, category_mix)
