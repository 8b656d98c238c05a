"""The full reference reader (`agents.canvas_reader`) and the Canvas verifier that uses it (`reader="full"`)."""

from __future__ import annotations

import pytest

from agents.base import EditResult, EpisodeState
from agents.canvas_language import scene_from_perception
from agents.canvas_paint import perceive_png
from agents.canvas_reader import read_steps_full, resolve_subject_full, resolve_value_full
from agents.thinker import read_steps, resolve_subject, resolve_value
from agents.verifier import CanvasVerifier
from envs.canvas.generator import generate_tasks
from envs.canvas.render import render
from envs.canvas.scene import CanvasObject, Scene
from envs.image_io import encode_png

#: Regions: the star top, the red circle left, the square right, the green circle bottom. Red is the most common
#: colour; positions differ by at least 0.05 wherever a phrase below compares them.
SCENE = Scene("white", (
    CanvasObject("star", "blue", "large", 0.5, 0.2, 0),
    CanvasObject("circle", "red", "small", 0.15, 0.5, 1),
    CanvasObject("square", "red", "medium", 0.85, 0.55, 2),
    CanvasObject("circle", "green", "medium", 0.5, 0.85, 3),
))

CASES = {
    "superlative": [
        ("the leftmost shape", [1]), ("the rightmost circle", [3]), ("the topmost shape", [0]), ("the highest circle", [1]),
        ("the lowest shape", [3]), ("the shape furthest to the left", [1]), ("the shape furthest to the right", [2]),
        ("the circle nearest the bottom", [3]), ("the largest shape", [0]), ("the biggest circle", [3]),
        ("the tiniest shape", [1]), ("the smallest circle", [1]), ("the circle with the least size", [1]),
        ("the shape with the greatest size", [0]),
    ],
    "spatial": [
        ("the shape to the left of the star", [1]), ("the shape to the right of the blue shape", [2]),
        ("the shape below the square", [3]), ("the shape above the small circle", [0]),
        ("the shape nearest to the star", [1]), ("the shape closest to the green circle", [2]),
        ("whatever shape is nearest to the large star", [1]), ("the shape in the top", [0]),
        ("the object in the right", [2]), ("whatever is in the bottom", [3]),
    ],
    "attribute": [
        ("the shape with ten corners", [0]), ("the shape with five points", [0]), ("the shape with four corners", [2]),
        ("every shape with no corners", [1, 3]), ("the shapes with no corners", [1, 3]), ("every shape in the most common colour", [1, 2]),
        ("all shapes of the colour that appears most often", [1, 2]), ("the shapes sharing the most frequent colour", [1, 2]),
    ],
    "knowledge": [
        ("the shape that is the colour of denim", [0]), ("the shape that is the colour of a frog", [3]),
        ("the shape that is the colour of a clear sky", [0]),
    ],
    "logic": [
        ("every shape that is not red", [0, 3]), ("all shapes except the red ones", [0, 3]), ("each shape that isn't red", [0, 3]),
        ("every red shape", [1, 2]), ("all the red shapes", [1, 2]), ("each red shape", [1, 2]),
        ("all circles", [1, 3]), ("every circle", [1, 3]), ("each of the circles", [1, 3]),
        ("every shape except the star", [1, 2, 3]), ("all shapes but the small circle", [0, 2, 3]),
        ("the shapes that are blue or green", [0, 3]),
    ],
}


@pytest.mark.parametrize("family", sorted(CASES))
def test_every_family_resolves_by_meaning(family):
    for text, oids in CASES[family]:
        names, objects, note = resolve_subject_full(text, SCENE)
        assert sorted(o.oid for o in objects) == oids, (text, note)
        assert note == ""
        # Each object is rewritten as an explicit description that names it alone on the scene.
        assert len(names) == len(objects)


