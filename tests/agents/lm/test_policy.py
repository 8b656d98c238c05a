"""The LM agents: batched acting on episode states, never raising on garbage output, weight sync, describe()."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.base import Decomposition, EpisodeState, Plan, check_agent_class
from agents.lm.policy import LMAgent, LMDecomposer, LMThinker, parse_decomposition, parse_plan
from agents.lm.tokenizer import FORMAT_TAGS
from envs.canvas.generator import generate_tasks


@pytest.fixture(scope="module")
def states():
    tasks = list(generate_tasks(3, seed=4))
    return [EpisodeState(task_id=t.task_id, instruction=t.instruction, source_png=t.source_png) for t in tasks]


def test_classes_meet_the_agent_protocol():
    for cls in (LMThinker, LMDecomposer):
        check_agent_class(cls, cls.__name__)
        assert cls.backend == "transformers" and issubclass(cls, LMAgent)
    assert (LMThinker.role, LMDecomposer.role) == ("thinker", "decomposer")


def test_untrained_decomposer_returns_malformed_without_raising(saved_policy, states):
    agent = LMDecomposer(model=str(saved_policy), max_new_tokens=16, seed=0)
    outputs = agent.act_batch(states)
    assert len(outputs) == len(states)
    for out in outputs:
        assert isinstance(out, Decomposition)
        assert out.well_formed is False and out.raw is not None
    assert isinstance(agent.act(states[0]), Decomposition)


def test_thinker_plans_and_reads_feedback(saved_policy, states):
    agent = LMThinker(model=str(saved_policy), max_new_tokens=8, temperature=0)
    plans = agent.act_batch(states)
    assert all(isinstance(p, Plan) and p.raw is not None for p in plans)
    assert agent.act_batch(states) == plans  # greedy: deterministic
    with_feedback = states[0].model_copy(update={"feedback": "the star is still red"})
    assert "feedback: the star is still red" in agent.prompt(with_feedback)
    assert agent.scene(states[0]).startswith("background:")


def test_decomposer_prompt_uses_the_plan(saved_policy, states):
    agent = LMDecomposer(model=str(saved_policy))
    planned = states[0].model_copy(update={"plan": Plan(text="Make the star red.")})
    assert "plan: Make the star red." in agent.prompt(planned)
    assert "plan:" not in agent.prompt(states[0])


def test_seeded_agents_sample_alike_and_groups_are_adjacent(saved_policy, states):
    a = LMDecomposer(model=str(saved_policy), max_new_tokens=6, seed=3)
    b = LMDecomposer(model=str(saved_policy), max_new_tokens=6, seed=3)
    out_a, gen_a = a.sample(states, num_return_sequences=3)
    out_b, gen_b = b.sample(states, num_return_sequences=3)
    assert [o.raw for o in out_a] == [o.raw for o in out_b]
    assert torch.equal(gen_a.logprobs, gen_b.logprobs)
    assert gen_a.prompt_index.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_weights_round_trip(tokenizer, tiny_config, saved_policy, states):
    from agents.lm.model import build_model, tiny_causal_lm_config

    source = LMDecomposer(model=str(saved_policy), max_new_tokens=8, seed=1)
    other = LMDecomposer.from_model(build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), **tiny_config), seed=99), tokenizer, max_new_tokens=8, seed=1)
    ids = tokenizer([source.prompt(states[0])], return_tensors="pt")

    def logits(agent):
        with torch.no_grad():
            return agent.model(**ids).logits

    weights = source.get_weights()
    assert all(t.device.type == "cpu" and not t.requires_grad for t in weights.values())
    assert not torch.allclose(logits(other), logits(source))
    other.set_weights(weights)
    for name, tensor in other.get_weights().items():
        assert torch.equal(tensor, weights[name]), name
    torch.testing.assert_close(logits(other), logits(source), rtol=0, atol=0)
    # Same weights and same seed: the same samples.
    assert [o.raw for o in other.act_batch(states)] == [o.raw for o in source.act_batch(states)]
    # get_weights returns copies: changing them does not touch the model.
    next(iter(weights.values())).add_(1.0)
    assert not torch.equal(next(iter(source.get_weights().values())), next(iter(weights.values())))
    with pytest.raises(RuntimeError):
        other.set_weights({"nope": torch.zeros(1)})


def test_describe_names_the_model(saved_policy):
    info = LMThinker(model=str(saved_policy), temperature=0.5).describe()
    assert info["role"] == "thinker" and info["backend"] == "transformers"
    assert info["model"] == str(saved_policy) and info["temperature"] == 0.5 and info["parameters"] > 0


GOOD = "<think>2 edits</think><answer>\n<action>recolor</action><subject>the star, the circle</subject><target>blue</target>\n<action>remove</action><subject>the square</subject><target></target>\n</answer>"


def test_parse_decomposition_cases():
    good = parse_decomposition(GOOD)
    assert good.well_formed and good.think == "2 edits" and good.raw == GOOD
    assert [(c.action, c.subject, c.target) for c in good.components] == [
        ("recolor", ["the star", "the circle"], ["blue"]),
        ("remove", ["the square"], []),
    ]
    # One broken line: not well formed, but the good component survives.
    broken = parse_decomposition(GOOD.replace("<action>remove</action>", "<action>remove"))
    assert not broken.well_formed and [c.action for c in broken.components] == ["recolor"]
    empty = parse_decomposition("<think></think><answer></answer>")
    assert not empty.well_formed and empty.components == []


def test_parse_plan_cases():
    assert parse_plan("<think>a</think><answer>\n Make  the star red. \n</answer>").text == "Make the star red."
    assert parse_plan("<think>a</think><answer>Make it</answer>").think == "a"
    assert parse_plan("no tags at all").text == "no tags at all"
    assert parse_plan("<action>x</action> junk").text == "x junk"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b c", " ", ",", "\n", "<", ">"] + list(FORMAT_TAGS)), max_size=30).map("".join))
def test_parsers_never_raise(text):
    assert isinstance(parse_decomposition(text), Decomposition)
    assert isinstance(parse_plan(text), Plan)
