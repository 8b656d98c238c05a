"""Agents as Ray actors: one pool per graph node, with request batching inside each actor.

`AgentActor` is an async actor. Concurrent `act` calls (from many episodes in flight) are queued and handed to the
agent's `act_batch` together - up to `max_batch_size`, waiting at most `batch_wait_ms` for stragglers - in a worker
thread, so the actor keeps accepting requests while a batch runs. LM agents turn that batch into one padded
generation call; other agents just loop.

Calls carry the whole episode state and change nothing outside the actor, so a call Ray retries on a restarted
actor (`max_task_retries`) cannot corrupt an episode; a sampling LM agent may answer a retried call with a different
sample, which is still a valid sample of the same policy.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import ray

from agents.base import AgentOutput, EpisodeState
from orchestration.config import PipelineConfig
from orchestration.graph import build_graph
from orchestration.pipeline import AgentCallError, Pipeline, agent_kwargs


@ray.remote
class AgentActor:
    """Hosts one agent object and batches concurrent requests into `act_batch` calls."""

    def __init__(self, agent_cls: type, kwargs: dict[str, Any], max_batch_size: int = 16, batch_wait_ms: float = 5.0):
        self.agent = agent_cls(**kwargs)
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000.0
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None
        self.batches = 0
        self.requests = 0

    async def act(self, state: EpisodeState) -> AgentOutput:
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.worker = asyncio.get_running_loop().create_task(self._serve())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((state, future))
        return await future

    async def _serve(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.batch_wait_s
            while len(batch) < self.max_batch_size:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            states = [s for s, _ in batch]
            self.batches += 1
            self.requests += len(batch)
            try:
                outputs = await loop.run_in_executor(None, self.agent.act_batch, states)
                if len(outputs) != len(states):
                    raise RuntimeError(f"act_batch returned {len(outputs)} outputs for {len(states)} states")
                for (_, future), output in zip(batch, outputs):
                    if not future.done():
                        future.set_result(output)
            except Exception as err:  # one bad batch fails its requests, never the actor
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)

    def describe(self) -> dict[str, Any]:
        return self.agent.describe()

    def stats(self) -> dict[str, int]:
        return {"batches": self.batches, "requests": self.requests}

    def get_weights(self) -> Any:
        return self.agent.get_weights()

    def set_weights(self, weights: Any, version: int | None = None) -> bool:
        self.agent.set_weights(weights)
        return True


class ActorPoolHandle:
    """Round-robin over a pool of AgentActors; a call past `timeout_s` raises AgentCallError."""

    def __init__(self, node: str, actors: list[Any], timeout_s: float | None = None):
        self.node = node
        self.actors = actors
        self.timeout_s = timeout_s
        self._next = itertools.cycle(range(len(actors)))

    def call(self, state: EpisodeState) -> AgentOutput:
        ref = self.actors[next(self._next)].act.remote(state)
        try:
            return ray.get(ref, timeout=self.timeout_s)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(ref)
            raise AgentCallError(self.node, f"timed out after {self.timeout_s} s") from None
        except ray.exceptions.RayError as err:
            raise AgentCallError(self.node, f"{type(err).__name__}: {err}") from None

    def describe(self) -> dict[str, Any]:
        return ray.get(self.actors[0].describe.remote())


def start_agent_actors(config: PipelineConfig) -> dict[str, list[Any]]:
    """Start every node's actor pool with the resources its config declares."""
    graph = build_graph(config)
    pools: dict[str, list[Any]] = {}
    for node in graph.order:
        agent = config.agents[node]
        options = {
            "num_cpus": agent.num_cpus,
            "num_gpus": agent.num_gpus,
            "max_restarts": agent.max_restarts,
            "max_task_retries": 1 if agent.max_restarts != 0 else 0,
            "max_concurrency": max(agent.max_batch_size * 4, 16),
            "name": None,
        }
        options = {k: v for k, v in options.items() if v is not None}
        pools[node] = [
            AgentActor.options(**options).remote(graph.classes[node], agent_kwargs(agent, config), agent.max_batch_size, agent.batch_wait_ms)
            for _ in range(agent.replicas)
        ]
    return pools


def ray_pipeline(config: PipelineConfig, pools: dict[str, list[Any]] | None = None) -> Pipeline:
    """A Pipeline whose agents run as Ray actors (started here unless `pools` is given)."""
    graph = build_graph(config)
    pools = pools if pools is not None else start_agent_actors(config)
    handles = {node: ActorPoolHandle(node, pools[node], config.agents[node].timeout_s) for node in graph.order}
    return Pipeline(config, graph, handles)
