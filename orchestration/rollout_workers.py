"""Rollout workers: whole episodes in batches, one copy of the agent graph per worker process.

The per-node actor pools of :mod:`orchestration.actors` send every agent call of every episode through Ray (five
hops per episode, each serialising the episode state with its images). For throughput-bound work - evaluation,
GRPO rollouts of the fixed nodes - the cheaper shape is the one RLlib's EnvRunners have: a worker process holds
*every* agent of the graph and runs a chunk of episodes through it, one batched call per node
(:class:`orchestration.grpo.rollout.EpisodeRunner`), and returns only what the caller needs (the judged metrics).
One Ray call per chunk instead of one per agent and episode; N workers on N cores run N chunks at once.

``run_local`` is the same loop in this process: the one-core limit that ``benchmarks/rollout_throughput.py``
compares the workers against.

Faults: agents keep their config's ``timeout_s`` (an agent call past it ends that episode with ``timeout:``). A worker
that dies (restarted by Ray, ``max_restarts``), or whose chunk runs past ``chunk_timeout_s`` (killed and restarted),
costs the chunks it held one retry each; the worker gets no new chunk until it answers again (a dead one, out of
restarts, never does). A chunk that fails twice comes back as rows with ``ok`` False and the error, so no task is
lost silently. ``run_distributed(..., faults=FaultCounters())`` counts all of it, under the names the GRPO policy
pool uses (:mod:`orchestration.actor_calls` holds the retry, kill and probe rules both follow).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from envs.task import EditTask
from orchestration.actor_calls import ActorCalls, FaultCounters
from orchestration.config import PipelineConfig
from orchestration.graph import build_graph
from orchestration.scoring import judge_episode


def build_runner(config: PipelineConfig) -> Any:
    """An :class:`EpisodeRunner` over in-process copies of every agent of ``config``'s graph."""
    from orchestration.grpo.rollout import EpisodeRunner, LocalNode
    from orchestration.pipeline import agent_kwargs

    graph = build_graph(config)
    handles = {n: LocalNode(graph.classes[n](**agent_kwargs(config.agents[n], config)), timeout_s=config.agents[n].timeout_s)
               for n in graph.order}
    return EpisodeRunner(graph, handles)


def summarize_episode(episode: Any) -> dict[str, Any]:
    """The compact result of one finished episode: the judge's metrics, the verifier score, rounds, error."""
    state = episode.state
    row = {"task_id": episode.task.task_id, "ok": episode.error is None, "error": episode.error,
           "score": state.verdict.score if state.verdict is not None else None, "rounds": state.round + 1}
    row.update(judge_episode(episode.task, state if episode.error is None else None))
    return row


