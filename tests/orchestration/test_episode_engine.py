"""The episode engine (`envs.engine`) is the one definition of an episode: its steps on their own, and the four
runners that drive it - `Pipeline.run`, the Serve runner, `EditingEnv` and GRPO's rollout - giving the same states
for the same tasks on a graph that reflects."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from agents.base import Agent, EditResult, Plan, Verdict
from envs.canvas.generator import generate_tasks
from envs.editing_env import task_to_state
from envs.engine import AgentTimeout, EpisodeEngine, Position, Reflection, failure_message
from orchestration.config import load_config
from orchestration.env_factory import make_editing_env
from orchestration.grpo.rollout import EpisodeRunner, LocalNode, collect_groups
from orchestration.grpo.samples import SampledGroups
from orchestration.pipeline import Pipeline, agent_kwargs
from orchestration.serve.deployments import InIngressAgent
from orchestration.serve.runner import AsyncPipeline, LocalAsyncHandle

ENGINE = EpisodeEngine(("thinker", "editor", "verifier"), {"thinker": "thinker", "editor": "editor", "verifier": "verifier"},
                       Reflection("verifier", "thinker", 2))
FAIL = Verdict(score=0.5, passed=False, feedback="Failed: Is the circle blue?")


def _state():
    return task_to_state(next(generate_tasks(1, seed=1)))


def _round(engine, position, verdict):
    position = engine.record(position, Plan(text=f"plan {position.state.round}"))
    position = engine.record(position, EditResult(image_png=position.state.source_png))
    return engine.record(position, verdict)


def test_a_failed_verdict_starts_a_round_that_archives_clears_copies_and_counts():
    position = ENGINE.start(_state())
    assert ENGINE.next_node(position) == "thinker"
    position = _round(ENGINE, position, FAIL)
    state = position.state
    assert ENGINE.next_node(position) == "thinker" and state.round == 1 and state.feedback == FAIL.feedback
    assert state.plan is None and state.edit is None and state.verdict is None  # re-run from the target: cleared
    assert len(state.history) == 1 and state.history[0].verdict == FAIL and state.history[0].plan.text == "plan 0"
    position = _round(ENGINE, _round(ENGINE, position, FAIL), FAIL)
    assert ENGINE.done(position) and position.state.round == 2 and len(position.state.history) == 2  # bounded
    assert position.state.verdict == FAIL  # the last round is kept, not archived


def test_a_passed_verdict_ends_the_episode_and_a_request_may_lower_the_bound():
    passed = Verdict(score=1.0, passed=True)
    assert ENGINE.done(_round(ENGINE, ENGINE.start(_state()), passed))
    capped = ENGINE.bounded(0)
    assert capped.max_rounds == 0 and capped.done(_round(capped, capped.start(_state()), FAIL))
    assert ENGINE.bounded(5) is ENGINE and ENGINE.bounded(None) is ENGINE
    with pytest.raises(ValueError, match="over"):
        ENGINE.record(_round(capped, capped.start(_state()), FAIL), Plan(text="x"))


def test_batches_keep_episodes_that_started_together_together():
    state = _state()
    at_start = ENGINE.start(state)
    in_round_1 = _round(ENGINE, at_start, FAIL)
    at_editor = ENGINE.record(at_start, Plan(text="p"))
    positions = [in_round_1, at_editor, None, at_start, at_editor]
    assert ENGINE.next_batch(positions) == ("thinker", [3])          # round 0 first, earliest node first
    assert ENGINE.next_batch(positions, until="thinker") == ("editor", [1, 4])
    assert ENGINE.next_batch([in_round_1]) == ("thinker", [0])
    assert ENGINE.next_batch([None, Position(state, 3)]) is None


def test_failures_read_the_same_whoever_ran_the_episode():
    assert failure_message("editor", ValueError("bad")) == "agent 'editor': ValueError: bad"
    assert failure_message("editor", AgentTimeout("took longer than 1 s")).startswith("timeout: agent 'editor'")


class EchoPolicy:
    """A text policy over a rule agent: its prompt is the agent's output as JSON and its completion is parsed back,
    so the environment can be stepped with exactly what the in-process agent would have done."""

    def __init__(self, agent):
        self.agent = agent
        self.role = agent.role

    def act(self, state):
        return self.agent.act(state)

    def act_batch(self, states):
        return [self.act(s) for s in states]

    def prompt(self, state):
        return self.agent.act(state).model_dump_json()

    def parse(self, completion):
        return Plan.model_validate_json(completion)

    def describe(self):
        return self.agent.describe()


def _fake_sampler(agent):
    """``sample(states, n)``: the agent's own output n times per state, with token rows of the right shape."""

    def sample(states, n):
        outputs = [out for out in agent.act_batch(states) for _ in range(n)]
        rows = len(outputs)
        return outputs, SampledGroups(
            prompt_ids=np.ones((rows, 2), dtype=np.int64), prompt_mask=np.ones((rows, 2), dtype=np.int64),
            completion_ids=np.ones((rows, 2), dtype=np.int64), completion_mask=np.ones((rows, 2), dtype=np.int64),
            old_logp=np.zeros((rows, 2), dtype=np.float32), finished=np.ones(rows, dtype=bool),
            texts=tuple(o.model_dump_json() for o in outputs), prompts=tuple("p" for _ in states),
            kept=tuple(range(len(states))), versions=(0,), tokens=2 * rows)
    return sample


