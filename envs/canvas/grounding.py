"""Grounded scores of a decomposition: does each component act on the right objects, whatever words name them?

The paper's structured F1 (:mod:`rewards.f1`) compares subject *strings* with one canonical description, so "the
green circle" scores 0 against the ground truth "the green shape" although both name the same object, and an
RL reward built on it pushes a policy toward one wording instead of toward the right object. Here a predicted
subject is resolved (:func:`envs.canvas.refer.resolve`) on the scene as it is right before the matched ground-truth
component runs (the ground-truth edits executed in a valid order up to that point), and the *objects* are compared.

Pure functions of scenes and components, and the ``grounded_f1`` reward that adapts them to a
:class:`~rewards.RewardContext`. The reward is registered here rather than in :mod:`rewards.builtin` because it needs
the Canvas world and the rewards layer imports no environment; :mod:`envs` imports this module, so the name is
registered for every caller that works with tasks.
"""

from __future__ import annotations

from typing import Any, Sequence

from envs.canvas.execute import apply_component
from envs.canvas.refer import BACKGROUND_SUBJECT, parse_description, resolve
from envs.canvas.scene import Scene
from rewards.builtin import predicted_or_parsed
from rewards.f1 import max_weight_assignment, set_f1
from rewards.registry import RewardContext, register_reward
from rewards.text import normalize_members
from rewards.types import Component, ComponentLike, as_components

__all__ = ["truth_states", "grounded_similarity", "grounded_component_scores", "grounded_f1", "grounded_f1_from_context",
           "note_subjects"]


def truth_states(source: Scene, truth: Sequence[Component], order: Sequence[int]) -> list[Scene]:
    """The scene right before each ground-truth component runs, indexed like ``truth`` (written order), executing
    the components in ``order`` (a valid execution order, as :attr:`envs.task.EditTask.order`)."""
    if sorted(order) != list(range(len(truth))):
        raise ValueError(f"order {list(order)} is not a permutation of 0..{len(truth) - 1}")
    states: list[Scene | None] = [None] * len(truth)
    scene = source
    for index in order:
        states[index] = scene
        scene = apply_component(scene, truth[index])
    return states  # type: ignore[return-value]


def note_subjects(source: Scene, truth: Sequence[Component], order: Sequence[int], notes: Sequence[str], *,
                  readable: bool = False) -> list[tuple[str, ...] | None]:
    """Per ground-truth component, its subject written as the objects of the reasoning note that names them ("the
    medium purple star" for the note "the topmost shape = medium purple star", in the note's order), or None when no
    note lists exactly the component's objects, or when a full description would not name one object alone on the
    scene of that step (two medium purple stars). ``notes`` as :attr:`envs.task.EditTask.reasoning`.

    With ``readable``, a note whose *phrase* the editor's description grammar reads, on the scene of that step, as
    exactly the component's objects ("the object in the top right") gives that phrase instead: the editor then
    resolves it on the scene it edits, as it does when the rule thinker passes the request on, whereas a named
    object must be worked out from the source scene, before earlier steps moved or changed anything.

    The canonical subject is the *shortest* unique description ("the purple shape"), which a policy can only write
    after checking every other object of the scene; the note's full description is already written in its think.

    >>> from envs.canvas.scene import CanvasObject
    >>> s = Scene("white", (CanvasObject("star", "purple", "medium", 0.5, 0.2, 0), CanvasObject("star", "red", "medium", 0.3, 0.6, 1)))
    >>> note_subjects(s, [Component("remove", ("the purple shape",), ()), Component("recolor", ("the red shape",), ("blue",))],
    ...               [0, 1], ["the topmost shape = medium purple star"])
    [('the medium purple star',), None]
    >>> note_subjects(s, [Component("remove", ("the purple shape",), ())], [0], ["the shape in the top = medium purple star"],
    ...               readable=True)
    [('the shape in the top',)]
    """
    from rewards.trace import note_members  # the same parse of a note as the trace credit's

    states = truth_states(source, truth, order)
    listed = [(note, note_members(note)) for note in notes]
    out: list[tuple[str, ...] | None] = []
    for comp, scene in zip(truth, states):
        out.append(None)
        if comp.action.strip().lower() in ("add", "background"):
            continue
        objects = [o for text in comp.subject for o in resolve(text, scene.objects)]
        full = {f"{o.size} {o.color} {o.shape}" for o in objects}
        for note, members in listed:
            if members and members == full and len(objects) == len(full):
                phrase = note.split("=", 1)[0].strip()
                if readable and sorted(o.oid for o in resolve(phrase, scene.objects)) == sorted(o.oid for o in objects):
                    out[-1] = (phrase,)
                    break
                ordered = [m.strip() for m in note.split("=", 1)[1].split(",")]
                if all(len(resolve(f"the {m}", scene.objects)) == 1 for m in ordered):
                    out[-1] = tuple(f"the {m}" for m in ordered)
                break
    return out


