"""An instruction no agent could read is reported as such, and its score does not read as success."""

from __future__ import annotations

import pytest

from agents.base import EpisodeState
from envs.canvas.generator import generate_task
from orchestration.config import load_config
from orchestration.pipeline import Pipeline
from orchestration.understanding import edit_understood, reported_score


@pytest.fixture(scope="module")
def source_png() -> bytes:
    return generate_task(1, 0, "test").source_png


def _run(config: str, instruction: str, source_png: bytes) -> EpisodeState:
    return Pipeline.local(load_config(config, [])).run(EpisodeState(task_id="t", instruction=instruction, source_png=source_png)).state


@pytest.mark.parametrize("config", ["canvas_rule", "editor_only"])
def test_an_instruction_nobody_reads_is_not_understood_and_scores_zero(config, source_png):
    state = _run(config, "make it nicer", source_png)
    assert state.edit is not None and not state.edit.applied and state.verdict.score > 0.5  # the verifier alone says "fine"
    assert not edit_understood(state) and reported_score(state) == 0.0


def test_the_red_star_has_to_go_yields_no_components_and_is_reported(source_png):
    state = _run("canvas_rule", "the red star has to go away", source_png)
    assert state.decomposition.components == []
    assert not edit_understood(state) and reported_score(state) == 0.0


def test_a_read_request_that_matches_nothing_in_the_image_is_understood(source_png):
    # understood but not doable: the verifier's own score (and passed=False) tell that story
    state = _run("canvas_rule", "the red star has to go", source_png)
    assert state.edit.skipped and not state.edit.applied
    assert edit_understood(state) and reported_score(state) == state.verdict.score


def test_an_applied_edit_is_understood(source_png):
    state = _run("editor_only", "make the background cream", source_png)
    assert state.edit.applied and edit_understood(state) and reported_score(state) == state.verdict.score
