import json
import random

import numpy as np
import pytest

from envs.canvas.render import render
from envs.canvas.scene import MAX_OBJECTS, CanvasObject, Scene, fits, random_scene
from envs.canvas.vocab import BACKGROUNDS, COLORS, REGIONS, SHAPES, SIZES, region_of


def test_vocabulary_meets_the_world_spec():
    assert len(SHAPES) >= 5 and len(COLORS) >= 8 and len(SIZES) == 3 and len(BACKGROUNDS) >= 3
    assert {"top left", "top right", "bottom left", "bottom right", "left", "right", "top", "bottom", "centre"} <= set(REGIONS)
    for name, (x, y) in REGIONS.items():
        assert region_of(x, y) == name


def test_random_scenes_are_valid_and_cover_1_to_6_objects():
    counts = set()
    for seed in range(300):
        scene = random_scene(random.Random(seed))
        assert scene.is_valid()
        counts.add(len(scene.objects))
    assert counts == set(range(1, MAX_OBJECTS + 1))


def test_scene_json_round_trip_keeps_every_field():
    scene = random_scene(random.Random(3), n_objects=4)
    data = json.loads(scene.to_json())
    assert set(data) == {"background", "objects"}
    assert all({"shape", "color", "size", "x", "y"} <= set(o) for o in data["objects"])
    assert Scene.from_json(scene.to_json()).same_content(scene, tol=1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shape": "blob"}, "unknown shape"),
        ({"color": "teal"}, "unknown colour"),
        ({"size": "huge"}, "unknown size"),
        ({"x": 1.5}, "must lie in"),
    ],
)
def test_bad_objects_are_rejected_with_the_allowed_values(kwargs, message):
    base = {"shape": "circle", "color": "red", "size": "small", "x": 0.5, "y": 0.5}
    with pytest.raises(ValueError, match=message):
        CanvasObject(**{**base, **kwargs})


def test_fits_enforces_gap_and_border():
    a = CanvasObject("circle", "red", "large", 0.5, 0.5, 0)
    assert not fits(CanvasObject("circle", "red", "large", 0.6, 0.5, 1), [a])
    assert fits(CanvasObject("circle", "red", "small", 0.85, 0.5, 1), [a])
    assert not fits(CanvasObject("circle", "red", "large", 0.05, 0.5, 1), [])


def test_render_is_deterministic_sized_and_anti_aliased():
    scene = Scene("white", (CanvasObject("circle", "blue", "large", 0.5, 0.5),))
    a, b = np.asarray(render(scene, 128)), np.asarray(render(scene, 128))
    assert a.shape == (128, 128, 3) and np.array_equal(a, b)
    assert np.asarray(render(scene, 256)).shape == (256, 256, 3)
    # Edge pixels are blends of blue and white: neither pure colour.
    blue, white = np.array(COLORS["blue"]), np.array(BACKGROUNDS["white"])
    flat = a.reshape(-1, 3)
    blended = [p for p in flat if not (p == blue).all() and not (p == white).all()]
    assert len(blended) > 20


def test_every_shape_renders_with_its_colour():
    for shape in SHAPES:
        img = np.asarray(render(Scene("cream", (CanvasObject(shape, "red", "large", 0.5, 0.5),)), 128))
        assert (img == np.array(COLORS["red"])).all(axis=-1).sum() > 100, shape