def test_the_four_runners_give_the_same_states_on_a_reflecting_graph():
    # ThinkRL-Edit's graph (thinker -> editor -> verifier, reflection back to the thinker) with the rule planner and
    # two rounds, so that episodes end after zero, one and two reflection rounds.
    # The verifier reads the request no better than the rule planner, so that some episodes still fail after a
    # round (with the packaged full reader the rule planner's fixes pass nearly every task in one).
    config = load_config("thinkrl_edit", ["thinker={backend: rule}", "graph.reflection.max_rounds=2",
                                          "verifier.options={use_reference: false}"])
    tasks = list(generate_tasks(8, seed=7, split="test"))
    pipeline = Pipeline.local(config)
    agents = {n: h.agent for n, h in pipeline.handles.items()}
    expected = [pipeline.run(task_to_state(t)) for t in tasks]
    assert all(r.ok for r in expected)
    rounds = {r.state.round for r in expected}
    assert 0 in rounds and 2 in rounds, rounds

    serve = AsyncPipeline(pipeline.graph, {n: LocalAsyncHandle(a) for n, a in agents.items()})
    for task, want in zip(tasks, expected):
        got = asyncio.run(serve.run(task_to_state(task)))
        assert got.ok and got.state == want.state and set(got.timings_ms) == set(want.timings_ms)

    env = make_editing_env(config, tasks, trainable=["thinker"], agents={**agents, "thinker": EchoPolicy(agents["thinker"])})
    for i, want in enumerate(expected):
        obs, _ = env.reset(options={"task_index": i})
        turns = 0
        while obs:
            obs, _, terminated, truncated, _ = env.step({"thinker": obs["thinker"]})
            turns += 1
        assert terminated["__all__"] and not truncated["__all__"]
        assert turns == want.state.round + 1  # the thinker acts once per round
        assert env.state == want.state

    runner = EpisodeRunner(pipeline.graph, {n: LocalNode(a) for n, a in agents.items()})
    episodes = runner.run(tasks)
    assert [e.error for e in episodes] == [None] * len(tasks)
    assert [e.state for e in episodes] == [r.state for r in expected]

    group = collect_groups(runner, "thinker", tasks, _fake_sampler(agents["thinker"]), 2, [("checklist", 1.0)])
    assert group.ok.all()
    assert [e.state for e in group.episodes] == [r.state for r in expected for _ in range(2)]


class BrokenEditor(Agent):
    role = "editor"

    def act(self, state):
        raise RuntimeError("boom")


def test_a_failed_call_ends_the_episode_at_the_same_state_in_every_runner():
    config = load_config("thinkrl_edit", ["thinker={backend: rule}", f"editor={{cls: '{__name__}:BrokenEditor'}}"])
    task = next(generate_tasks(1, seed=3, split="test"))
    pipeline = Pipeline.local(config)
    agents = {n: h.agent for n, h in pipeline.handles.items()}
    local = pipeline.run(task_to_state(task))
    assert not local.ok and local.failed_node == "editor" and local.error == "agent 'editor': RuntimeError: boom"
    assert local.state.plan is not None and local.state.edit is None  # how far it got: the thinker's plan is kept
    served = asyncio.run(AsyncPipeline(pipeline.graph, {n: LocalAsyncHandle(a) for n, a in agents.items()}).run(task_to_state(task)))
    in_ingress = {n: InIngressAgent(n, pipeline.graph.classes[n], agent_kwargs(config.agents[n], config)) for n in agents}
    in_thread = asyncio.run(AsyncPipeline(pipeline.graph, in_ingress).run(task_to_state(task)))  # one worker-thread hop
    [episode] = EpisodeRunner(pipeline.graph, {n: LocalNode(a) for n, a in agents.items()}).run([task])
    assert served.error == in_thread.error == episode.error == local.error
    assert served.state == in_thread.state == episode.state == local.state
