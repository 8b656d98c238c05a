"""The Canvas editor: single requests land exactly, pixels outside the edit stay put, modes behave as documented."""

from statistics import mean

import numpy as np
import pytest

from agents.base import EpisodeState, Plan, SubRequests
from agents.canvas_paint import apply_scene_change, background_rgb, draw_object, erase_object, to_array
from agents.editor import CanvasEditor
from envs.canvas.perception import compare_to_scene, perceive
from envs.canvas.render import render
from envs.canvas.generator import GeneratorConfig, generate_tasks
from envs.canvas.scene import CanvasObject, Scene
from envs.canvas.vocab import SIZES
from envs.image_io import encode_png, load_image

SINGLE_DIRECT = GeneratorConfig(category_weights={"direct": 1.0}, step_weights={1: 1.0})
MULTI_DIRECT = GeneratorConfig(category_weights={"direct": 1.0}, step_weights={3: 0.5, 4: 0.5})


@pytest.fixture(scope="module")
def single_tasks():
    return list(generate_tasks(120, seed=2, split="test", cfg=SINGLE_DIRECT))


@pytest.fixture(scope="module")
def multi_tasks():
    return list(generate_tasks(40, seed=2, split="test", cfg=MULTI_DIRECT))


def _state(task, **extra):
    return EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png, **extra)


def _matches_target(png: bytes, task) -> bool:
    return compare_to_scene(perceive(load_image(png)), Scene.from_json(task.target_scene)).perfect


def test_protocol_and_options():
    editor = CanvasEditor()
    assert (CanvasEditor.role, CanvasEditor.backend, editor.mode, editor.max_requests_per_call) == ("editor", "canvas", "single_pass", 2)
    assert editor.describe()["mode"] == "single_pass"
    with pytest.raises(ValueError, match="mode"):
        CanvasEditor(mode="sideways")
    with pytest.raises(ValueError, match="max_requests_per_call"):
        CanvasEditor(max_requests_per_call=0)


def test_single_direct_requests_reach_the_target_scene(single_tasks):
    editor = CanvasEditor()
    results = []
    for t in single_tasks:
        out = editor.act(_state(t))
        assert out.calls == 1
        results.append(_matches_target(out.image_png, t))
    # Observed: 120/120 (every action, raw instruction wording with wrappers, synonyms and relative sizes).
    assert mean(results) >= 0.95


def _footprint_mask(scene_objects, size: int, margin_px: float = 3.0) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    mask = np.zeros((size, size), dtype=bool)
    for o in scene_objects:
        mask |= np.hypot(xs - o.x * size, ys - o.y * size) <= SIZES[o.size] * size + margin_px
    return mask


def test_pixels_outside_the_edit_are_unchanged(single_tasks):
    editor = CanvasEditor()
    checked = 0
    for t in single_tasks:
        if t.components[0].action == "background":
            continue
        source, target = Scene.from_json(t.source_scene), Scene.from_json(t.target_scene)
        touched = [o for o in source.objects if not target.has_oid(o.oid) or target.by_oid(o.oid) != o]
        touched += [o for o in target.objects if not source.has_oid(o.oid) or source.by_oid(o.oid) != o]
        before = np.asarray(load_image(t.source_png))
        after = np.asarray(load_image(editor.act(_state(t)).image_png))
        outside = ~_footprint_mask(touched, before.shape[1])
        assert np.array_equal(before[outside], after[outside]), t.instruction
        checked += 1
    assert checked > 50


def test_background_change_keeps_objects_and_reblends_edges():
    scene = Scene("white", (CanvasObject("star", "red", "large", 0.3, 0.3, 0), CanvasObject("circle", "blue", "small", 0.7, 0.7, 1)))
    state = EpisodeState(task_id="bg", instruction="Make the backdrop light blue.", source_png=encode_png(render(scene)))
    out = CanvasEditor().act(state)
    got = np.asarray(load_image(out.image_png)).astype(int)
    want = np.asarray(render(scene.with_background("light blue"))).astype(int)
    # Pixel-level recolouring, not a re-render; yet it matches the render to within a grey level or two.
    assert np.abs(got - want).max() <= 2


def test_paint_primitives_match_the_renderer():
    obj = CanvasObject("hexagon", "green", "medium", 0.4, 0.6, 0)
    blank = to_array(render(Scene("cream")))
    drawn = draw_object(blank, obj)
    assert np.abs(np.rint(drawn) - to_array(render(Scene("cream", (obj,))))).max() <= 1
    erased = erase_object(drawn, obj)
    assert np.array_equal(np.rint(erased), blank)
    assert tuple(background_rgb(blank)) == (250, 240, 215)
    moved = apply_scene_change(drawn, Scene("cream", (obj,)), Scene("cream", (obj.with_(x=0.2, y=0.2),)))
    assert np.abs(np.rint(moved) - to_array(render(Scene("cream", (obj.with_(x=0.2, y=0.2),))))).max() <= 1


def test_single_pass_follows_at_most_two_requests(multi_tasks):
    editor = CanvasEditor("single_pass")
    reached = []
    for t in multi_tasks:
        out = editor.act(_state(t, plan=Plan(text=t.explicit_instruction)))
        assert out.calls == 1
        assert len(out.applied) <= 2
        dropped = [s for s in out.skipped if "dropped: a single pass follows at most 2 requests" in s]
        assert len(dropped) == t.n_steps - 2
        reached.append(_matches_target(out.image_png, t))
    # Observed: 1/40 reach the target anyway (its last steps undo each other's visible effect).
    assert mean(reached) <= 0.1


