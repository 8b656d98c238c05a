"""Hand-written request files load as full tasks, and a bad line is refused with a message that says what to fix."""

import json
from pathlib import Path

import pytest

from envs.canvas.execute import execute
from envs.canvas.requests import load_scene_requests, request_task
from envs.canvas.scene import Scene

SHIPPED = Path(__file__).resolve().parents[3] / "benchmarks" / "data" / "plain_requests.jsonl"
SCENE = {"background": "white", "objects": [{"id": 0, "shape": "square", "color": "pink", "size": "medium", "x": 0.28, "y": 0.2},
                                            {"id": 1, "shape": "star", "color": "blue", "size": "small", "x": 0.7, "y": 0.7}]}


def test_shipped_requests_are_one_step_and_their_targets_are_the_expected_edit():
    tasks = load_scene_requests(SHIPPED)
    assert len(tasks) == 70
    assert len({t.task_id for t in tasks}) == 70
    assert {t.components[0].action for t in tasks} == {"recolor", "move", "resize", "reshape", "remove", "add", "background"}
    for task in tasks:
        assert task.n_steps == 1 and task.checklist
        after = execute(Scene.from_json(task.source_scene), task.components_as_dicts())
        assert after.same_content(Scene.from_json(task.target_scene))
        assert not after.same_content(Scene.from_json(task.source_scene))


def test_a_request_becomes_a_task_with_a_checklist():
    task = request_task({"id": "r1", "request": "the star has to go", "scene": SCENE,
                         "expected": [{"action": "remove", "subject": ["the star"], "target": []}]})
    assert task.instruction == "the star has to go" and task.split == "test"
    assert len(Scene.from_json(task.target_scene).objects) == 1
    assert any(item.group == "follow" and "removed" in item.question for item in task.checklist)


@pytest.mark.parametrize("row, message", [
    ({"id": "r", "request": "x", "scene": SCENE}, "missing expected"),
    ({"id": "r", "request": "x", "scene": {"objects": 3}, "expected": [{"action": "remove", "subject": ["the star"], "target": []}]}, "not a Canvas scene"),
    ({"id": "r", "request": "x", "scene": SCENE, "expected": []}, "non-empty list"),
    ({"id": "r", "request": "x", "scene": SCENE, "expected": [{"action": "remove", "subject": ["the circle"], "target": []}]}, "cannot run"),
    ({"id": "r", "request": "x", "scene": SCENE, "expected": [{"action": "recolor", "subject": ["the star"], "target": ["blue"]}]}, "unchanged"),
])
def test_bad_rows_say_what_to_change(row, message):
    with pytest.raises(ValueError, match=message):
        request_task(row)


def test_file_errors_name_the_line(tmp_path):
    path = tmp_path / "r.jsonl"
    good = {"id": "a", "request": "the star has to go", "scene": SCENE, "expected": [{"action": "remove", "subject": ["the star"], "target": []}]}
    path.write_text(json.dumps(good) + "\n\n{not json\n")
    with pytest.raises(ValueError, match=r"r.jsonl:3: not JSON"):
        load_scene_requests(path)
    with pytest.raises(FileNotFoundError):
        load_scene_requests(tmp_path / "missing.jsonl")
