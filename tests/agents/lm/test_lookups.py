"""Auxiliary coordinate lookups: each answer is the scene text's own numbers for the objects the request names."""

from __future__ import annotations

import random

import pytest

from agents.lm.lookups import coordinate_lookup_example, scene_centres
from agents.lm.prompts import scene_text
from agents.lm.sft import make_sft_data
from envs.canvas.generator import generate_tasks


@pytest.fixture(scope="module")
def tasks_and_scenes():
    tasks = list(generate_tasks(40, seed=3))
    return tasks, [scene_text(t.source_png) for t in tasks]


def test_each_lookup_answers_the_named_objects_with_the_scene_texts_numbers(tasks_and_scenes):
    tasks, scenes = tasks_and_scenes
    rng = random.Random(0)
    answered = 0
    for scene in scenes:
        centres = {name: (x, y) for name, x, y in scene_centres(scene)}
        assert len(centres) >= 1 and scene.count(" at ") >= len(centres)
        example = coordinate_lookup_example("thinker", scene, rng)
        if example is None:  # two objects share a description
            assert len(centres) < len(scene_centres(scene))
            continue
        prompt, target = example
        assert prompt.startswith("task: rewrite\n") and f"scene: {scene}\n" in prompt
        request = prompt.split("request: ")[1]
        assert request.startswith(("Read how far right these are: ", "Read how far down these are: ", "Read the centres of: ")), request
        axes = [0] if request.startswith("Read how far right") else [1] if request.startswith("Read how far down") else [0, 1]
        asked = request.split(": ")[1].rstrip(".\n").split(", ")
        assert target.startswith("<think>") and target.endswith("</think>")
        entries = target[len("<think>"):-len("</think>")].split(", ")
        assert [" ".join(e.split()[:3]) for e in entries] == asked
        for entry in entries:
            words = entry.split()
            assert words[3:] == [centres[" ".join(words[:3])][axis] for axis in axes]
        answered += 1
    assert answered > 30


def test_make_sft_data_adds_the_asked_number_of_lookups_per_task(tasks_and_scenes):
    tasks, scenes = tasks_and_scenes
    plain = make_sft_data(tasks, "thinker", scenes=scenes, reasoning=True)
    with_one = make_sft_data(tasks, "thinker", scenes=scenes, reasoning=True, centre_lookups=1.0)
    with_half = make_sft_data(tasks, "thinker", scenes=scenes, reasoning=True, centre_lookups=0.5)
    lookups = [p for p, _ in with_one if "request: Read " in p]
    assert [pair for pair in with_one if "request: Read " not in pair[0]] == plain  # the task examples unchanged
    assert len(tasks) - 5 <= len(lookups) <= len(tasks)  # one per task, but none for a scene with twin objects
    halves = sum("request: Read " in p for p, _ in with_half)
    assert 0 < halves < len(lookups)
    assert with_half == make_sft_data(tasks, "thinker", scenes=scenes, reasoning=True, centre_lookups=0.5)  # per task id
    with pytest.raises(ValueError, match="centre_lookups must be >= 0"):
        make_sft_data(tasks, "thinker", scenes=scenes, centre_lookups=-1)
