"""Running one episode through the agent graph, with agents in-process or behind Ray actors.

`Pipeline.run(state)` walks the graph in execution order, stores each agent's output in the state, times every
call, and runs the bounded reflection: when the verifier fails and rounds remain, the round is archived in
`state.history`, the verifier's feedback is put in `state.feedback`, and every node from the reflection target on
runs again - from the *source* image, as ThinkRL-Edit re-edits rather than patching the previous output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from agents.base import PROVIDES, AgentOutput, EpisodeState, RoundRecord
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

    def _run_nodes(self, state: EpisodeState, nodes: tuple[str, ...], timings: dict[str, float],
                   call: Callable[[str, EpisodeState], AgentOutput]) -> EpisodeState:
        for node in nodes:
            start = time.perf_counter()
            output = call(node, state)
            timings[node] = timings.get(node, 0.0) + (time.perf_counter() - start) * 1000
            state = state.model_copy(update={PROVIDES[self.graph.roles[node]]: output})
        return state

    def _call(self, node: str, state: EpisodeState) -> AgentOutput:
        try:
            return self.handles[node].call(state)
        except AgentCallError:
            raise
        except Exception as err:  # any agent failure ends this episode only
            raise AgentCallError(node, f"{type(err).__name__}: {err}") from err

    def run(self, state: EpisodeState) -> EpisodeResult:
        timings: dict[str, float] = {}
        try:
            state = self._run_nodes(state, self.graph.order, timings, self._call)
            source, target = self.graph.reflection_source, self.graph.reflection_target
            while source is not None and state.verdict is not None and not state.verdict.passed and state.round < self.graph.max_rounds:
                rerun = self.graph.nodes_from(target)  # type: ignore[arg-type]
                record = RoundRecord(plan=state.plan, edit=state.edit, verdict=state.verdict)
                cleared = {PROVIDES[self.graph.roles[n]]: None for n in rerun}
                state = state.model_copy(update={**cleared, "history": state.history + [record],
                                                 "feedback": state.verdict.feedback, "round": state.round + 1})
                state = self._run_nodes(state, rerun, timings, self._call)
        except AgentCallError as err:
            return EpisodeResult(state, timings, error=str(err), failed_node=err.node)
        return EpisodeResult(state, timings)
