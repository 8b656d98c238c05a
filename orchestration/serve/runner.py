"""`Pipeline.run`, awaiting agents instead of blocking on them, for the Serve ingress.

The ingress drives many episodes at once on one event loop, so it cannot call the synchronous
`orchestration.pipeline.Pipeline.run` (whose Ray handles block). `AsyncPipeline.run` is the same walk - graph order
from `orchestration.graph`, outputs stored under `agents.base.PROVIDES`, the bounded reflection that archives a round
and re-runs every node from the target - over handles with `async acall(state)`. The two are kept equal by a test
that runs both on the same tasks with reflection on (tests/orchestration/serve/test_runner.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import groupby
from typing import Any, Protocol

from agents.base import PROVIDES, AgentOutput, EpisodeState, RoundRecord
from orchestration.graph import AgentGraph
from orchestration.pipeline import AgentCallError, EpisodeResult


class AsyncAgentHandle(Protocol):
    async def acall(self, state: EpisodeState) -> AgentOutput: ...


class InThreadAgentHandle(Protocol):
    """A handle whose agent lives in this process: `call_sync` may be called from any worker thread (it serialises
    calls to its agent itself). `AsyncPipeline` runs consecutive such nodes in one worker-thread hop."""

    def call_sync(self, state: EpisodeState) -> AgentOutput: ...


class AgentUnavailable(RuntimeError):
    """An agent's deployment cannot take the request now (no healthy replica, queue full): answered with 503."""

    def __init__(self, node: str, reason: str):
        super().__init__(f"agent {node!r} is unavailable: {reason}")
        self.node = node


@contextmanager
def _episode_failure(node: str) -> Iterator[None]:
    """Any agent failure ends this episode only (AgentCallError naming the node); AgentUnavailable (a 503) and an
    AgentCallError already raised pass through."""
    try:
        yield
    except (AgentCallError, AgentUnavailable):
        raise
    except Exception as err:
        raise AgentCallError(node, f"{type(err).__name__}: {err}") from err


class AsyncPipeline:
    """The agent graph bound to async handles; `run` mirrors `Pipeline.run` (module docstring)."""

    def __init__(self, graph: AgentGraph, handles: dict[str, AsyncAgentHandle]):
        self.graph = graph
        self.handles = handles
        in_thread = [n for n, h in handles.items() if hasattr(h, "call_sync")]
        # One thread per in-process agent lets episodes overlap (one in the thinker while another is in the editor);
        # more would only wait on the agents' locks.
        self.executor = ThreadPoolExecutor(max_workers=len(in_thread), thread_name_prefix="episode") if in_thread else None

    def _record(self, node: str, state: EpisodeState, output: AgentOutput, start: float, timings: dict[str, float]) -> EpisodeState:
        """The state with `node`'s output stored, and its time added to `timings`."""
        timings[node] = timings.get(node, 0.0) + (time.perf_counter() - start) * 1000
        return state.model_copy(update={PROVIDES[self.graph.roles[node]]: output})

    def _run_in_thread(self, state: EpisodeState, nodes: tuple[str, ...], timings: dict[str, float],
                       cancelled: threading.Event) -> EpisodeState:
        """Consecutive in-process nodes, on one worker thread: one hop to and from the event loop for the whole
        stretch instead of one per agent - each hop costs a GIL hand-over that, under load, is worth more than a
        rule agent's whole call. Stops between nodes once the episode was cancelled (timed out)."""
        for node in nodes:
            if cancelled.is_set():
                return state  # nobody awaits it any more
            start = time.perf_counter()
            with _episode_failure(node):
                output = self.handles[node].call_sync(state)  # type: ignore[attr-defined]
            state = self._record(node, state, output, start, timings)
        return state

    async def _run_nodes(self, state: EpisodeState, nodes: tuple[str, ...], timings: dict[str, float]) -> EpisodeState:
        for in_thread, stretch in groupby(nodes, key=lambda n: hasattr(self.handles[n], "call_sync")):
            if in_thread:
                cancelled = threading.Event()
                try:
                    state = await asyncio.get_running_loop().run_in_executor(
                        self.executor, self._run_in_thread, state, tuple(stretch), timings, cancelled)
                except asyncio.CancelledError:
                    cancelled.set()
                    raise
                continue
            for node in stretch:
                start = time.perf_counter()
                with _episode_failure(node):
                    output = await self.handles[node].acall(state)
                state = self._record(node, state, output, start, timings)
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
