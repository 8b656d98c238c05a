"""`EditingEnv`: the editing pipeline as a sequential multi-agent environment (RLlib `MultiAgentEnv` API).

The agents of the environment are the *trainable* nodes of the pipeline (language-model policies): they act in
turns, each observing its prompt as text and answering with a completion (text). Every other node (rule-based
agents, the pixel editor, the verifier) is part of the environment's dynamics and runs inside `step`. An episode:

    reset -> [fixed nodes] -> obs {first trainable: prompt}
    step({agent: completion}) -> parse, store, [fixed nodes] -> obs {next trainable: prompt} ... -> end
    (reflection rounds re-run from the reflection target, so a trainable node may act once per round)

Rewards: 0 while the episode runs; at the end each trainable agent that acted gets the weighted sum of its reward
terms (names from the `rewards` registry), scored on the final state and the task's ground truth. Every agent
terminates together (`"__all__"`); `truncateds` mark an episode cut by `max_turns`.

The environment is a view of the episode engine (`envs.engine`), the same steps every runner takes: the engine says
which node runs next, stores outputs and starts reflection rounds; the environment runs the fixed nodes itself and
hands the trainable ones to the caller. It never imports the orchestration layer: it is handed agent objects, the
node order and roles, and the reward terms (`orchestration.env_factory` builds them from a pipeline config).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any, Sequence

import gymnasium as gym
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from envs.engine import EpisodeEngine, Position, Reflection
from envs.episode import EpisodeState
from envs.task import EditTask
from rewards import RewardContext, get_reward

MAX_TEXT = 8192
TEXT_CHARSET = string.printable


@dataclass(frozen=True)
class NodeSpec:
    """One pipeline node as the environment sees it."""

    name: str
    role: str
    agent: Any
    trainable: bool


def task_to_state(task: EditTask, seed: int = 0) -> EpisodeState:
    return EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png,
                        reference=task.reference, checklist=list(task.checklist) or None)


def reward_context(task: EditTask, state: EpisodeState, completion: str | None, kind: str) -> RewardContext:
    """Everything a registered reward may need about one agent's turn in a finished episode."""
    verdict = state.verdict
    return RewardContext(
        completion=completion,
        predicted_components=[c.model_dump() for c in state.decomposition.components] if state.decomposition else None,
        truth_components=task.components_as_dicts() if task.components else None,
        checklist_answers=[i.answer for i in verdict.items] if verdict else None,
        checklist_expected=[i.expected or "yes" for i in verdict.items] if verdict else None,
        checklist_groups=[i.group for i in verdict.items] if verdict else None,
        source_scene=task.source_scene,
        reference_checks=[{"check": i.check, "expected": i.expected} for i in task.checklist if i.check is not None] or None,
        truth_order=list(task.order) if task.order else None,
        kind=kind,
    )


