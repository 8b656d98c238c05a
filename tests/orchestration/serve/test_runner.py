"""AsyncPipeline (the ingress's runner) walks the graph exactly as Pipeline.run does, reflection included; the
Serve handle sorts agent failures from unavailable deployments (503)."""

import asyncio
import threading
import time

import pytest
from ray.serve.exceptions import BackPressureError

from agents.base import Agent, EpisodeState, Plan
from envs.canvas.generator import generate_tasks
from envs.editing_env import task_to_state
from orchestration.config import load_config
from orchestration.pipeline import AgentCallError, Pipeline, agent_kwargs
from orchestration.serve.deployments import InIngressAgent, ServeAgentHandle
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


class _RecordingInIngressAgent(InIngressAgent):
    """The real in-ingress agent, noting which thread ran each call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.threads: list[int] = []

    def call_sync(self, state):
        self.threads.append(threading.get_ident())
        return super().call_sync(state)


def _in_ingress(config, async_nodes=()) -> tuple[Pipeline, AsyncPipeline]:
    """The local pipeline and an AsyncPipeline whose agents are in-ingress agents, except `async_nodes` (awaited on
    the event loop, like a deployment)."""
    pipeline = Pipeline.local(config)
    handles = {}
    for node in pipeline.graph.order:
        if node in async_nodes:
            handles[node] = LocalAsyncHandle(pipeline.handles[node].agent)
        else:
            handles[node] = _RecordingInIngressAgent(node, pipeline.graph.classes[node], agent_kwargs(config.agents[node], config))
    return pipeline, AsyncPipeline(pipeline.graph, handles)


REFLECTING = ["graph.reflection={source: verifier, target: thinker, max_rounds: 2}", "verifier.options.use_reference=false",
              "editor.options.mode=single_pass"]


@pytest.mark.parametrize("async_nodes", [(), ("thinker", "sorter")], ids=["all in the ingress", "mixed"])
def test_in_ingress_agents_give_the_same_states_with_one_thread_hop_per_stretch(async_nodes):
    pipeline, runner = _in_ingress(load_config("canvas_rule", REFLECTING), async_nodes)
    in_thread = [n for n in pipeline.graph.order if n not in async_nodes]
    for task in generate_tasks(12, seed=7, split="test"):
        for node in in_thread:
            runner.handles[node].threads.clear()
        expected, got = pipeline.run(task_to_state(task)), asyncio.run(runner.run(task_to_state(task)))
        assert got.ok and got.state == expected.state and set(got.timings_ms) == set(expected.timings_ms)
        if not async_nodes:
            # Every agent of the first round ran on the same worker thread: one hop for the whole round.
            assert len({runner.handles[n].threads[0] for n in in_thread}) == 1


def test_concurrent_episodes_on_in_ingress_agents_match_sequential_ones():
    pipeline, runner = _in_ingress(load_config("canvas_rule", REFLECTING))
    tasks = list(generate_tasks(16, seed=3, split="test"))

    async def all_at_once():
        return await asyncio.gather(*(runner.run(task_to_state(t)) for t in tasks))

    for got, task in zip(asyncio.run(all_at_once()), tasks):
        assert got.ok and got.state == pipeline.run(task_to_state(task)).state


def test_an_in_ingress_agent_failure_names_its_node():
    _, runner = _in_ingress(load_config("canvas_rule", [f"thinker.cls={__name__}:BrokenThinker"]))
    result = asyncio.run(runner.run(task_to_state(next(generate_tasks(1, seed=1)))))
    assert not result.ok and result.failed_node == "thinker" and "RuntimeError: boom" in result.error


class SlowThinker(Agent):
    role = "thinker"

    def act(self, state: EpisodeState) -> Plan:
        time.sleep(0.3)
        return Plan(text="add a red circle")


def test_a_timed_out_episode_stops_before_the_next_in_ingress_agent():
    _, runner = _in_ingress(load_config("canvas_rule", [f"thinker.cls={__name__}:SlowThinker"]))

    async def timed_out():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(runner.run(task_to_state(next(generate_tasks(1, seed=1)))), 0.05)
        await asyncio.sleep(0.6)  # the thinker's call finishes on its thread meanwhile

    asyncio.run(timed_out())
    assert runner.handles["thinker"].calls == 1 and runner.handles["decomposer"].calls == 0
