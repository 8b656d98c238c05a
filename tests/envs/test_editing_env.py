"""EditingEnv: RLlib's multi-agent checks, turn-taking, rewards from the registry, reflection rounds."""

import pytest
from ray.rllib.utils.pre_checks.env import check_multiagent_environments

from agents.base import Agent, Decomposition, EpisodeState
from envs.canvas.generator import generate_tasks
from envs.task import ComponentSpec
from orchestration.config import load_config
from orchestration.env_factory import make_editing_env
from rewards import format_components, format_tagged, parse_tagged


class TaggedDecomposer(Agent):
    """A minimal text policy: prompt = instruction, completion parsed in the tagged component format."""

    role = "decomposer"

    def act(self, state):  # not used while the node is trainable
        raise NotImplementedError

    def prompt(self, state: EpisodeState) -> str:
        return f"instruction: {state.instruction}\ncomponents:"

    def parse(self, completion: str) -> Decomposition:
        parsed = parse_tagged(completion)
        comps = [ComponentSpec(action=c.action, subject=list(c.subject), target=list(c.target)) for c in parsed.components]
        return Decomposition(components=comps, raw=completion, well_formed=parsed.well_formed)


@pytest.fixture(scope="module")
def tasks():
    return list(generate_tasks(8, seed=9, split="test"))


def make_env(tasks, **overrides):
    config = load_config("imageedit_r1", ["decomposer={backend: rule}"] + [f"{k}={v}" for k, v in overrides.items()])
    return make_editing_env(config, tasks, trainable=["decomposer"], agents={"decomposer": TaggedDecomposer()})


def test_passes_rllibs_multi_agent_checks(tasks):
    check_multiagent_environments(make_env(tasks))


def test_truth_earns_full_reward_and_garbage_earns_nothing(tasks):
    env = make_env(tasks)
    obs, _ = env.reset(options={"task_index": 0})
    assert list(obs) == ["decomposer"] and tasks[0].instruction in obs["decomposer"]
    truth = format_tagged("two steps", format_components(tasks[0].components_as_dicts()))
    _, rewards, terminateds, truncateds, infos = env.step({"decomposer": truth})
    assert terminateds["__all__"] and not truncateds["__all__"]
    assert rewards["decomposer"] == pytest.approx(3.0)  # 1.0 grounded F1 + 1.0 success (every checklist item passes) + 1.0 format
    env.reset(options={"task_index": 0})
    _, rewards, *_ = env.step({"decomposer": "no tags at all"})
    assert rewards["decomposer"] == 0.0


def test_wrong_turn_is_an_error(tasks):
    env = make_env(tasks)
    env.reset(options={"task_index": 1})
    with pytest.raises(ValueError, match="it is 'decomposer'"):
        env.step({"thinker": "x"})


def test_env_without_a_text_policy_is_rejected(tasks):
    with pytest.raises(ValueError, match="at least one trainable"):
        make_editing_env(load_config("canvas_rule"), tasks, trainable=[])
