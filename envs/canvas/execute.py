"""Executing edit components on a scene: the world's ground-truth semantics of every action.

A component is `(action, subject, target)` with subject and target as tuples of strings (see `rewards.Component`).

| action     | subject                          | target             |
|------------|----------------------------------|--------------------|
| add        | one indefinite description       | one region         |
|            | ("a small red circle")           | ("top left")       |
| remove     | explicit descriptions            | (empty)            |
| recolor    | explicit descriptions            | one colour         |
| move       | one explicit description         | one region         |
| resize     | explicit descriptions            | one size           |
| reshape    | explicit descriptions            | one shape          |
| background | "the background"                 | one background     |

Every subject must match exactly one object at the moment the component runs; an added or moved object is
placed with its centre on the region's anchor and must keep the minimum gap to every other object. Anything else
raises `EditError`, which says which part of the component failed: that is how the generator proves that every
task it emits is solvable and unambiguous.
"""

from __future__ import annotations

from typing import Any, Sequence

from envs.canvas.refer import BACKGROUND_SUBJECT, parse_description, resolve
from envs.canvas.scene import MAX_OBJECTS, CanvasObject, Scene, fits
from envs.canvas.vocab import ACTIONS, BACKGROUNDS, COLORS, REGIONS, SHAPES, SIZES
from rewards.types import Component, as_component

_TARGETS: dict[str, tuple[str, ...]] = {
    "add": tuple(REGIONS),
    "recolor": tuple(COLORS),
    "move": tuple(REGIONS),
    "resize": tuple(SIZES),
    "reshape": tuple(SHAPES),
    "background": tuple(BACKGROUNDS),
}


class EditError(ValueError):
    """A component that cannot be executed on the scene it was given."""


def _normalise_target(action: str, target: Sequence[str]) -> str | None:
    if action == "remove":
        if target:
            raise EditError(f"remove takes no target, got {list(target)}")
        return None
    if len(target) != 1:
        raise EditError(f"{action} needs exactly one target, got {list(target)}")
    value = " ".join(target[0].lower().replace("colour", "color").replace("grey", "gray").split())
    value = value.removeprefix("the ").removesuffix(" corner")
    if value not in _TARGETS[action]:
        raise EditError(f"{action} target {target[0]!r} is not one of {', '.join(_TARGETS[action])}")
    return value


def resolve_subjects(component: Component, scene: Scene) -> list[CanvasObject]:
    """The objects a (non-add, non-background) component acts on; each subject must match exactly one object."""
    if not component.subject:
        raise EditError(f"{component.action} needs at least one subject")
    chosen: list[CanvasObject] = []
    for text in component.subject:
        matches = resolve(text, scene.objects)
        if len(matches) != 1:
            problem = "matches no object" if not matches else f"matches {len(matches)} objects"
            raise EditError(f"subject {text!r} {problem}; it must name exactly one object")
        if matches[0] in chosen:
            raise EditError(f"subject {text!r} names an object twice")
        chosen.append(matches[0])
    return chosen


def apply_component(scene: Scene, component: Component | dict[str, Any], slack: float = 0.0) -> Scene:
    """Return the scene after executing one component; raise EditError if it cannot run unambiguously.

    `slack` loosens the geometry rules (see `envs.canvas.scene.fits`); the ground truth uses none.

    >>> s = Scene("white", (CanvasObject("circle", "red", "small", 0.2, 0.2, 0),))
    >>> apply_component(s, {"action": "recolor", "subject": ["the red circle"], "target": ["blue"]}).objects[0].color
    'blue'
    """
    comp = as_component(component)
    action = comp.action.strip().lower()
    if action not in ACTIONS:
        raise EditError(f"unknown action {comp.action!r}; use one of {', '.join(ACTIONS)}")
    target = _normalise_target(action, comp.target)

    if action == "background":
        if [s.lower().strip() for s in comp.subject] not in ([BACKGROUND_SUBJECT], ["background"], []):
            raise EditError(f"background takes the subject {BACKGROUND_SUBJECT!r}, got {list(comp.subject)}")
        return scene.with_background(target)

    if action == "add":
        if len(comp.subject) != 1:
            raise EditError(f"add takes one new object, got {list(comp.subject)}")
        desc = parse_description(comp.subject[0])
        if desc is None or None in (desc.shape, desc.color, desc.size):
            raise EditError(f"add needs size, colour and shape, as in 'a small red circle'; got {comp.subject[0]!r}")
        if len(scene.objects) >= MAX_OBJECTS:
            raise EditError(f"the canvas already holds {MAX_OBJECTS} objects")
        x, y = REGIONS[target]
        new = CanvasObject(desc.shape, desc.color, desc.size, x, y, scene.next_oid())
        if not fits(new, scene.objects, slack):
            raise EditError(f"there is no room for {comp.subject[0]} in the {target}")
        return scene.with_object(new)

    objects = resolve_subjects(comp, scene)
    if action == "remove":
        for obj in objects:
            scene = scene.without(obj.oid)
        return scene
    if action == "move" and len(objects) != 1:
        raise EditError("move takes exactly one subject: two objects cannot share one anchor")
    for obj in objects:
        if action == "recolor":
            new = obj.with_(color=target)
        elif action == "resize":
            new = obj.with_(size=target)
        elif action == "reshape":
            new = obj.with_(shape=target)
        else:  # move
            x, y = REGIONS[target]
            new = obj.with_(x=x, y=y)
        scene = scene.replace_object(new)
    for obj in objects:
        moved = scene.by_oid(obj.oid)
        if not fits(moved, [o for o in scene.objects if o.oid != obj.oid], slack):
            raise EditError(f"after the {action}, {comp.subject[0]} would overlap another object or the border")
    return scene


def execute(scene: Scene, components: Sequence[Component | dict[str, Any]], order: Sequence[int] | None = None) -> Scene:
    """Apply `components` in `order` (indices; default: as listed)."""
    indices = list(range(len(components))) if order is None else list(order)
    if sorted(indices) != list(range(len(components))):
        raise EditError(f"order {indices} is not a permutation of 0..{len(components) - 1}")
    for i in indices:
        try:
            scene = apply_component(scene, components[i])
        except EditError as err:
            raise EditError(f"component {i}: {err}") from None
    return scene