def run_local(runner: Any, tasks: Sequence[EditTask], chunk: int = 16) -> list[dict[str, Any]]:
    """Whole episodes in this process, ``chunk`` at a time (one batched call per node per chunk)."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(tasks), chunk):
        rows.extend(summarize_episode(e) for e in runner.run(tasks[start:start + chunk]))
    return rows


@ray.remote
class RolloutWorker:
    """One copy of the agent graph in its own process; ``run(tasks)`` returns one summary per task."""

    def __init__(self, config: dict[str, Any], threads: int | None = 1) -> None:
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        self.runner = build_runner(PipelineConfig.model_validate(config))

    def run(self, tasks: Sequence[EditTask]) -> list[dict[str, Any]]:
        return run_local(self.runner, list(tasks), chunk=max(1, len(tasks)))

    def ready(self) -> bool:
        return True


def start_workers(config: PipelineConfig, n: int, *, num_cpus: float = 1.0, threads: int | None = 1,
                  max_restarts: int = 2) -> list[Any]:
    """``n`` rollout workers (each reserves ``num_cpus``; Ray restarts a dead one up to ``max_restarts`` times);
    returns once every one has built its agents."""
    data = config.model_dump(mode="json")
    workers = [RolloutWorker.options(num_cpus=num_cpus, max_restarts=max_restarts).remote(data, threads) for _ in range(n)]
    ray.get([w.ready.remote() for w in workers])
    return workers


def failed_rows(tasks: Sequence[EditTask], error: str) -> list[dict[str, Any]]:
    """The rows of a chunk no worker could run: every task present, ``ok`` False, the error, no metrics."""
    return [{"task_id": t.task_id, "ok": False, "error": error, "score": None, "rounds": 0} for t in tasks]


PROBE_PERIOD_S = 0.5  # how often a failed worker is asked whether it is back


def run_distributed(workers: Sequence[Any], tasks: Sequence[EditTask], chunk: int = 16, *,
                    chunk_timeout_s: float | None = None, faults: FaultCounters | None = None) -> list[dict[str, Any]]:
    """Chunks of ``chunk`` tasks handed to whichever worker is free (two in flight per worker, so a worker never
    waits for the driver); one row per task, in task order (module docstring for faults).

    Args:
        chunk_timeout_s: a worker busy with one chunk for longer than this is hung: it is killed and restarted, and
            the chunks it held are retried. Leave room for the chunk's own time on a loaded machine.
        faults: counts what went wrong (:class:`~orchestration.actor_calls.FaultCounters`): ``actor_errors``
            (failed chunks, and hung workers), ``timeouts`` (hung workers), ``retried_tasks``, ``dropped_tasks``
            (their rows have ``ok`` False) and ``actors_lost`` (out of restarts: no more chunks for them).
    """
    calls = ActorCalls(workers, probe_method="ready", probe_period_s=PROBE_PERIOD_S, counters=faults)
    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    queue: list[tuple[list[int], int]] = [(list(range(i, min(i + chunk, len(tasks)))), 0) for i in range(0, len(tasks), chunk)]
    pending: dict[Any, tuple[int, list[int], int]] = {}  # ref -> (worker, task indices, attempt)
    busy_since: dict[int, float] = {}  # worker -> when the chunk it is running now started (its first in flight)

    def in_flight(k: int) -> list[Any]:
        return [ref for ref, (w, _, _) in pending.items() if w == k]

    def refill() -> None:
        for k in calls.up():
            while queue and len(in_flight(k)) < 2:
                idx, attempt = queue.pop(0)
                if not in_flight(k):
                    busy_since[k] = time.monotonic()
                pending[workers[k].run.remote([tasks[i] for i in idx])] = (k, idx, attempt)

    def give_up(idx: list[int], error: str) -> None:
        for i, row in zip(idx, failed_rows([tasks[i] for i in idx], error)):
            rows[i] = row

    def fail(idx: list[int], attempt: int, error: str) -> None:
        if calls.retry(len(idx), attempt):
            queue.append((idx, 1))
        else:
            give_up(idx, error)

    def take_down(k: int, error: str) -> None:
        """Worker k is down or dead: retry what it held (it gets nothing new until it answers a probe)."""
        for ref in in_flight(k):
            _, idx, attempt = pending.pop(ref)
            fail(idx, attempt, error)
        busy_since.pop(k, None)

    refill()
    while pending or (queue and calls.down):
        deadlines = list(calls.down.values())
        if chunk_timeout_s is not None and busy_since:
            deadlines.append(min(busy_since.values()) + chunk_timeout_s)
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        if pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=timeout)
        else:  # only workers coming back: wait for the next probe
            done = []
            time.sleep(timeout or 0.0)
        if done:
            k, idx, attempt = pending.pop(done[0])
            try:
                result = calls.get(k, done[0])
            except (RayActorError, RayTaskError, GetTimeoutError) as err:
                message = f"worker failed: {type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
                fail(idx, attempt, message)
                if k not in calls.up():  # the process is gone: whatever else it held is lost too
                    take_down(k, message)
            else:
                for i, row in zip(idx, result):
                    rows[i] = row
            if k in busy_since:
                if in_flight(k):
                    busy_since[k] = time.monotonic()  # its next chunk starts now
                else:
                    del busy_since[k]
        elif chunk_timeout_s is not None and busy_since and time.monotonic() >= min(busy_since.values()) + chunk_timeout_s:
            k = min(busy_since, key=busy_since.get)  # hung: restart it; the chunks it held are retried
            calls.hung(k, f"a chunk ran past chunk_timeout_s={chunk_timeout_s:g} s")
            take_down(k, f"timeout: the chunk ran past chunk_timeout_s={chunk_timeout_s:g} s")
        calls.probe_due()
        refill()
        if not pending and not calls.down and queue:  # every worker lost: nothing left to run the rest on
            while queue:
                idx, _ = queue.pop(0)
                calls.drop(len(idx))
                give_up(idx, "worker failed: no live rollout worker left")
    return [r for r in rows if r is not None]
