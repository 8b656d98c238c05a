"""Rollouts for GRPO: run the agent graph over many episodes at once, fork each task into a group at the trained
node, finish every episode through the downstream nodes, and score it with the agent's reward terms.

Every episode is stepped by the episode engine (:mod:`envs.engine`), the one definition of an episode that
:class:`orchestration.pipeline.Pipeline`, the Serve runner and :class:`envs.editing_env.EditingEnv` step too; this
module only calls the agents, many episodes at once. For a trained node ``k`` and a batch of tasks:

1. every episode is stepped until it waits at ``k``, one batched call per node (the engine's ``next_batch``);
2. the policy actors sample ``G`` completions per task at ``k`` (one generation call per actor);
3. each completion is parsed into the node's output and recorded on the waiting episode's position, which forks it
   into ``G`` episodes - the group - that the engine steps to the end, reflection rounds included (when the
   reflection target is the trained node itself, its later rounds use its ordinary ``act_batch``, and only the
   first-round completion is trained);
4. each finished episode is scored with the node's reward terms through
   :func:`envs.editing_env.reward_context` and the ``rewards`` registry (the terms the environment sums), kept per
   term so that dual-atomic and UCPG advantages can use them separately.

The environment's ``step`` takes one action per episode, while a group needs G actions on one position and one
generation call for all of them; so GRPO drives the engine the environment is a view of, rather than G copies of the
environment (``tests/orchestration/grpo/test_rollout.py`` checks that both give the same reward).
Failed agent calls end their episode only: the episode is recorded with its error and left out of the loss. A call
past its agent's ``timeout_s`` ends the episode with an error starting ``timeout:`` and no reward (never an invented
one); how its group is trained is ``train.failed_episodes``. Calls to the policy actors go through a
:class:`~orchestration.grpo.pool.PolicyPool`, which retries a dead actor's tasks once or drops them (counted).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from agents.base import AgentOutput, EpisodeState
from envs.editing_env import reward_context, task_to_state
from envs.engine import AgentTimeout, Position, failure_message
from envs.task import EditTask
from orchestration.graph import AgentGraph
from orchestration.grpo.samples import SampledGroups
from rewards import get_reward


class _Worker:
    """A daemon thread that runs one call at a time for a :class:`LocalNode`, so that the caller can stop waiting.

    A Python call cannot be interrupted, only abandoned: after a timeout the node starts a new worker and tells the
    old one to exit once its stuck call returns (a daemon thread never holds up the process's exit).
    """

    def __init__(self) -> None:
        self.inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._loop, daemon=True, name="local-agent-call").start()

    def _loop(self) -> None:
        while True:
            job = self.inbox.get()
            if job is None:
                return
            fn, arg, box = job
            try:
                box.put((True, fn(arg)))
            except BaseException as err:  # handed to the caller, who records it on the episode
                box.put((False, err))

    def run(self, fn: Callable[[Any], Any], arg: Any, timeout_s: float) -> Any:
        box: queue.Queue = queue.Queue(maxsize=1)
        self.inbox.put((fn, arg, box))
        try:
            ok, value = box.get(timeout=timeout_s)
        except queue.Empty:
            self.inbox.put(None)  # exit after the stuck call
            raise AgentTimeout(f"took longer than {timeout_s:g} s") from None
        if not ok:
            raise value
        return value


class LocalNode:
    """An agent object in this process (the fixed nodes: sorter, editor, verifier, rule agents).

    With ``timeout_s`` (the agent config's), each episode's call runs in a worker thread and is abandoned past the
    timeout; calls are then made one episode at a time, since a batched call could only time out as a whole. (The
    Canvas editor and verifier work one image at a time anyway; only in-process LM agents lose their batching.)
    """

    def __init__(self, agent: Any, chunk: int = 128, timeout_s: float | None = None) -> None:
        self.agent = agent
        self.chunk = chunk
        self.timeout_s = timeout_s
        self._worker: _Worker | None = None

    def call_batch(self, states: list[EpisodeState]) -> list[AgentOutput | Exception]:
        if self.timeout_s is not None:
            return [self._call_bounded(state) for state in states]
        results: list[AgentOutput | Exception] = []
        for start in range(0, len(states), self.chunk):  # bounded batches: LM agents generate each in one call
            results.extend(self._call(states[start:start + self.chunk]))
        return results

    def _call_bounded(self, state: EpisodeState) -> AgentOutput | Exception:
        if self._worker is None:
            self._worker = _Worker()
        try:
            return self._worker.run(self.agent.act, state, self.timeout_s)
        except AgentTimeout as err:
            self._worker = None  # the old one is stuck in the abandoned call
            return err
        except Exception as err:
            return err

    def _call(self, states: list[EpisodeState]) -> list[AgentOutput | Exception]:
        try:
            outputs = self.agent.act_batch(states)
            if len(outputs) != len(states):
                raise RuntimeError(f"act_batch returned {len(outputs)} outputs for {len(states)} states")
            return list(outputs)
        except Exception:  # one bad episode must not fail the batch: retry one by one, keep each error
            results: list[AgentOutput | Exception] = []
            for state in states:
                try:
                    results.append(self.agent.act(state))
                except Exception as err:
                    results.append(err)
            return results


class ActorNode:
    """A pool of policy actors acting with the agent's own settings (``act_batch``), chunks in parallel.

    ``pool`` is a :class:`~orchestration.grpo.pool.PolicyPool`: a chunk whose actor died is retried once, else its
    episodes fail with "dropped" (counted by the pool).
    """

    def __init__(self, pool: Any, chunk: int = 64) -> None:
        self.pool = pool
        self.chunk = chunk

    def call_batch(self, states: list[EpisodeState]) -> list[AgentOutput | Exception]:
        chunks = [list(range(i, min(i + self.chunk, len(states)))) for i in range(0, len(states), self.chunk)]
        outputs = self.pool.map("act_batch", [[states[i] for i in idx] for idx in chunks])
        results: list[AgentOutput | Exception] = [RuntimeError("not run")] * len(states)
        for idx, out in zip(chunks, outputs):
            for j, i in enumerate(idx):
                results[i] = RuntimeError("dropped: the policy actor failed twice") if out is None else out[j]
        return results


@dataclass
class Episode:
    """One episode in flight: its task, where it stands in the engine, and the error that ended it (if any)."""

    task: EditTask
    state: EpisodeState
    error: str | None = None
    cursor: int = 0  # the engine's index of the node that runs next

    @classmethod
    def at(cls, task: EditTask, position: Position) -> "Episode":
        return cls(task, position.state, cursor=position.cursor)

    @property
    def position(self) -> Position:
        return Position(self.state, self.cursor)

    @position.setter
    def position(self, position: Position) -> None:
        self.state, self.cursor = position.state, position.cursor

    @property
    def timed_out(self) -> bool:
        return self.error is not None and self.error.startswith("timeout:")


class EpisodeRunner:
    """Steps many episodes through the graph's episode engine, one batched call per node."""

    def __init__(self, graph: AgentGraph, handles: dict[str, Any]) -> None:
        self.graph = graph
        self.handles = handles
        self.engine = graph.engine

    def start(self, tasks: Sequence[EditTask]) -> list[Episode]:
        """New episodes, one per task, at the first node."""
        return [Episode.at(task, self.engine.start(task_to_state(task))) for task in tasks]

    def step(self, episodes: list[Episode], until: str | None = None) -> list[Episode]:
        """Step the episodes that have not failed until each is over or waits at ``until`` (in place; returns them)."""
        while (batch := self.engine.next_batch([None if e.error is not None else e.position for e in episodes], until)) is not None:
            node, indices = batch
            live = [episodes[i] for i in indices]
            outputs = self.handles[node].call_batch([e.state for e in live])
            for episode, output in zip(live, outputs):
                if isinstance(output, Exception):
                    episode.error = failure_message(node, output)
                else:
                    episode.position = self.engine.record(episode.position, output)
        return episodes

    def run(self, tasks: Sequence[EditTask]) -> list[Episode]:
        """Whole episodes (every node, then reflection), as :meth:`Pipeline.run` would run them."""
        return self.step(self.start(tasks))


def reward_terms(episode: Episode, completion: str, kind: str, terms: Sequence[tuple[str, float]]) -> list[float]:
    """The value of each reward term for a finished episode (the environment's ``_final_reward`` sums them)."""
    ctx = reward_context(episode.task, episode.state, completion, kind)
    return [float(get_reward(name)(ctx)) for name, _ in terms]


@dataclass
class GroupRollouts:
    """The rollouts of one trained node in one iteration: ``N = tasks * G`` rows, groups in adjacent rows."""

    node: str
    episodes: list[Episode]
    group_ids: list[str]
    reward_names: list[str]
    reward_weights: np.ndarray          # [K]
    reward_matrix: np.ndarray           # [N, K]; NaN where the episode failed
    samples: SampledGroups              # what the policy actors sampled, row for row with `episodes`
    timings: dict[str, float] = field(default_factory=dict)
    failed_tasks: int = 0               # tasks lost before sampling (an upstream node failed)
    dropped_tasks: int = 0              # tasks whose sampling call failed twice (see PolicyPool): no rows, counted

    @property
    def rewards(self) -> np.ndarray:
        """[N] weighted sum of the terms (NaN for failed episodes)."""
        return self.reward_matrix @ self.reward_weights

    @property
    def ok(self) -> np.ndarray:
        """[N] bool: the episode finished and was scored."""
        return np.array([e.error is None for e in self.episodes], dtype=bool) & np.isfinite(self.reward_matrix).all(axis=1)

    @property
    def solved(self) -> np.ndarray:
        """[N] bool: the pipeline's own verifier passed every item (False without a verdict)."""
        return np.array([e.error is None and e.state.verdict is not None and e.state.verdict.passed for e in self.episodes], dtype=bool)


def collect_groups(runner: EpisodeRunner, node: str, tasks: Sequence[EditTask],
                   sample: Callable[..., tuple[list, SampledGroups]],
                   group_size: int, terms: Sequence[tuple[str, float]], tag: str = "") -> GroupRollouts:
    """Sample ``group_size`` completions of ``node`` per task and finish and score every episode.

    Args:
        runner: runs the other nodes (fixed agents in-process, LM agents through their actors).
        node: the trained node.
        tasks: the iteration's tasks (one group each).
        sample: ``sample(states, n) -> (outputs, SampledGroups)``, e.g. :func:`orchestration.grpo.actors.sample_groups`
            bound to the node's actors and the sampling settings.
        group_size: G.
        terms: ``[(reward name, weight)]``.
        tag: prefix of the group ids (e.g. the iteration), so that ids are unique across iterations.
    """
    graph, engine = runner.graph, runner.engine
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    base = runner.step(runner.start(tasks), until=node)
    base = [e for e in base if e.error is None]
    failed_tasks = len(tasks) - len(base)
    timings["upstream_s"] = time.perf_counter() - t0
    if not base:
        raise RuntimeError(f"every task failed before {node!r} could act; see the upstream agents' errors")

    t0 = time.perf_counter()
    outputs, samples = sample([e.state for e in base], group_size)
    timings["generate_s"] = time.perf_counter() - t0
    dropped_tasks = len(base) - len(samples.kept)  # a sampler may drop tasks (their actor died twice)
    base = [base[i] for i in samples.kept]

    t0 = time.perf_counter()
    episodes = [Episode.at(e.task, engine.record(e.position, outputs[i * group_size + g]))
                for i, e in enumerate(base) for g in range(group_size)]
    runner.step(episodes)
    timings["finish_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    kind = "plan" if graph.roles[node] == "thinker" else "components"
    matrix = np.full((len(episodes), len(terms)), np.nan)
    for row, episode in enumerate(episodes):
        if episode.error is None:
            try:
                matrix[row] = reward_terms(episode, samples.texts[row], kind, terms)
            except ValueError as err:  # a reward whose inputs the episode lacks: record, leave out of the loss
                episode.error = f"reward: {err}"
    timings["reward_s"] = time.perf_counter() - t0
    group_ids = [f"{tag}{node}/{e.task.task_id}" for e in base for _ in range(group_size)]
    return GroupRollouts(node, episodes, group_ids, [n for n, _ in terms], np.array([w for _, w in terms], dtype=np.float64),
                         matrix, samples, timings, failed_tasks, dropped_tasks)
