import pytest

from envs.canvas.execute import EditError, apply_component, execute
from envs.canvas.refer import describe, parse_description, resolve
from envs.canvas.scene import CanvasObject, Scene
from envs.canvas.vocab import REGIONS

SCENE = Scene(
    "white",
    (
        CanvasObject("circle", "red", "small", 0.2, 0.2, 0),
        CanvasObject("circle", "blue", "large", 0.5, 0.5, 1),
        CanvasObject("star", "red", "medium", 0.8, 0.8, 2),
    ),
)


def test_describe_gives_the_shortest_unique_description():
    assert describe(SCENE.objects[0], SCENE) == "the red circle"
    assert describe(SCENE.objects[1], SCENE) == "the blue shape"
    assert describe(SCENE.objects[2], SCENE) == "the star"


def test_describe_falls_back_to_region_and_gives_up_on_twins():
    twins = Scene("white", (CanvasObject("square", "red", "small", 0.1, 0.1, 0), CanvasObject("square", "red", "small", 0.9, 0.9, 1)))
    assert describe(twins.objects[0], twins) == "the small red square in the top left"
    same_region = Scene("white", (CanvasObject("square", "red", "small", 0.08, 0.08, 0), CanvasObject("square", "red", "small", 0.25, 0.25, 1)))
    assert describe(same_region.objects[0], same_region) is None


@pytest.mark.parametrize("text", ["the red circle", "The  Red Circle", "a small red circle", "the small red circle in the top left", "the red circle in the top left corner"])
def test_resolve_parses_explicit_forms(text):
    assert [o.oid for o in resolve(text, SCENE.objects)] == [0]


def test_resolve_returns_all_matches_and_rejects_indirect_text():
    assert {o.oid for o in resolve("the red shape", SCENE.objects)} == {0, 2}
    assert parse_description("the shape left of the star") is None
    assert resolve("the largest shape", SCENE.objects) == []


def test_each_action_changes_what_it_should():
    def run(action, subject, target):
        return apply_component(SCENE, {"action": action, "subject": subject, "target": target})

    assert run("recolor", ["the star"], ["green"]).by_oid(2).color == "green"
    assert run("resize", ["the red circle", "the star"], ["large"]).by_oid(2).size == "large"
    assert run("reshape", ["the blue shape"], ["hexagon"]).by_oid(1).shape == "hexagon"
    moved = run("move", ["the star"], ["top right"]).by_oid(2)
    assert (moved.x, moved.y) == REGIONS["top right"]
    assert not run("remove", ["the star"], []).has_oid(2)
    added = run("add", ["a small green triangle"], ["bottom left"])
    assert len(added.objects) == 4 and added.objects[-1].shape == "triangle"
    assert run("background", ["the background"], ["cream"]).background == "cream"


@pytest.mark.parametrize(
    "component, message",
    [
        ({"action": "recolor", "subject": ["the red shape"], "target": ["green"]}, "matches 2 objects"),
        ({"action": "recolor", "subject": ["the square"], "target": ["green"]}, "matches no object"),
        ({"action": "recolor", "subject": ["the star"], "target": ["teal"]}, "not one of"),
        ({"action": "explode", "subject": ["the star"], "target": []}, "unknown action"),
        ({"action": "move", "subject": ["the star"], "target": ["centre"]}, "overlap"),
        ({"action": "remove", "subject": ["the star"], "target": ["left"]}, "no target"),
        ({"action": "add", "subject": ["a circle"], "target": ["top"]}, "size, colour and shape"),
    ],
)
def test_impossible_components_raise_edit_error(component, message):
    with pytest.raises(EditError, match=message):
        apply_component(SCENE, component)


def test_execute_follows_the_order():
    components = [
        {"action": "recolor", "subject": ["the blue shape"], "target": ["green"]},
        {"action": "recolor", "subject": ["the green circle"], "target": ["pink"]},
    ]
    assert execute(SCENE, components, [0, 1]).by_oid(1).color == "pink"
    with pytest.raises(EditError, match="component 1"):
        execute(SCENE, components, [1, 0])
    with pytest.raises(EditError, match="not a permutation"):
        execute(SCENE, components, [0, 0])
