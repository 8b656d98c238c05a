"""AsyncPipeline (the ingress's runner) walks the graph exactly as Pipeline.run does, reflection included; the
Serve handle sorts agent failures from unavailable deployments (503)."""

import asyncio

import pytest
from ray.serve.exceptions import BackPressureError

from agents.base import Agent, EpisodeState, Plan
from envs.canvas.generator import generate_tasks
from envs.editing_env import task_to_state
from orchestration.config import load_config
from orchestration.pipeline import AgentCallError, Pipeline
from orchestration.serve.deployments import ServeAgentHandle
from orchestration.serve.runner import AgentUnavailable, AsyncPipeline, LocalAsyncHandle


def _async_twin(pipeline: Pipeline) -> AsyncPipeline:
    return AsyncPipeline(pipeline.graph, {n: LocalAsyncHandle(h.agent) for n, h in pipeline.handles.items()})


def test_same_states_as_pipeline_run_with_reflection():
    # An honest verifier (no reference checklist) and two reflection rounds, so some episodes reflect.
    config = load_config("canvas_rule", ["graph.reflection={source: verifier, target: thinker, max_rounds: 2}",
                                         "verifier.options.use_reference=false", "editor.options.mode=single_pass"])
    pipeline = Pipeline.local(config)
    runner = _async_twin(pipeline)
    rounds = []
    for task in generate_tasks(16, seed=7, split="test"):
        expected = pipeline.run(task_to_state(task))
        got = asyncio.run(runner.run(task_to_state(task)))
        assert got.ok and expected.ok
        assert got.state == expected.state
        assert set(got.timings_ms) == set(expected.timings_ms)
        rounds.append(got.state.round)
        capped = asyncio.run(runner.run(task_to_state(task), max_rounds=0))
        assert capped.state.round == 0 and capped.state.history == []
    assert any(rounds), "no episode reflected; pick tasks where the first round fails"


class BrokenThinker(Agent):
    role = "thinker"

    def act(self, state: EpisodeState) -> Plan:
        raise RuntimeError("boom")


def test_an_agent_failure_ends_the_episode_with_its_node():
    config = load_config("canvas_rule", [f"thinker.cls={__name__}:BrokenThinker"])
    result = asyncio.run(_async_twin(Pipeline.local(config)).run(task_to_state(next(generate_tasks(1, seed=1)))))
    assert not result.ok and result.failed_node == "thinker" and "RuntimeError: boom" in result.error


class _Handle:
    """A stand-in for a DeploymentHandle whose calls raise `error`."""

    def __init__(self, error: Exception):
        self.error = error

    def remote(self, state):
        async def fail():
            raise self.error
        return fail()


def test_serve_handle_sorts_failures_into_unavailable_and_agent_errors():
    state = task_to_state(next(generate_tasks(1, seed=1)))
    with pytest.raises(AgentUnavailable, match="'editor' is unavailable: BackPressureError"):
        asyncio.run(ServeAgentHandle("editor", _Handle(BackPressureError(10, 10))).acall(state))
    with pytest.raises(AgentCallError, match="'editor': ValueError: bad pixels"):
        asyncio.run(ServeAgentHandle("editor", _Handle(ValueError("bad pixels"))).acall(state))