def test_plural_descriptions_and_lists_of_references():
    assert [o.oid for o in resolve_subject_full("the red shapes", SCENE)[1]] == [1, 2]
    assert [o.oid for o in resolve_subject_full("the circles", SCENE)[1]] == [1, 3]
    names, objects, _ = resolve_subject_full("the leftmost shape and the star", SCENE)
    assert [o.oid for o in objects] == [1, 0] and names == ["the red circle", "the star"]
    # One part it cannot read leaves the whole list unresolved.
    assert resolve_subject_full("the star and the blob", SCENE)[1] == []


def test_ambiguous_or_empty_references_resolve_to_nothing_with_a_reason():
    for text in ("the round shape", "the circle",                     # two circles
                 "the shape above the green circle",                  # three shapes above it
                 "the only shape whose colour no other shape shares", # blue and green are both alone
                 "every yellow shape", "all hexagons",                # nothing fits
                 "the shape that is the colour of a wardrobe",       # not an item the world knows
                 "the shape the user likes"):                         # not a reference at all
        names, objects, note = resolve_subject_full(text, SCENE)
        assert objects == [] and note, text


def test_knowledge_values_use_the_full_tables():
    assert resolve_value_full("color", "the colour of denim") == "blue"
    assert resolve_value_full("shape", "the shape of a sail") == "triangle"
    assert resolve_value_full("background", "the colour of ivory") == "cream"
    assert resolve_value_full("color", "magenta") is None
    # The rule thinker's small table stays small: these stay unknown to it.
    assert resolve_value("color", "the colour of denim") is None and resolve_value("shape", "the shape of a sail") is None


def test_rule_reader_is_unchanged_and_weaker():
    # The rule thinker resolves the easy ones only; everything else stays verbatim with no objects.
    assert [o.oid for o in resolve_subject("the largest shape", SCENE)[1]] == [0]
    for text in ("the shape to the left of the star", "every shape that is not red", "the shape with ten corners"):
        assert resolve_subject(text, SCENE)[1] == [], text
    steps = read_steps("Make the shape to the left of the star yellow.", SCENE)
    assert len(steps) == 1 and not steps[0].resolved


def test_steps_are_resolved_on_the_scene_each_step_runs_on():
    # After the star turns red, red is on three shapes: the later reference names all three.
    steps = read_steps_full("Make the star red. Then make every shape in the most common colour black.", SCENE)
    assert [s.resolved for s in steps] == [True, True]
    assert len(steps[1].component.subject) == 3
    # Written order differs from execution order: the frog-coloured circle only exists after the recolour.
    steps = read_steps_full("Remove the shape that is the colour of a frog after you recolour the small circle to the colour of a frog.", SCENE)
    # Two green circles then: the knowledge reference is ambiguous and stays unresolved instead of guessing.
    assert [s.resolved for s in steps] == [True, False]
    steps = read_steps_full("Remove the shape that is the colour of denim after you recolour the star to the colour of a frog.", SCENE)
    assert [s.resolved for s in steps] == [True, False]  # no blue shape is left when the removal runs
    steps = read_steps_full("Recolour the star to the colour of a lemon, then remove the shape that is the colour of a lemon.", SCENE)
    assert [s.resolved for s in steps] == [True, True] and steps[1].component.subject == ("the star",)


def _png(scene: Scene) -> bytes:
    return encode_png(render(scene))


def test_verifier_option_default_and_validation():
    assert CanvasVerifier().reader == "rule" and CanvasVerifier().describe()["reader"] == "rule"
    assert CanvasVerifier(reader="full").describe()["reader"] == "full"
    with pytest.raises(ValueError, match="reader must be one of rule, full"):
        CanvasVerifier(reader="vlm")