class EditingEnv(MultiAgentEnv):
    """See the module docstring. `tasks` is a list of EditTask; `rewards` maps agent name -> [(reward name, weight)]."""

    def __init__(self, nodes: Sequence[NodeSpec], tasks: Sequence[EditTask], rewards: dict[str, list[tuple[str, float]]],
                 reflection: Reflection | tuple[str, str, int] | None = None, max_turns: int = 32, seed: int = 0):
        super().__init__()
        if not tasks:
            raise ValueError("EditingEnv needs at least one task")
        self.nodes = list(nodes)
        self.tasks = list(tasks)
        self.reward_terms = rewards
        if reflection is not None and not isinstance(reflection, Reflection):
            reflection = Reflection(*reflection)
        self.reflection = reflection
        self.engine = EpisodeEngine(tuple(n.name for n in self.nodes), {n.name: n.role for n in self.nodes}, reflection)
        self.max_turns = max_turns
        trainable = [n.name for n in self.nodes if n.trainable]
        if not trainable:
            raise ValueError("EditingEnv needs at least one trainable (text-policy) node; mark one with trainable=True")
        for name in trainable:
            node = self._node(name)
            for method in ("prompt", "parse"):
                if not callable(getattr(node.agent, method, None)):
                    raise ValueError(f"trainable node {name!r}: its agent lacks {method}(); only text policies can be trained")
            for reward, _ in rewards.get(name, []):
                get_reward(reward)  # unknown names fail here, not at the end of the first episode
        self.possible_agents = list(trainable)
        self.agents = list(trainable)
        text = gym.spaces.Text(max_length=MAX_TEXT, charset=TEXT_CHARSET)
        self.observation_spaces = {a: text for a in trainable}
        self.action_spaces = {a: gym.spaces.Text(max_length=MAX_TEXT, charset=TEXT_CHARSET) for a in trainable}
        self._rng = random.Random(seed)
        self.task: EditTask | None = None
        self.position: Position | None = None
        self._turns = 0
        self._completions: dict[str, str] = {}

    @property
    def state(self) -> EpisodeState | None:
        """The episode's state so far (None before the first reset)."""
        return None if self.position is None else self.position.state

    def _node(self, name: str) -> NodeSpec:
        return next(n for n in self.nodes if n.name == name)

    @staticmethod
    def _clip(text: str) -> str:
        text = "".join(ch if ch in TEXT_CHARSET else " " for ch in text)
        return text[:MAX_TEXT]

    # -- RLlib API -------------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = random.Random(seed)
        options = options or {}
        index = options.get("task_index", self._rng.randrange(len(self.tasks)))
        self.task = self.tasks[index]
        self.position = self.engine.start(task_to_state(self.task))
        self._turns = 0
        self._completions = {}
        obs = self._advance()
        return obs, {a: {"task_id": self.task.task_id} for a in obs}

    def step(self, action_dict: dict[str, str]):
        assert self.position is not None and self.task is not None, "call reset() before step()"
        name = self.engine.next_node(self.position)
        if name is None:
            raise ValueError("the episode is over; call reset() before step()")
        if name not in action_dict:
            raise ValueError(f"it is {name!r}'s turn; got actions for {sorted(action_dict)}")
        completion = str(action_dict[name])
        self._completions[name] = completion
        self.position = self.engine.record(self.position, self._node(name).agent.parse(completion))
        self._turns += 1
        obs = self._advance()
        done = self.engine.done(self.position)
        truncated = self._turns >= self.max_turns and not done
        if done or truncated:
            rewards = {a: float(self._final_reward(a)) if done else 0.0 for a in self._completions}
            terminateds = {a: done for a in self.possible_agents} | {"__all__": done}
            truncateds = {a: truncated for a in self.possible_agents} | {"__all__": truncated}
            infos = {a: {"task_id": self.task.task_id, "score": self.state.verdict.score if self.state.verdict else None}
                     for a in self._completions}
            return {}, rewards, terminateds, truncateds, infos
        acting = next(iter(obs))
        return obs, {acting: 0.0}, {"__all__": False}, {"__all__": False}, {acting: {}}

    # -- internals -------------------------------------------------------------------------------------------------
    def _advance(self) -> dict[str, str]:
        """Run fixed nodes until a trainable node must act (return its prompt) or the episode ends ({})."""
        assert self.position is not None
        while (name := self.engine.next_node(self.position)) is not None:
            node = self._node(name)
            if node.trainable:
                return {name: self._clip(node.agent.prompt(self.position.state))}
            self.position = self.engine.record(self.position, node.agent.act(self.position.state))
        return {}

    def _final_reward(self, agent: str) -> float:
        assert self.state is not None and self.task is not None
        kind = "plan" if self._node(agent).role == "thinker" else "components"
        ctx = reward_context(self.task, self.state, self._completions.get(agent), kind)
        total = 0.0
        for name, weight in self.reward_terms.get(agent, []):
            total += weight * get_reward(name)(ctx)
        return total
