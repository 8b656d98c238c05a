"""The ground-truth checklist of a task: yes/no questions about the edited image, with expected answers.

Built from the source scene and the target scene (objects followed by id), not from the instruction text, so it
holds for indirect requests too. Items come in two groups, as in Edit-R1's principles:
- `follow`: the requested changes happened (changed objects in their new state, removed objects gone, added
  objects present, a changed background, the object count), plus "is the old state gone?" items whose expected
  answer is usually "no", so that a verifier answering "yes" to everything does not pass;
- `keep`: every object and the background that the instruction did not touch are unchanged.
The expected answer of each item is the check evaluated on the target scene.
"""

from __future__ import annotations

from typing import Any

from envs.canvas.checks import evaluate_check, present_check
from envs.canvas.refer import describe, phrase
from envs.canvas.scene import CanvasObject, Scene


def _name(obj: CanvasObject, scene: Scene) -> str:
    return describe(obj, scene) or phrase(obj, ("size", "color", "shape", "region"))


def _check_of(obj: CanvasObject, negate: bool = False) -> dict[str, Any]:
    return present_check(obj.shape, obj.color, obj.size, obj.x, obj.y, negate=negate)


def _changes(before: CanvasObject, after: CanvasObject) -> list[str]:
    words = []
    if before.color != after.color:
        words.append(after.color)
    if before.size != after.size:
        words.append(after.size)
    if before.shape != after.shape:
        words.append(f"a {after.shape}")
    if (before.x, before.y) != (after.x, after.y):
        words.append(f"in the {after.region}")
    return words


def build_checklist(source: Scene, target: Scene) -> list[dict[str, Any]]:
    """Checklist items `{question, expected, group, check}` for the edit source -> target.

    >>> from envs.canvas.scene import CanvasObject, Scene
    >>> src = Scene("white", (CanvasObject("circle", "red", "small", 0.2, 0.2, 0), CanvasObject("star", "blue", "large", 0.7, 0.7, 1)))
    >>> tgt = Scene("white", (CanvasObject("circle", "green", "small", 0.2, 0.2, 0), CanvasObject("star", "blue", "large", 0.7, 0.7, 1)))
    >>> [(i["question"], i["expected"]) for i in build_checklist(src, tgt)]  # doctest: +NORMALIZE_WHITESPACE
    [('Is the circle now green?', 'yes'), ('Is there still a small red circle in the top left?', 'no'),
     ('Is the star unchanged?', 'yes'), ('Is the background still white?', 'yes'), ('Are there exactly 2 shapes?', 'yes')]
    """
    items: list[dict[str, Any]] = []

    def add(question: str, group: str, check: dict[str, Any]) -> None:
        items.append({"question": question, "expected": evaluate_check(check, target.objects, target.background), "group": group, "check": check})

    for before in sorted(source.objects, key=lambda o: (round(o.y, 2), o.x)):
        name = _name(before, source)
        if not target.has_oid(before.oid):
            add(f"Has {name} been removed?", "follow", _check_of(before, negate=True))
            continue
        after = target.by_oid(before.oid)
        changes = _changes(before, after)
        if not changes:
            add(f"Is {name} unchanged?", "keep", _check_of(before))
            continue
        add(f"Is {name} now {' and '.join(changes)}?", "follow", _check_of(after))
        add(f"Is there still a {phrase(before, ('size', 'color', 'shape'), '').strip()} in the {before.region}?", "follow", _check_of(before))
    source_ids = {o.oid for o in source.objects}
    for added in target.objects:
        if added.oid not in source_ids:
            add(f"Is there a {added.size} {added.color} {added.shape} in the {added.region}?", "follow", _check_of(added))
    if target.background != source.background:
        add(f"Is the background now {target.background}?", "follow", {"kind": "background", "value": target.background})
    else:
        add(f"Is the background still {source.background}?", "keep", {"kind": "background", "value": source.background})
    n = len(target.objects)
    add(f"Are there exactly {n} shape{'s' if n != 1 else ''}?", "follow", {"kind": "count", "value": n})
    return items
