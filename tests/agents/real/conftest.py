"""Tiny real-model components for the backend tests, each built from a config and saved once per session: a LLaVA
VLM with its processor, a Llama chat LM, and an InstructPix2Pix pipeline. The agents load them with the same
``from_pretrained(path)`` a user's checkpoint takes; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.base import EditResult, EpisodeState
from envs.canvas.generator import GeneratorConfig, generate_tasks


@pytest.fixture(scope="session")
def vlm_path(tmp_path_factory) -> Path:
    from agents.vlm.tiny import save_tiny_vlm

    return save_tiny_vlm(tmp_path_factory.mktemp("vlm") / "tiny-llava")


@pytest.fixture(scope="session")
def lm_path(tmp_path_factory) -> Path:
    from agents.vlm.tiny import save_tiny_chat_lm

    return save_tiny_chat_lm(tmp_path_factory.mktemp("lm") / "tiny-chat")


@pytest.fixture(scope="session")
def pix2pix_path(tmp_path_factory) -> Path:
    from agents.diffusers_editor import save_tiny_instruct_pix2pix

    return save_tiny_instruct_pix2pix(tmp_path_factory.mktemp("pix2pix") / "tiny-ip2p")


@pytest.fixture(scope="session")
def canvas_tasks():
    return list(generate_tasks(3, seed=7, split="test", cfg=GeneratorConfig(size=64)))


@pytest.fixture
def state(canvas_tasks) -> EpisodeState:
    task = canvas_tasks[0]
    return EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png,
                        checklist=list(task.checklist) or None)


@pytest.fixture
def edited_state(state, canvas_tasks) -> EpisodeState:
    return state.model_copy(update={"edit": EditResult(image_png=canvas_tasks[0].target_png)})

