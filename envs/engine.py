"""The episode engine: the one definition of how an episode steps through the agent graph.

Where an episode stands is a `Position`: its `EpisodeState` and a cursor, the index (in execution order) of the node
that runs next. The engine never calls an agent. It says which node runs next (`next_node`), stores a node's output
and moves on (`record`), starts the bounded reflection round when the last node is done, and says when the episode
is over. Each runner drives the same steps with its own way of calling agents:

- :class:`orchestration.pipeline.Pipeline` - blocking calls, in-process or to Ray actor pools;
- :class:`orchestration.serve.runner.AsyncPipeline` - awaiting Serve handles, many episodes on one event loop;
- :class:`envs.editing_env.EditingEnv` - a view of one episode in which a trainable node's output arrives as the
  action of ``step`` (RLlib's ``MultiAgentEnv`` API);
- GRPO's rollout (:mod:`orchestration.grpo.rollout`) - many episodes at once, one batched call per node
  (`next_batch` picks which), forked into a group at the trained node by recording G outputs on one position.

Because a position is plain data, forking needs no copying of any runner's machinery, and all four runners give the
same states for the same outputs (tests/orchestration/test_episode_engine.py).

A reflection round starts after the last node when the verifier failed and rounds remain: the round (plan, edit,
verdict) is archived in ``history``, every field the re-run nodes provide is cleared, the verifier's feedback is
copied to ``feedback``, ``round`` is counted, and the cursor goes back to the reflection target - every node from
there re-runs from the *source* image, as ThinkRL-Edit re-edits rather than patching the previous output.

A failed agent call (an error, or a call past its timeout) ends its episode only, at the position it had reached
(every output before the failed node kept), and nobody invents a reward for it. How long a call may take, and
whether it is retried, is the runner's business (Ray actor pools, Serve handles and local worker threads each
bound a call their own way); `failure_message` words an agent's error as every runner records it.

This module sits in the environment layer and imports no agent implementation: it knows nodes by name and role.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from envs.episode import PROVIDES, AgentOutput, EpisodeState, RoundRecord

__all__ = ["AgentTimeout", "EpisodeEngine", "Position", "Reflection", "failure_message"]


class AgentTimeout(TimeoutError):
    """An agent call that ran past its ``timeout_s``: its episode ends with a ``timeout:`` error and no reward."""


def failure_message(node: str, err: BaseException) -> str:
    """The error an episode ends with when ``node``'s call raised ``err``.

    >>> failure_message("editor", ValueError("bad pixels"))
    "agent 'editor': ValueError: bad pixels"
    >>> failure_message("editor", AgentTimeout("took longer than 2 s"))
    "timeout: agent 'editor' took longer than 2 s"
    """
    if isinstance(err, AgentTimeout):
        return f"timeout: agent {node!r} {err}"
    return f"agent {node!r}: {type(err).__name__}: {err}"


@dataclass(frozen=True)
class Reflection:
    """The bounded reflection edge: when ``source`` (a verifier) fails, re-run from ``target``, at most ``max_rounds``
    extra rounds."""

    source: str
    target: str
    max_rounds: int


@dataclass(frozen=True)
class Position:
    """Where one episode stands: its state and the index of the node that runs next (``len(order)`` when over)."""

    state: EpisodeState
    cursor: int = 0


@dataclass(frozen=True)
class EpisodeEngine:
    """The steps of an episode over one graph: ``order`` (execution order), each node's role, the reflection edge."""

    order: tuple[str, ...]
    roles: Mapping[str, str]
    reflection: Reflection | None = None

    def __post_init__(self) -> None:
        missing = [n for n in self.order if n not in self.roles]
        if missing:
            raise ValueError(f"nodes without a role: {missing}")
        if self.reflection is not None and self.reflection.target not in self.order:
            raise ValueError(f"reflection target {self.reflection.target!r} is not in {list(self.order)}")

    @property
    def max_rounds(self) -> int:
        return 0 if self.reflection is None else self.reflection.max_rounds

    def bounded(self, max_rounds: int | None) -> "EpisodeEngine":
        """The same engine with at most ``max_rounds`` reflection rounds (a request may lower the graph's bound)."""
        if max_rounds is None or self.reflection is None or max_rounds >= self.reflection.max_rounds:
            return self
        return replace(self, reflection=replace(self.reflection, max_rounds=max(0, max_rounds)))

    def nodes_from(self, start: str) -> tuple[str, ...]:
        """``start`` and every node after it in execution order (what a reflection round re-runs)."""
        return self.order[self.order.index(start):]

    # -- stepping --------------------------------------------------------------------------------------------------
    def start(self, state: EpisodeState) -> Position:
        """A new episode at the first node (over at once for an empty graph)."""
        return self._settle(Position(state, 0))

    def next_node(self, position: Position) -> str | None:
        """The node that runs next, or None when the episode is over."""
        return self.order[position.cursor] if position.cursor < len(self.order) else None

    def done(self, position: Position) -> bool:
        return position.cursor >= len(self.order)

    def record(self, position: Position, output: AgentOutput) -> Position:
        """Store the next node's output in the field its role provides and move on; after the last node, start a
        reflection round if the verifier failed and rounds remain."""
        node = self.next_node(position)
        if node is None:
            raise ValueError("the episode is over; no node is waiting for an output")
        state = position.state.model_copy(update={PROVIDES[self.roles[node]]: output})
        return self._settle(Position(state, position.cursor + 1))

    def _settle(self, position: Position) -> Position:
        if position.cursor < len(self.order) or not self.reflects(position.state):
            return position
        return Position(self.next_round(position.state), self.order.index(self.reflection.target))  # type: ignore[union-attr]

    def reflects(self, state: EpisodeState) -> bool:
        """True when a finished round of ``state`` starts another: the verifier failed and rounds remain."""
        return (self.reflection is not None and state.verdict is not None and not state.verdict.passed
                and state.round < self.reflection.max_rounds)

    def next_round(self, state: EpisodeState) -> EpisodeState:
        """The state a reflection round starts from: the round archived, what is re-run cleared, feedback copied,
        the round counted."""
        assert self.reflection is not None and state.verdict is not None
        record = RoundRecord(plan=state.plan, edit=state.edit, verdict=state.verdict)
        cleared = {PROVIDES[self.roles[n]]: None for n in self.nodes_from(self.reflection.target)}
        return state.model_copy(update={**cleared, "history": state.history + [record],
                                        "feedback": state.verdict.feedback, "round": state.round + 1})

    def next_batch(self, positions: Sequence[Position | None], until: str | None = None) -> tuple[str, list[int]] | None:
        """For runners that call a node once for many episodes: the node to call next and the indices of the
        positions waiting for it, or None when every episode is over (or waiting at ``until``).

        ``None`` entries (failed episodes) are skipped. The earliest (round, node) goes first, so episodes that
        started together stay together: one call per node per round, the batches a node-by-node walk would make.
        """
        waiting: dict[tuple[int, int], list[int]] = {}
        for i, position in enumerate(positions):
            if position is None:
                continue
            node = self.next_node(position)
            if node is None or node == until:
                continue
            waiting.setdefault((position.state.round, position.cursor), []).append(i)
        if not waiting:
            return None
        key = min(waiting)
        return self.order[key[1]], waiting[key]

