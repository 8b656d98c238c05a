"""The diffusers editor on a tiny InstructPix2Pix pipeline built from configs and loaded with
``DiffusionPipeline.from_pretrained``."""

from __future__ import annotations

import pytest
from PIL import Image

from agents.base import EpisodeState, Plan, SubRequests
from agents.diffusers_editor import DiffusersEditor
from envs.image_io import encode_png, load_image


@pytest.fixture(scope="module")
def editor(pix2pix_path):
    return DiffusersEditor(str(pix2pix_path), num_inference_steps=1, device="cpu", guidance_scale=3.0, image_guidance_scale=1.2)


@pytest.fixture
def odd_state():
    # 36 x 20: not a multiple of the VAE's factor, so the pipeline's output size differs and must be resized back.
    return EpisodeState(task_id="t", instruction="make the square blue", source_png=encode_png(Image.new("RGB", (36, 20), (200, 30, 30))))


def test_loads_the_pipeline_from_disk_and_edits_single_pass(editor, odd_state):
    assert type(editor.pipeline).__name__ == "StableDiffusionInstructPix2PixPipeline"
    assert editor.describe()["image_guidance_scale"] == 1.2
    result = editor.act(odd_state)
    assert result.calls == 1 and result.applied == ["make the square blue"] and result.skipped == []
    assert result.image_png.startswith(b"\x89PNG") and load_image(result.image_png).size == (36, 20)
    assert editor.act(odd_state).image_png == result.image_png  # fixed seed: a retried call gives the same image


def test_seed_changes_the_image(pix2pix_path, editor, odd_state):
    other = DiffusersEditor(str(pix2pix_path), num_inference_steps=1, device="cpu", seed=1)
    assert other.act(odd_state).image_png != editor.act(odd_state).image_png


def test_input_precedence_and_modes(pix2pix_path, editor, odd_state, monkeypatch):
    state = odd_state.model_copy(update={"plan": Plan(text="Make the square green.")})
    assert DiffusersEditor.requests(state) == ["Make the square green."]
    state = state.model_copy(update={"subrequests": SubRequests(items=["make the square green", " ", "remove the circle."], order=[0, 1, 2])})
    assert DiffusersEditor.requests(state) == ["make the square green", "remove the circle."]
    prompts = []
    monkeypatch.setattr(editor, "_call", lambda image, prompt: prompts.append(prompt) or image)
    assert editor.act(state).calls == 1 and prompts == ["make the square green. Then remove the circle"]

    multi = DiffusersEditor(str(pix2pix_path), mode="multi_turn", num_inference_steps=1, device="cpu")
    result = multi.act(state)
    assert result.calls == 2 and result.applied == ["make the square green", "remove the circle."]
    assert load_image(result.image_png).size == (36, 20)


def test_max_side_downscales_but_returns_the_input_size(pix2pix_path):
    big = EpisodeState(task_id="t", instruction="make it blue", source_png=encode_png(Image.new("RGB", (96, 64), (0, 90, 0))))
    editor = DiffusersEditor(str(pix2pix_path), num_inference_steps=1, device="cpu", max_side=32)
    seen = []
    original = editor._call
    editor._call = lambda image, prompt: seen.append(image.size) or original(image, prompt)  # type: ignore[method-assign]
    assert load_image(editor.act(big).image_png).size == (96, 64) and seen == [(32, 21)]


def test_options_the_pipeline_does_not_take_are_errors(pix2pix_path):
    with pytest.raises(ValueError, match="'true_cfg_scale' is not an argument of StableDiffusionInstructPix2PixPipeline"):
        DiffusersEditor(str(pix2pix_path), true_cfg_scale=4.0, device="cpu")
    with pytest.raises(ValueError, match="mode must be one of"):
        DiffusersEditor(str(pix2pix_path), mode="sideways", device="cpu")
