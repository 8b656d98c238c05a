"""Rollout workers: whole episodes in batches, one copy of the agent graph per worker process.

The per-node actor pools of :mod:`orchestration.actors` send every agent call of every episode through Ray (five
hops per episode, each serialising the episode state with its images). For throughput-bound work - evaluation,
GRPO rollouts of the fixed nodes - the cheaper shape is the one RLlib's EnvRunners have: a worker process holds
*every* agent of the graph and runs a chunk of episodes through it, one batched call per node
(:class:`orchestration.grpo.rollout.EpisodeRunner`), and returns only what the caller needs (the judged metrics).
One Ray call per chunk instead of one per agent and episode; N workers on N cores run N chunks at once.

``run_local`` is the same loop in this process: the one-core limit that ``benchmarks/rollout_throughput.py``
compares the workers against.
"""

from __future__ import annotations

from typing import Any, Sequence

import ray

from envs.task import EditTask
from orchestration.config import PipelineConfig
from orchestration.graph import build_graph
from orchestration.scoring import judge_episode


def build_runner(config: PipelineConfig) -> Any:
    """An :class:`EpisodeRunner` over in-process copies of every agent of ``config``'s graph."""
    from orchestration.grpo.rollout import EpisodeRunner, LocalNode
    from orchestration.pipeline import agent_kwargs

    graph = build_graph(config)
    handles = {n: LocalNode(graph.classes[n](**agent_kwargs(config.agents[n], config))) for n in graph.order}
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


def start_workers(config: PipelineConfig, n: int, *, num_cpus: float = 1.0, threads: int | None = 1) -> list[Any]:
    """``n`` rollout workers (each reserves ``num_cpus``); returns once every one has built its agents."""
    data = config.model_dump(mode="json")
    workers = [RolloutWorker.options(num_cpus=num_cpus).remote(data, threads) for _ in range(n)]
    ray.get([w.ready.remote() for w in workers])
    return workers


def run_distributed(workers: Sequence[Any], tasks: Sequence[EditTask], chunk: int = 16) -> list[dict[str, Any]]:
    """Chunks of ``chunk`` tasks handed to whichever worker is free (two in flight per worker, so a worker never
    waits for the driver); rows come back in task order."""
    chunks = [list(range(i, min(i + chunk, len(tasks)))) for i in range(0, len(tasks), chunk)]
    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    pending: dict[Any, tuple[int, list[int]]] = {}
    queue = list(chunks)

    def submit(worker_index: int) -> None:
        idx = queue.pop(0)
        ref = workers[worker_index].run.remote([tasks[i] for i in idx])
        pending[ref] = (worker_index, idx)

    for k in range(len(workers)):
        for _ in range(2):
            if queue:
                submit(k)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        worker_index, idx = pending.pop(done[0])
        for i, row in zip(idx, ray.get(done[0])):
            rows[i] = row
        if queue:
            submit(worker_index)
    return [r for r in rows if r is not None]
