"""Grounded scores compare the objects a decomposition acts on, on the scene of each step, not its words."""

import pytest

from envs.canvas.generator import generate_tasks
from envs.canvas.grounding import grounded_component_scores, grounded_f1, grounded_similarity, truth_states
from envs.canvas.scene import CanvasObject, Scene
from rewards.f1 import structured_f1
from rewards.types import as_components

SCENE = Scene("white", (CanvasObject("circle", "green", "small", 0.2, 0.2, 0), CanvasObject("star", "red", "large", 0.7, 0.7, 1),
                        CanvasObject("triangle", "green", "medium", 0.2, 0.8, 2)))


def test_any_unique_description_of_the_right_object_scores_one():
    truth = [{"action": "recolor", "subject": ["the circle"], "target": ["blue"]}]
    for words in ("the circle", "the small circle", "the small green circle", "the small shape"):
        assert grounded_f1([{"action": "recolor", "subject": [words], "target": ["blue"]}], truth, [0], SCENE) == 1.0
    assert structured_f1([{"action": "recolor", "subject": ["the small shape"], "target": ["blue"]}], truth).overall < 1.0


@pytest.mark.parametrize("words", ["the star", "the green shape", "the hexagon"])  # wrong object, two objects, none
def test_a_subject_naming_another_object_or_none_loses_its_third(words):
    pred = {"action": "recolor", "subject": [words], "target": ["blue"]}
    truth = {"action": "recolor", "subject": ["the circle"], "target": ["blue"]}
    assert grounded_similarity(pred, truth, SCENE) == pytest.approx(2 / 3)


def test_subjects_resolve_on_the_scene_of_their_own_step():
    # The star becomes a circle first: "the large circle" names it at step 2, and names nothing on the source scene.
    truth = [{"action": "reshape", "subject": ["the star"], "target": ["circle"]},
             {"action": "remove", "subject": ["the red shape"], "target": []}]
    pred = [truth[0], {"action": "remove", "subject": ["the large circle"], "target": []}]
    assert grounded_component_scores(pred, truth, [0, 1], SCENE) == [1.0, 1.0]
    states = truth_states(SCENE, as_components(truth), [0, 1])
    assert states[0] is SCENE and states[1].by_oid(1).shape == "circle"


def test_missing_and_extra_components_cost_like_f1():
    truth = [{"action": "remove", "subject": ["the star"], "target": []}, {"action": "background", "subject": ["the background"], "target": ["cream"]}]
    assert grounded_f1(truth[:1], truth, [0, 1], SCENE) == pytest.approx(2 / 3)
    extra = truth + [{"action": "add", "subject": ["a small red circle"], "target": ["centre"]}]
    assert grounded_f1(extra, truth, [0, 1], SCENE) == pytest.approx(4 / 5)
    assert grounded_f1([], [], [], SCENE) == 1.0 and grounded_f1([], truth, [0, 1], SCENE) == 0.0


def test_the_ground_truth_of_generated_tasks_scores_one():
    for task in generate_tasks(200, seed=4, split="train"):
        truth = task.components_as_dicts()
        assert grounded_f1(truth, truth, task.order, Scene.from_json(task.source_scene)) == pytest.approx(1.0), task.task_id


def test_a_bad_order_is_refused():
    with pytest.raises(ValueError, match="permutation"):
        truth_states(SCENE, [], [0])


def test_note_subjects_write_a_components_objects_as_its_note_lists_them():
    from envs.canvas.grounding import note_subjects
    from rewards.types import Component

    truth = [Component("recolor", ("the circle",), ("blue",)), Component("remove", ("the star",), ())]
    notes = ["the leftmost shape = small green circle", "the colour of the sea = blue"]
    assert note_subjects(SCENE, truth, [0, 1], notes) == [("the small green circle",), None]  # the star: no note
    # A plural reference keeps the note's order (the scene's), whatever the component's order.
    both = [Component("recolor", ("the triangle", "the circle"), ("red",))]
    assert note_subjects(SCENE, both, [0], ["every green shape = small green circle, medium green triangle"]) == [
        ("the small green circle", "the medium green triangle")]
    # When a full description names two objects on that step's scene it is not used.
    twins = Scene("white", (CanvasObject("star", "red", "large", 0.2, 0.2, 0), CanvasObject("star", "red", "large", 0.8, 0.8, 1)))
    left = [Component("remove", ("the large red star in the top left",), ())]
    assert note_subjects(twins, left, [0], ["the leftmost shape = large red star"]) == [None]


def test_readable_note_phrases_stay_as_written_where_the_editor_reads_them_on_that_steps_scene():
    from envs.canvas.grounding import note_subjects
    from rewards.types import Component

    note = ["the shape in the top left = small green circle"]
    recolor = [Component("recolor", ("the circle",), ("blue",))]
    assert note_subjects(SCENE, recolor, [0], note, readable=True) == [("the shape in the top left",)]
    assert note_subjects(SCENE, recolor, [0], note) == [("the small green circle",)]
    # A phrase the editor cannot read ("the leftmost shape") is written as the note's object either way.
    assert note_subjects(SCENE, recolor, [0], ["the leftmost shape = small green circle"], readable=True) == [
        ("the small green circle",)]
    # Read on the scene of its step: once the first step moved the circle out of the top left, the region phrase
    # names nothing there, so the second step names the circle.
    moved = [Component("move", ("the circle",), ("top right",)), Component("recolor", ("the circle",), ("blue",))]
    assert note_subjects(SCENE, moved, [0, 1], note, readable=True) == [("the shape in the top left",),
                                                                        ("the small green circle",)]
