"""Auxiliary lookups: coordinates are the scene text's own numbers for the objects the request names, comparisons
say how each pair compares, lists are the scene's objects in its order."""

from __future__ import annotations

import random

import pytest

from agents.lm.lookups import LOOKUP_REQUESTS, comparison_example, coordinate_lookup_example, order_list_example, scene_centres, scene_lookup_example
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


def test_each_comparison_says_how_the_two_values_compare(tasks_and_scenes):
    _, scenes = tasks_and_scenes
    rng = random.Random(1)
    sizes = ("small", "medium", "large")
    compared = set()
    for scene in scenes:
        prompt, target = comparison_example("thinker", scene, rng)
        pairs = prompt.split("request: Compare: ")[1].rstrip(".\n").split(", ")
        entries = target[len("<think>"):-len("</think>")].split(", ")
        assert len(pairs) == len(entries) and 2 <= len(pairs) <= 6
        for pair, entry in zip(pairs, entries):
            a, b = pair.split(" with ")
            first, vs, second, relation = entry.split()
            assert (first, vs, second) == (a, "vs", b)
            key = (lambda v: sizes.index(v)) if a in sizes else float
            assert relation == ("less" if key(a) < key(b) else "more" if key(a) > key(b) else "same"), entry
            compared.add(relation)
    assert compared == {"less", "more", "same"}


def test_a_list_is_the_scene_texts_objects_in_its_order(tasks_and_scenes):
    _, scenes = tasks_and_scenes
    for scene in scenes:
        prompt, target = order_list_example("thinker", scene)
        assert prompt.endswith(f"request: {LOOKUP_REQUESTS['list']}\n")
        names = target[len("<think>"):-len("</think>")].split(", ")
        assert names == [name for name, _, _ in scene_centres(scene)]
        at = 0
        for name in names:  # each found after the one before it in the scene text (twins included)
            at = scene.index(f"{name} at ", at) + 1
    assert order_list_example("thinker", "background: white; objects: none") is None


def test_lookups_draw_all_three_kinds(tasks_and_scenes):
    _, scenes = tasks_and_scenes
    rng = random.Random(2)
    requests = [scene_lookup_example("thinker", scene, rng) for scene in scenes * 5]
    kinds = [("coordinates" if "request: Read " in p else "comparison" if "request: Compare: " in p else "list")
             for p, _ in filter(None, requests)]
    shares = {kind: kinds.count(kind) / len(kinds) for kind in ("coordinates", "comparison", "list")}
    assert 0.35 < shares["coordinates"] < 0.65 and 0.15 < shares["comparison"] < 0.45 and 0.08 < shares["list"] < 0.35, shares


def _is_lookup(prompt: str) -> bool:
    return any(f"request: {request.split('{')[0]}" in prompt for request in LOOKUP_REQUESTS.values())


def test_make_sft_data_adds_the_asked_number_of_lookups_per_task(tasks_and_scenes):
    tasks, scenes = tasks_and_scenes
    plain = make_sft_data(tasks, "thinker", scenes=scenes, reasoning=True)
    with_one = make_sft_data(tasks, "thinker", scenes=scenes, reasoning=True, centre_lookups=1.0)
    with_half = make_sft_data(tasks, "thinker", scenes=scenes, reasoning=True, centre_lookups=0.5)
    lookups = [p for p, _ in with_one if _is_lookup(p)]
    assert [pair for pair in with_one if not _is_lookup(pair[0])] == plain  # the task examples unchanged
    assert len(tasks) - 5 <= len(lookups) <= len(tasks)  # one per task, but none for a scene with twin objects
    halves = sum(_is_lookup(p) for p, _ in with_half)
    assert 0 < halves < len(lookups)
    assert with_half == make_sft_data(tasks, "thinker", scenes=scenes, reasoning=True, centre_lookups=0.5)  # per task id
    with pytest.raises(ValueError, match="centre_lookups must be >= 0"):
        make_sft_data(tasks, "thinker", scenes=scenes, centre_lookups=-1)