def _subject_score(predicted: Component, truth: Component, scene: Scene) -> float:
    action = truth.action.strip().lower()
    if action == "background":
        return 1.0 if [s.strip().lower() for s in predicted.subject] in ([BACKGROUND_SUBJECT], ["background"]) else 0.0
    if action == "add":
        def attributes(members: Sequence[str]) -> set[Any]:
            parsed = [parse_description(m) for m in members]
            return {(d.shape, d.color, d.size) if d is not None else ("unparsed", m) for d, m in zip(parsed, members)}
        return set_f1(attributes(predicted.subject), attributes(truth.subject))
    wanted = {obj.oid for text in truth.subject for obj in resolve(text, scene.objects)}
    named: set[Any] = set()
    for text in predicted.subject:
        matches = resolve(text, scene.objects)
        # A description that names no object, or several, names none of them: it counts as a wrong member.
        named.add(matches[0].oid if len(matches) == 1 else ("unresolved", text))
    return set_f1(named, wanted)


def grounded_similarity(predicted: ComponentLike, truth: ComponentLike, scene: Scene) -> float:
    """Mean of three scores in ``[0, 1]``: same action, target set F1 (normalised words, as structured F1), and
    subject set F1 over the *objects* the subjects resolve to on ``scene`` (the scene before ``truth`` runs).

    >>> from envs.canvas.scene import CanvasObject
    >>> s = Scene("white", (CanvasObject("circle", "green", "small", 0.2, 0.2, 0), CanvasObject("star", "red", "large", 0.7, 0.7, 1)))
    >>> grounded_similarity({"action": "recolor", "subject": "the green circle", "target": "blue"},
    ...                     {"action": "recolor", "subject": "the green shape", "target": "blue"}, s)
    1.0
    >>> grounded_similarity({"action": "recolor", "subject": "the hexagon", "target": "blue"},
    ...                     {"action": "recolor", "subject": "the green shape", "target": "blue"}, s)
    0.6666666666666666
    """
    p, t = as_components([predicted])[0], as_components([truth])[0]
    action = 1.0 if p.action.strip().lower() == t.action.strip().lower() else 0.0
    target = set_f1(normalize_members(p.target), normalize_members(t.target))
    return (action + target + _subject_score(p, t, scene)) / 3


def grounded_component_scores(predicted: Sequence[ComponentLike], truth: Sequence[ComponentLike], order: Sequence[int],
                              source: Scene) -> list[float]:
    """One score per predicted component, in order: its grounded similarity to the ground-truth component it is
    matched with one-to-one (maximum total similarity), 0 when unmatched. The grounded analogue of
    :func:`rewards.f1.component_scores`."""
    pred, true = as_components(predicted), as_components(truth)
    if not pred or not true:
        return [0.0] * len(pred)
    states = truth_states(source, true, order)
    similarity = [[grounded_similarity(p, t, states[j]) for j, t in enumerate(true)] for p in pred]
    scores = [0.0] * len(pred)
    for i, j in max_weight_assignment(similarity):
        scores[i] = similarity[i][j]
    return scores


def grounded_f1(predicted: Sequence[ComponentLike], truth: Sequence[ComponentLike], order: Sequence[int], source: Scene) -> float:
    """``2 * (sum of matched grounded similarities) / (#predicted + #truth)``: 1.0 exactly when every component is
    matched to one that does the same thing to the same objects; missing and extra components cost like F1.
    Both empty: 1.0."""
    if not predicted and not truth:
        return 1.0
    scores = grounded_component_scores(predicted, truth, order, source)
    return 2 * sum(scores) / (len(predicted) + len(truth))


@register_reward("grounded_f1")
def grounded_f1_from_context(ctx: RewardContext) -> float:
    """Grounded F1 of the predicted (or parsed) components: a subject counts when it names the same object as the
    ground truth on the scene of that step, whatever its words. Needs ``truth_components``, ``source_scene`` and
    ``truth_order``, and ``predicted_components`` or ``completion``.

    >>> scene = '{"background": "white", "objects": [{"id": 0, "shape": "circle", "color": "green", "size": "small", "x": 0.2, "y": 0.2}]}'
    >>> grounded_f1_from_context(RewardContext(predicted_components=[{"action": "remove", "subject": "the small circle"}],
    ...     truth_components=[{"action": "remove", "subject": "the circle"}], source_scene=scene, truth_order=[0]))
    1.0
    """
    truth = ctx.require("truth_components", "grounded_f1")
    source = Scene.from_json(ctx.require("source_scene", "grounded_f1"))
    predicted = list(predicted_or_parsed(ctx, "grounded_f1"))
    return grounded_f1(predicted, list(truth), ctx.require("truth_order", "grounded_f1"), source)
