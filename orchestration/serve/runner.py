"""`Pipeline.run`, awaiting agents instead of blocking on them, for the Serve ingress.

The ingress drives many episodes at once on one event loop, so it cannot call the synchronous
`orchestration.pipeline.Pipeline.run` (whose Ray handles block). `AsyncPipeline.run` steps the same episode engine
(`envs.engine`: execution order, the bounded reflection round, what ends an episode) over handles with
`async acall(state)`; only how an agent is called differs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

from agents.base import AgentOutput, EpisodeState
from envs.engine import EpisodeEngine, Position
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
    """The agent graph bound to async handles; `run` steps the episode engine as `Pipeline.run` does."""

    def __init__(self, graph: AgentGraph, handles: dict[str, AsyncAgentHandle]):
        self.graph = graph
        self.engine = graph.engine
        self.handles = handles
        in_thread = [n for n, h in handles.items() if hasattr(h, "call_sync")]
        # One thread per in-process agent lets episodes overlap (one in the thinker while another is in the editor);
        # more would only wait on the agents' locks.
        self.executor = ThreadPoolExecutor(max_workers=len(in_thread), thread_name_prefix="episode") if in_thread else None

    def _in_thread(self, node: str) -> bool:
        return hasattr(self.handles[node], "call_sync")

    def _run_in_thread(self, engine: EpisodeEngine, position: Position, timings: dict[str, float],
                       cancelled: threading.Event) -> tuple[Position, AgentCallError | None]:
        """Consecutive in-process nodes, on one worker thread: one hop to and from the event loop for the whole
        stretch instead of one per agent - each hop costs a GIL hand-over that, under load, is worth more than a
        rule agent's whole call. Stops between nodes once the episode was cancelled (timed out). A failed call is
        returned with the position reached, so the episode ends where it failed, as on the event loop."""
        while (node := engine.next_node(position)) is not None and self._in_thread(node):
            if cancelled.is_set():
                return position, None  # nobody awaits it any more
            start = time.perf_counter()
            try:
                with _episode_failure(node):
                    output = self.handles[node].call_sync(position.state)  # type: ignore[attr-defined]
            except AgentCallError as err:
                return position, err
            timings[node] = timings.get(node, 0.0) + (time.perf_counter() - start) * 1000
            position = engine.record(position, output)
        return position, None

    async def run(self, state: EpisodeState, max_rounds: int | None = None, timings: dict[str, float] | None = None) -> EpisodeResult:
        """One episode. `max_rounds` lowers the graph's reflection bound; `timings` (filled as agents finish) lets a
        caller that times the episode out still see how far it got. AgentUnavailable propagates (a 503, not an
        episode failure)."""
        engine = self.engine.bounded(max_rounds)
        timings = {} if timings is None else timings
        position = engine.start(state)
        try:
            while (node := engine.next_node(position)) is not None:
                if self._in_thread(node):
                    cancelled = threading.Event()
                    try:
                        position, failure = await asyncio.get_running_loop().run_in_executor(
                            self.executor, self._run_in_thread, engine, position, timings, cancelled)
                    except asyncio.CancelledError:
                        cancelled.set()
                        raise
                    if failure is not None:
                        raise failure
                    continue
                start = time.perf_counter()
                with _episode_failure(node):
                    output = await self.handles[node].acall(position.state)
                timings[node] = timings.get(node, 0.0) + (time.perf_counter() - start) * 1000
                position = engine.record(position, output)
        except AgentCallError as err:
            return EpisodeResult(position.state, timings, error=str(err), failed_node=err.node)
        return EpisodeResult(position.state, timings)


class LocalAsyncHandle:
    """An agent object in this process behind the async interface (tests, and the benchmark's in-process run)."""

    def __init__(self, agent: Any):
        self.agent = agent

    async def acall(self, state: EpisodeState) -> AgentOutput:
        return self.agent.act(state)