def test_full_reader_checklist_passes_the_right_edit_and_fails_the_wrong_ones():
    instruction = "Make the shape to the left of the star yellow."
    target = Scene("white", (SCENE.objects[0], SCENE.objects[1].with_(color="yellow"), *SCENE.objects[2:]))
    wrong = Scene("white", (SCENE.objects[0], SCENE.objects[1], SCENE.objects[2].with_(color="yellow"), SCENE.objects[3]))
    source_png = _png(SCENE)

    def verdict(reader, image):
        state = EpisodeState(task_id="r", instruction=instruction, source_png=source_png, edit=EditResult(image_png=image))
        return CanvasVerifier(use_reference=False, derive_from="instruction", reader=reader).act(state)

    full = verdict("full", _png(target))
    assert full.passed and all(i.answer != "unknown" for i in full.items)
    assert not verdict("full", source_png).passed and not verdict("full", _png(wrong)).passed
    # The default (rule) reader cannot read the reference: an unanswerable item that fails even the right edit.
    rule = verdict("rule", _png(target))
    assert not rule.passed and any(i.answer == "unknown" for i in rule.items)


def test_unreadable_phrase_is_an_unanswerable_item_not_a_quiet_pass():
    for instruction in ("Make the shape the user likes green.", "Make the shape above the green circle yellow."):
        state = EpisodeState(task_id="u", instruction=instruction, source_png=_png(SCENE), edit=EditResult(image_png=_png(SCENE)))
        verdict = CanvasVerifier(use_reference=False, derive_from="instruction", reader="full").act(state)
        unknown = [i for i in verdict.items if i.answer == "unknown"]
        assert len(unknown) == 1 and unknown[0].question.startswith("Was '")
        assert not verdict.passed and "(expected yes, could not tell)" in verdict.feedback


@pytest.fixture(scope="module")
def indirect_tasks():
    """Two test-split tasks of each indirect category (held-out wording)."""
    picked: dict[str, list] = {}
    for task in generate_tasks(80, seed=5, split="test"):
        if task.category != "direct" and len(picked.setdefault(task.category, [])) < 2:
            picked[task.category].append(task)
    assert len(picked) == 5
    return [t for tasks in picked.values() for t in tasks]


def test_full_reader_on_generated_indirect_tasks(indirect_tasks):
    verifier = CanvasVerifier(use_reference=False, derive_from="instruction", reader="full")
    for task in indirect_tasks:
        source_seen, target_seen = perceive_png(task.source_png), perceive_png(task.target_png)
        state = EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png)
        items = verifier.derive_checklist(state, scene_from_perception(source_seen))
        assert all(i["check"] for i in items), (task.instruction, items)
        assert verifier.answer(items, target_seen).passed, (task.category, task.instruction)
        assert not verifier.answer(items, source_seen).passed, (task.category, task.instruction)


def test_no_ground_truth_is_read(indirect_tasks):
    verifier = CanvasVerifier(use_reference=False, derive_from="instruction", reader="full")
    task = indirect_tasks[0]
    source = scene_from_perception(perceive_png(task.source_png))
    with_truth = EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png,
                              reference=task.reference, checklist=task.checklist)
    blank = EpisodeState(task_id="blank", instruction=task.instruction, source_png=task.source_png)
    assert verifier.derive_checklist(with_truth, source) == verifier.derive_checklist(blank, source)
    # The same verdict on the target whether or not the state carries the task's reference fields.
    edit = EditResult(image_png=task.target_png)
    a = verifier.act(with_truth.model_copy(update={"edit": edit}))
    b = verifier.act(blank.model_copy(update={"edit": edit}))
    assert [(i.question, i.answer) for i in a.items] == [(i.question, i.answer) for i in b.items] and a.passed


def test_the_option_comes_from_yaml_as_documented():
    from agents.registry import resolve_agent_class
    from orchestration.config import load_config

    config = load_config("canvas_rule", ["verifier={backend: canvas, options: {use_reference: false, derive_from: instruction, reader: full}}"])
    node = config.agents["verifier"]
    agent = resolve_agent_class("verifier", node.role, node.backend, node.cls)(**node.options)
    assert (agent.use_reference, agent.derive_from, agent.reader) == (False, "instruction", "full")
