"""Running one episode through the agent graph, with agents in-process or behind Ray actors.

`Pipeline.run(state)` steps the episode with the graph's episode engine (`envs.engine`: execution order, the bounded
reflection round, what ends an episode), calling each agent through its handle and timing every call. The engine
holds the episode's rules; this module only decides how an agent is called (blocking, in-process or on a Ray actor).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from agents.base import AgentOutput, EpisodeState
from orchestration.config import AgentConfig, PipelineConfig
from orchestration.graph import AgentGraph, build_graph


class AgentHandle(Protocol):
    """Something that runs one agent: in-process (`LocalHandle`) or a Ray actor pool (`orchestration.actors`)."""

    def call(self, state: EpisodeState) -> AgentOutput: ...

    def describe(self) -> dict[str, Any]: ...


class AgentCallError(RuntimeError):
    """An agent call failed or timed out; the episode is marked failed, its reward is not invented."""

    def __init__(self, node: str, reason: str):
        super().__init__(f"agent {node!r}: {reason}")
        self.node = node
        self.reason = reason


def agent_kwargs(agent: AgentConfig, config: PipelineConfig) -> dict[str, Any]:
    """Constructor arguments for an agent: its options, plus `model` when the config names one."""
    kwargs = dict(agent.options)
    if agent.model is not None:
        kwargs["model"] = agent.model
    return kwargs


class LocalHandle:
    """Calls an agent object in this process."""

    def __init__(self, agent: Any):
        self.agent = agent

    def call(self, state: EpisodeState) -> AgentOutput:
        return self.agent.act(state)

    def call_batch(self, states: list[EpisodeState]) -> list[AgentOutput]:
        return self.agent.act_batch(states)

    def describe(self) -> dict[str, Any]:
        return self.agent.describe()


@dataclass
class EpisodeResult:
    """The final state of an episode plus how long each agent took (summed over rounds) and any failure."""

    state: EpisodeState
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    failed_node: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Pipeline:
    """The agent graph bound to handles. Build with `Pipeline.local(config)` or `orchestration.actors.ray_pipeline`."""

    def __init__(self, config: PipelineConfig, graph: AgentGraph, handles: dict[str, AgentHandle]):
        self.config = config
        self.graph = graph
        self.engine = graph.engine
        self.handles = handles

    @classmethod
    def local(cls, config: PipelineConfig) -> "Pipeline":
        graph = build_graph(config)
        handles = {node: LocalHandle(graph.classes[node](**agent_kwargs(config.agents[node], config))) for node in graph.order}
        return cls(config, graph, handles)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.config.name,
            "order": list(self.graph.order),
            "edges": [list(e) for e in self.graph.graph.edges],
            "reflection": None if self.graph.reflection_source is None else {
                "source": self.graph.reflection_source, "target": self.graph.reflection_target, "max_rounds": self.graph.max_rounds},
            "agents": {n: {**self.handles[n].describe(), "role": self.graph.roles[n], "replicas": self.config.agents[n].replicas} for n in self.graph.order},
        }

    def _call(self, node: str, state: EpisodeState) -> AgentOutput:
        try:
            return self.handles[node].call(state)
        except AgentCallError:
            raise
        except Exception as err:  # any agent failure ends this episode only
            raise AgentCallError(node, f"{type(err).__name__}: {err}") from err

    def run(self, state: EpisodeState) -> EpisodeResult:
        engine = self.engine
        timings: dict[str, float] = {}
        position = engine.start(state)
        try:
            while (node := engine.next_node(position)) is not None:
                start = time.perf_counter()
                output = self._call(node, position.state)
                timings[node] = timings.get(node, 0.0) + (time.perf_counter() - start) * 1000
                position = engine.record(position, output)
        except AgentCallError as err:
            return EpisodeResult(position.state, timings, error=str(err), failed_node=err.node)
        return EpisodeResult(position.state, timings)
