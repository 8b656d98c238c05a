"""The LM verifier: prompt, verdict parsing that never raises, acting on episode states, registry entry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.base import EditResult, EpisodeState, Verdict, check_agent_class
from agents.lm.verifier import LMVerifier, parse_verdict
from agents.registry import builtin_capabilities, resolve_agent_class
from envs.canvas.generator import generate_tasks


@pytest.fixture(scope="module")
def states():
    tasks = list(generate_tasks(2, seed=4))
    return [EpisodeState(task_id=t.task_id, instruction=t.instruction, source_png=t.source_png,
                         edit=EditResult(image_png=t.target_png)) for t in tasks]


def test_registry_resolves_it_as_a_reward_model_not_a_policy():
    assert resolve_agent_class("verifier", "verifier", "transformers", None) is LMVerifier
    caps = builtin_capabilities("verifier", "transformers")
    assert caps.needs_model and caps.cold_start and not caps.trainable and not caps.text_policy
    check_agent_class(LMVerifier, "verifier")


def test_prompt_reads_both_perceived_images(saved_policy, states):
    agent = LMVerifier(model=str(saved_policy), max_new_tokens=8, temperature=0)
    prompt = agent.prompt(states[0])
    assert prompt.startswith("task: verify\nscene: background:") and "\nedited: background:" in prompt
    assert states[0].instruction.split()[0] in prompt


def test_untrained_verifier_acts_without_raising(saved_policy, states):
    agent = LMVerifier(model=str(saved_policy), max_new_tokens=12, seed=0)
    for verdict in agent.act_batch(states):
        assert isinstance(verdict, Verdict) and 0.0 <= verdict.score <= 1.0
        assert not verdict.passed  # noise lists no principle: nothing checked is not a pass


def test_needs_an_edit(saved_policy, states):
    agent = LMVerifier(model=str(saved_policy), max_new_tokens=4)
    with pytest.raises(ValueError, match="needs state.edit"):
        agent.prompt(states[0].model_copy(update={"edit": None}))


def test_verdict_carries_reasons_and_groups():
    v = parse_verdict("<think>3 principles</think><answer>\nfollow: Is the star red? yes; saw small red star\n"
                      "follow: Is there still a blue star? no (expected no); nothing there\n"
                      "quality: Is the image free of stray marks? yes; none seen\n</answer>")
    assert v.passed and v.score == 1.0 and v.feedback == ""
    assert [(i.group, i.expected, i.reason) for i in v.items] == [
        ("follow", "yes", "saw small red star"), ("follow", "no", "nothing there"), ("quality", "yes", "none seen")]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_verdict_never_raises(text):
    verdict = parse_verdict(text)
    assert 0.0 <= verdict.score <= 1.0
