"""Hand-written Canvas requests: a request, the scene it is about and the edit it asks for, as full tasks.

The generator's wording is what the learned agents are taught; a set of requests written by someone else checks
whether they understand requests as people write them. Each line of a ``.jsonl`` file is one request::

    {"id": "pr-001", "request": "the pink square should be blue instead",
     "scene": {"background": "white", "objects": [{"id": 0, "shape": "square", "color": "pink", "size": "medium",
                                                  "x": 0.28, "y": 0.20}]},
     "expected": [{"action": "recolor", "subject": ["the pink square"], "target": ["blue"]}]}

``scene`` is :meth:`envs.canvas.scene.Scene.to_dict`'s form; ``expected`` lists components in execution order, each
subject an explicit description (:func:`envs.canvas.refer.resolve`) of one object of the scene. The task's target
scene is the expected edit executed on the scene and its checklist is built from the two scenes: full success on
the edited image is the measure. (Structured F1 is only indicative here: the writer's subject strings need not be
the generator's.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envs.canvas.checklist import build_checklist
from envs.canvas.execute import EditError, apply_component
from envs.canvas.render import DEFAULT_SIZE, render
from envs.canvas.scene import Scene
from envs.image_io import encode_png
from envs.task import ChecklistItem, ComponentSpec, EditTask
from rewards.types import as_component

__all__ = ["load_scene_requests", "request_task"]


def request_task(row: dict[str, Any], size: int = DEFAULT_SIZE, where: str = "request") -> EditTask:
    """One line of a request file as an :class:`envs.task.EditTask`; ``ValueError`` says what is wrong with it."""
    missing = [k for k in ("id", "request", "scene", "expected") if k not in row]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}; each line needs id, request, scene and expected")
    try:
        source = Scene.from_dict(row["scene"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{where}: scene is not a Canvas scene ({err}); write it as Scene.to_dict() does") from None
    if not isinstance(row["expected"], list) or not row["expected"]:
        raise ValueError(f"{where}: expected must be a non-empty list of components")
    scene, components = source, []
    for k, raw in enumerate(row["expected"]):
        try:
            component = as_component(raw)
            spec = {"action": component.action, "subject": list(component.subject), "target": list(component.target)}
            components.append(ComponentSpec(**spec))
            scene = apply_component(scene, spec)
        except (EditError, ValueError, TypeError) as err:
            raise ValueError(f"{where}: expected component {k} cannot run on the scene: {err}") from None
    if scene.same_content(source):
        raise ValueError(f"{where}: the expected edit leaves the scene unchanged")
    return EditTask(
        task_id=str(row["id"]),
        instruction=str(row["request"]),
        source_png=encode_png(render(source, size)),
        split="test",
        category="direct",
        n_steps=len(components),
        target_png=encode_png(render(scene, size)),
        source_scene=source.to_json(),
        target_scene=scene.to_json(),
        components=components,
        order=list(range(len(components))),
        checklist=[ChecklistItem(**item) for item in build_checklist(source, scene)],
    )


def load_scene_requests(path: str | Path, size: int = DEFAULT_SIZE) -> list[EditTask]:
    """Every request of a ``.jsonl`` file (format in the module docstring) as a task, in file order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no request file at {path}")
    tasks = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not JSON ({err})") from None
        tasks.append(request_task(row, size, where))
    return tasks
