"""LM outputs of any shape never crash parsing or scoring: the agent-side parsers, every registered reward, and the
whole path from a completion through the rest of the pipeline to the eval judge.

An untrained or pretrained policy writes anything: no tags, half an envelope, tags inside tags, JSON, numbers out
of range, control characters, lone surrogates, megabytes. The rewards' own parser is fuzzed in
tests/rewards/test_parsing.py; here the fuzz goes through the code that consumes its output: `LMThinker`/
`LMDecomposer` parsing, the VLM agents' parsers, the rule sorter, the Canvas editor and verifier that act on a
parsed decomposition or plan, the rewards computed from the finished episode (`EditingEnv`, as GRPO rollouts use
it) and `orchestration.scoring.judge_episode` (as `editrl eval` uses it).
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agents.base import Agent, Decomposition, EpisodeState, Plan, SubRequests
from agents.lm.policy import parse_decomposition, parse_plan
from agents.vlm import parsing as vlm_parsing
from agents.vlm.policy import VLMDecomposer, VLMSorter, VLMThinker
from envs.canvas.generator import generate_tasks
from envs.image_io import load_image
from envs.task import ComponentSpec
from orchestration.config import load_config
from orchestration.env_factory import make_editing_env
from orchestration.scoring import judge_episode
from rewards import RewardContext, available_rewards, format_components, format_tagged, get_reward, parse_tagged

TASKS = list(generate_tasks(6, seed=4, split="test"))
TRUTHS = [format_tagged("steps", format_components(t.components_as_dicts())) for t in TASKS]

FRAGMENTS = [
    "<think>", "</think>", "<answer>", "</answer>", "<action>", "</action>", "<subject>", "</subject>", "<target>",
    "</target>", "<", ">", "</", "/>", ",", ", ,", "\n", " ", "\t", "\r\n", "{", "}", "[", "]", '"', ":", "{\"Rewrited\": ",
    '{"answer": "yes"}', '{"answer": null}', "yes", "no", "Yes.", "1:", "2.", "0)", "999:", "?", "Is it red?",
    "add", "remove", "recolor", "move", "resize", "reshape", "background", "the red circle", "all shapes", "blue",
    "left of the star", "the colour of grass", "every shape that is not red", "NaN", "1e309", "-1", "4/5",
    "99999999999999999999", "\x00", "\ud800", "\u202e", "é", "🙂", "\\", "```json", "```",
]


@st.composite
def mutated_truth(draw) -> str:
    """A correct completion with a slice cut out and noise put in: the near-misses a policy in training writes."""
    text = draw(st.sampled_from(TRUTHS))
    i = draw(st.integers(0, len(text)))
    j = draw(st.integers(i, len(text)))
    noise = draw(st.lists(st.sampled_from(FRAGMENTS), max_size=4).map("".join))
    return text[:i] + noise + text[j:]


LM_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=60).map("".join),
    mutated_truth(),
)
HUGE = "<think>" + "x" * 20_000 + "<answer>" + "<action>recolor</action><subject>a</subject><target>b</target>" * 500


def _state_with_components(n: int = 3) -> EpisodeState:
    task = TASKS[0]
    comps = [ComponentSpec(action="recolor", subject=[f"the shape {i}"], target=["blue"]) for i in range(n)]
    return EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png,
                        decomposition=Decomposition(components=comps))


DIMENSIONS = {"instruction": ["instruction"], "consistency": ["consistency"], "quality": ["quality"]}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LM_TEXT)
@example(HUGE)
@example("")
def test_agent_side_parsers_never_raise_and_return_their_types(text):
    plan = parse_plan(text)
    assert isinstance(plan, Plan) and isinstance(plan.text, str) and plan.raw == text
    dec = parse_decomposition(text)
    assert isinstance(dec, Decomposition) and all(c.action and c.subject for c in dec.components)
    assert dec.well_formed == parse_tagged(text).components_well_formed
    # The VLM agents' parse methods use nothing of the model: they are called unbound on the raw text.
    assert isinstance(VLMThinker.parse(None, text), Plan)
    assert isinstance(VLMDecomposer.parse(None, text), Decomposition)
    state = _state_with_components(3)
    sub = VLMSorter.parse(None, text, state)
    assert isinstance(sub, SubRequests) and sorted(sub.order) == [0, 1, 2] and all(sub.items)
    assert isinstance(VLMSorter.parse(None, text, None), SubRequests)
    assert vlm_parsing.parse_yes_no(text) in ("yes", "no", "unknown")
    questions = vlm_parsing.parse_questions(text)
    assert len(questions) <= 8 and all(q.endswith("?") for q in questions)
    order = vlm_parsing.parse_order(text, 4)
    assert len({i for i, _ in order}) == len(order) and all(0 <= i < 4 for i, _ in order)
    scores = vlm_parsing.parse_scores(text, DIMENSIONS)
    assert set(scores) == set(DIMENSIONS) and all(v is None or 1 <= v <= 5 for v in scores.values())
    assert isinstance(vlm_parsing.parse_plan_text(text), str)


SOURCE = np.asarray(load_image(TASKS[0].source_png))
TARGET = np.asarray(load_image(TASKS[0].target_png))
MASK = np.zeros(SOURCE.shape[:2], dtype=bool)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=LM_TEXT, kind=st.sampled_from(["components", "plan"]), answers=st.lists(st.text(max_size=12), max_size=6))
@example(text=HUGE, kind="components", answers=[])
def test_every_registered_reward_scores_any_completion(text, kind, answers):
    # The verifier's answers come from parse_yes_no of free text too; expected answers are from ground truth.
    parsed_answers = [vlm_parsing.parse_yes_no(a) for a in answers]
    ctx = RewardContext(
        completion=text, kind=kind,
        predicted_components=[c.model_dump() for c in parse_decomposition(text).components],
        truth_components=TASKS[0].components_as_dicts(),
        source_scene=TASKS[0].source_scene, truth_order=TASKS[0].order,
        checklist_answers=parsed_answers, checklist_expected=["yes"] * len(parsed_answers),
        source_image=SOURCE, edited_image=TARGET, change_mask=MASK,
        reference_checks=[{"check": i.check, "expected": i.expected} for i in TASKS[0].checklist if i.check is not None],
    )
    for name in available_rewards():
        if name in ("checklist", "verified_edit") and not parsed_answers:
            continue  # an empty checklist is a caller error (ValueError naming it), not an LM output
        if name == "colour_share":
            continue  # needs an ImageRewardContext's target colour (tests/rewards/test_image_edit.py)
        value = get_reward(name)(ctx)
        assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0, (name, value)
    # f1 parses the completion itself when no components were parsed upstream.
    f1 = get_reward("f1")(RewardContext(completion=text, truth_components=TASKS[0].components_as_dicts()))
    assert 0.0 <= f1 <= 1.0


class TextPolicy(Agent):
    """A trainable node whose parse is the LM agents' own (LMThinker.parse / LMDecomposer.parse call exactly these);
    no model is needed to turn a completion into the state the rest of the pipeline reads."""

    def __init__(self, role: str):
        self.role = role  # type: ignore[misc]

    def act(self, state):  # not called while the node is trainable
        raise NotImplementedError

    def prompt(self, state: EpisodeState) -> str:
        return state.instruction

    def parse(self, text: str):
        return parse_decomposition(text) if self.role == "decomposer" else parse_plan(text)


# imageedit_r1: a decomposer in front of the rule sorter and the Canvas editor and verifier, rewarded format + F1;
# thinkrl_edit: a planner with a reflection round (it acts twice), rewarded by the checklist.
ENVS = {
    "imageedit_r1": make_editing_env(load_config("imageedit_r1", ["decomposer={backend: rule}"]), TASKS,
                                     trainable=["decomposer"], agents={"decomposer": TextPolicy("decomposer")}),
    "thinkrl_edit": make_editing_env(load_config("thinkrl_edit", ["thinker={backend: rule}"]), TASKS,
                                     trainable=["thinker"], agents={"thinker": TextPolicy("thinker")}),
}


@pytest.mark.parametrize("config", list(ENVS))
def test_any_completion_goes_through_the_pipeline_to_rewards_and_the_judge(config):
    env = ENVS[config]

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(texts=st.lists(LM_TEXT, min_size=3, max_size=3), index=st.integers(0, len(TASKS) - 1))
    @example(texts=[HUGE] * 3, index=0)
    @example(texts=[TRUTHS[1]] * 3, index=1)
    def episode(texts, index):
        obs, _ = env.reset(options={"task_index": index})
        turns, done, rewards = 0, False, {}
        while not done:
            agent = next(iter(obs))
            obs, rewards, terminateds, _, _ = env.step({agent: texts[turns % len(texts)]})
            turns += 1
            done = terminateds["__all__"]
            assert turns <= 4
        assert all(isinstance(r, float) and math.isfinite(r) for r in rewards.values()), rewards
        row = judge_episode(env.task, env.state)
        for key in ("f1_action", "f1_subject", "f1_target", "f1_overall", "checklist_pass"):
            assert row[key] is None or 0.0 <= row[key] <= 1.0, (key, row[key])
        assert row["full_success"] in (True, False)

    episode()
