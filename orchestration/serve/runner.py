"""`Pipeline.run`, awaiting agents instead of blocking on them, for the Serve ingress.

The ingress drives many episodes at once on one event loop, so it cannot call the synchronous
`orchestration.pipeline.Pipeline.run` (whose Ray handles block). `AsyncPipeline.run` is the same walk - graph order
from `orchestration.graph`, outputs stored under `agents.base.PROVIDES`, the bounded reflection that archives a round
and re-runs every node from the target - over handles with `async acall(state)`. The two are kept equal by a test
that runs both on the same tasks with reflection on (tests/orchestration/serve/test_runner.py).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from agents.base import PROVIDES, AgentOutput, EpisodeState, RoundRecord
from orchestration.graph import AgentGraph
from orchestration.pipeline import AgentCallError, EpisodeResult


class AsyncAgentHandle(Protocol):
    async def acall(self, state: EpisodeState) -> AgentOutput: ...


class AgentUnavailable(RuntimeError):
    """An agent's deployment cannot take the request now (no healthy replica, queue full): answered with 503."""

    def __init__(self, node: str, reason: str):
        super().__init__(f"agent {node!r} is unavailable: {reason}")
        self.node = node


class AsyncPipeline:
    """The agent graph bound to async handles; `run` mirrors `Pipeline.run` (module docstring)."""

    def __init__(self, graph: AgentGraph, handles: dict[str, AsyncAgentHandle]):
        self.graph = graph
        self.handles = handles

    async def _run_nodes(self, state: EpisodeState, nodes: tuple[str, ...], timings: dict[str, float]) -> EpisodeState:
        for node in nodes:
            start = time.perf_counter()
            try:
                output = await self.handles[node].acall(state)
            except (AgentCallError, AgentUnavailable):
                raise
            except Exception as err:  # any agent failure ends this episode only
                raise AgentCallError(node, f"{type(err).__name__}: {err}") from err
            timings[node] = timings.get(node, 0.0) + (time.perf_counter() - start) * 1000
            state = state.model_copy(update={PROVIDES[self.graph.roles[node]]: output})
        return state

    async def run(self, state: EpisodeState, max_rounds: int | None = None, timings: dict[str, float] | None = None) -> EpisodeResult:
        """One episode. `max_rounds` lowers the graph's reflection bound; `timings` (filled as agents finish) lets a
        caller that times the episode out still see how far it got. AgentUnavailable propagates (a 503, not an
        episode failure)."""
        rounds = self.graph.max_rounds if max_rounds is None else min(max_rounds, self.graph.max_rounds)
        timings = {} if timings is None else timings
        try:
            state = await self._run_nodes(state, self.graph.order, timings)
            source, target = self.graph.reflection_source, self.graph.reflection_target
            while source is not None and state.verdict is not None and not state.verdict.passed and state.round < rounds:
                rerun = self.graph.nodes_from(target)  # type: ignore[arg-type]
                record = RoundRecord(plan=state.plan, edit=state.edit, verdict=state.verdict)
                cleared = {PROVIDES[self.graph.roles[n]]: None for n in rerun}
                state = state.model_copy(update={**cleared, "history": state.history + [record],
                                                 "feedback": state.verdict.feedback, "round": state.round + 1})
                state = await self._run_nodes(state, rerun, timings)
        except AgentCallError as err:
            return EpisodeResult(state, timings, error=str(err), failed_node=err.node)
        return EpisodeResult(state, timings)


class LocalAsyncHandle:
    """An agent object in this process behind the async interface (tests, and the benchmark's in-process run)."""

    def __init__(self, agent: Any):
        self.agent = agent

    async def acall(self, state: EpisodeState) -> AgentOutput:
        return self.agent.act(state)