def test_multi_turn_carries_out_every_explicit_step(multi_tasks):
    editor = CanvasEditor("multi_turn")
    results = []
    for t in multi_tasks:
        out = editor.act(_state(t, plan=Plan(text=t.explicit_instruction)))
        assert out.calls == t.n_steps
        results.append(_matches_target(out.image_png, t) and not out.skipped)
    # Observed: 40/40 (and 500/500 of all test-split tasks given their explicit instruction).
    assert mean(results) >= 0.95


def test_max_requests_per_call_option(multi_tasks):
    t = multi_tasks[0]
    out = CanvasEditor("single_pass", max_requests_per_call=8).act(_state(t, plan=Plan(text=t.explicit_instruction)))
    assert out.calls == 1 and len(out.applied) == t.n_steps and _matches_target(out.image_png, t)


def test_editor_executes_in_written_order_and_ignores_order_words():
    scene = Scene("white", (CanvasObject("circle", "red", "small", 0.2, 0.2, 0), CanvasObject("star", "blue", "large", 0.7, 0.7, 1)))
    source = encode_png(render(scene))
    text = "Move the green circle to the bottom left, but first make the red circle green."
    out = CanvasEditor("multi_turn").act(EpisodeState(task_id="o", instruction=text, source_png=source))
    assert out.applied == ["make the red circle green"]
    assert out.skipped[0].startswith("move the green circle to the bottom left (") and "matches 0 objects" in out.skipped[0]
    # Given the same requests in execution order (what the sorter provides), it does both.
    sub = SubRequests(items=["make the red circle green", "move the green circle to the bottom left"], order=[1, 0])
    out = CanvasEditor().act(EpisodeState(task_id="o", instruction=text, source_png=source, subrequests=sub))
    assert len(out.applied) == 2 and not out.skipped
    seen = perceive(load_image(out.image_png))
    assert [(o.color, o.shape, o.region) for o in seen.objects] == [("blue", "star", "bottom right"), ("green", "circle", "bottom left")]


def test_input_precedence():
    scene = Scene("white", (CanvasObject("circle", "red", "small", 0.2, 0.2, 0),))
    state = EpisodeState(task_id="p", instruction="remove the circle", source_png=encode_png(render(scene)))
    assert CanvasEditor.requests(state) == ["remove the circle"]
    state = state.model_copy(update={"plan": Plan(text="Make the circle blue.")})
    assert CanvasEditor.requests(state) == ["make the circle blue"]
    state = state.model_copy(update={"subrequests": SubRequests(items=["make the circle green"], order=[0])})
    assert CanvasEditor.requests(state) == ["make the circle green"]


def test_an_empty_upstream_output_means_nothing_to_do_not_the_raw_instruction():
    # A decomposer that outputs nothing must not be credited with the editor's own reading of the request: this
    # fallback is what GRPO on a checklist-only reward learned to exploit (empty decompositions, full checklist).
    scene = Scene("white", (CanvasObject("circle", "red", "small", 0.2, 0.2, 0),))
    source = encode_png(render(scene))
    state = EpisodeState(task_id="e", instruction="remove the circle", source_png=source, subrequests=SubRequests())
    assert CanvasEditor.requests(state) == []
    for mode in ("single_pass", "multi_turn"):
        out = CanvasEditor(mode).act(state)
        assert out.applied == [] and out.skipped == [] and out.image_png == source
    assert CanvasEditor.requests(state.model_copy(update={"subrequests": None, "plan": Plan(text=" ")})) == []


def test_indirect_and_unknown_requests_are_skipped_with_reasons():
    scene = Scene("white", (CanvasObject("circle", "red", "small", 0.2, 0.2, 0), CanvasObject("circle", "blue", "large", 0.7, 0.7, 1)))
    source = encode_png(render(scene))
    cases = {
        "Make the largest shape green.": "does not know which object 'the largest shape' is",
        "Make the circle green.": "'the circle' matches 2 objects",
        "Paint the red circle the colour of grass.": "does not know the value 'the color of grass'",
        "Make the blue circle bigger.": "cannot make 'the blue circle' bigger",
        "Add a large red star at the bottom-right corner.": "there is no room for a large red star in the bottom right",
    }
    for text, reason in cases.items():
        out = CanvasEditor().act(EpisodeState(task_id="s", instruction=text, source_png=source))
        assert out.applied == [] and len(out.skipped) == 1 and reason in out.skipped[0], (text, out.skipped)
        assert out.image_png == source


@pytest.mark.parametrize("text", ["Please dance a little jig.", "???", "blue", "make", "the red circle"])
def test_unparseable_instruction_returns_the_source_unchanged(text, single_tasks):
    t = single_tasks[0]
    for mode in ("single_pass", "multi_turn"):
        out = CanvasEditor(mode).act(EpisodeState(task_id="u", instruction=text, source_png=t.source_png))
        assert out.image_png == t.source_png
        assert out.applied == [] and len(out.skipped) == 1 and out.skipped[0].startswith(text)


def test_partly_readable_instruction():
    scene = Scene("white", (CanvasObject("circle", "red", "small", 0.2, 0.2, 0),))
    state = EpisodeState(task_id="p", instruction="Juggle the star. Then make the circle blue.", source_png=encode_png(render(scene)))
    out = CanvasEditor().act(state)
    assert out.applied == ["make the circle blue"] and out.skipped[0].startswith("juggle the star")
