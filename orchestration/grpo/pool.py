"""A pool of policy actors that survives actor deaths: retry once or drop, count both, re-sync restarted actors.

What it promises (training side):

- an actor killed (or hung past ``timeout_s``) in the middle of an iteration does not stop training: the tasks of
  each failed call are retried once on a live actor (another one first, else the restarted one) or dropped, and both
  are counted (:class:`FaultCounters`);
- no task is sampled twice into a batch: each shard's result is taken once, from the first attempt that answered;
  Ray's own task retries stay off (``max_task_retries=0``) because a retry Ray makes silently is a second sample
  the pool could not count;
- an actor that Ray restarted is a fresh process holding its *starting* weights; it never samples with them: every
  call carries ``min_version`` (the pool's current weights version), an actor with older weights answers without
  running the method, and the pool pushes it the current weights (one ``ray.put`` reference, kept) and asks again.

What a failed call means, killing a hung actor, waiting for a restarted one and the retry-once rule are
:mod:`orchestration.actor_calls`'s, shared with the rollout workers; an actor whose restarts are used up is marked
dead there and never used again.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from orchestration.actor_calls import ActorCalls, FaultCounters

__all__ = ["FaultCounters", "PolicyPool", "round_robin_shards"]


def round_robin_shards(n_items: int, n_actors: int) -> list[list[int]]:
    """Item indices split over ``n_actors`` (item i to actor i mod n), empty shards left out.

    >>> round_robin_shards(5, 2)
    [[0, 2, 4], [1, 3]]
    >>> round_robin_shards(1, 3)
    [[0]]
    """
    shards = [list(range(n_items))[k::n_actors] for k in range(n_actors)]
    return [s for s in shards if s]


class PolicyPool:
    """The policy actors of one trained agent, called through :meth:`map` (see the module docstring).

    Args:
        actors: ``PolicyActor`` handles (started with ``max_restarts`` from the agent's config).
        timeout_s: bound on one call; past it the actor is killed (Ray restarts it if it may) and the call counts
            as failed. None: wait as long as the call takes.
        restart_wait_s: how long to wait for an actor to come back before giving up on it for a retry.
    """

    def __init__(self, actors: Sequence[Any], timeout_s: float | None = None, restart_wait_s: float = 60.0) -> None:
        self.calls = ActorCalls(actors, probe_method="ping")
        self.actors = self.calls.handles
        self.timeout_s = timeout_s
        self.restart_wait_s = restart_wait_s
        self.pids: dict[int, int] = {}        # last process id each actor answered from (a change = a restart)
        self.given: dict[int, int] = {}       # weights version each actor was last given (reporting less = a restart)
        self.version = 0
        self.weights_ref: Any = None
        self.counters: FaultCounters = self.calls.counters
        #: Fault-injection seam for tests: called as ``on_submit(attempt, actor_index)`` right after a call is sent.
        self.on_submit: Callable[[int, int], None] | None = None

    # -- weights ---------------------------------------------------------------------------------------------------

    @property
    def dead(self) -> set[int]:
        """Actors whose restarts are used up."""
        return self.calls.dead

    @property
    def restarting(self) -> set[int]:
        """Actors whose last call failed while Ray may be restarting them (no new work until they answer)."""
        return set(self.calls.down)

    def live(self) -> list[int]:
        return self.calls.live()

    def ready(self) -> list[int]:
        """The live actors to send new work to: those not restarting, plus restarting ones that answer a short ping.

        Without this, every call sent to an actor that is still coming back (seconds on a loaded machine) would fail
        and be retried elsewhere. When no actor is ready, it waits up to ``restart_wait_s`` for one to come back.
        """
        for i in sorted(self.calls.down):
            self.calls.wait_back(i, wait_s=0.5)
        ready = self.calls.up()
        if not ready:
            ready = [i for i in self.live() if self.calls.wait_back(i, self.restart_wait_s)]
        return ready

    def sync(self, weights_ref: Any, version: int) -> None:
        """Push ``weights_ref`` (a ``ray.put`` of the state dict) to every live actor; remember it for restarts.

        An actor that fails here is not counted (the call that met its death was): a restarting one gets the
        weights when it next answers (``min_version``), a dead one is marked dead, a hung one is probed before it
        gets work.
        """
        self.weights_ref, self.version = weights_ref, int(version)
        refs = {i: self.actors[i].set_weights.remote(weights_ref, self.version) for i in self.live()}
        for i, ref in refs.items():
            try:
                self.given[i] = ray.get(ref, timeout=self.timeout_s)
            except (RayActorError, GetTimeoutError) as err:
                self.calls.note(i, err)

    # -- calls -----------------------------------------------------------------------------------------------------

    def map(self, method: str, shards: Sequence[list[Any]], *args: Any) -> list[Any | None]:
        """``actor.method(shard, *args)`` for each shard, spread over the live actors; None where a shard was dropped.

        A failed call is retried once, on another live actor when there is one; if that fails too, or no actor
        answers within ``restart_wait_s``, the shard is dropped. Counts go to :attr:`counters`.
        """
        results: list[Any | None] = [None] * len(shards)
        live = self.ready()
        if not live:
            raise RuntimeError("no policy actor is alive (max_restarts used up, or none came back within "
                               f"{self.restart_wait_s:g} s); training cannot go on. Raise agents.<name>.max_restarts "
                               "or add replicas")
        first = {k: live[k % len(live)] for k in range(len(shards))}
        failed = self._attempt(method, shards, args, first, results, attempt=0)
        if not failed:
            return results
        second = {}
        for k in failed:
            self.calls.retry(len(shards[k]), attempt=0)
            target = self._retry_target(avoid=first[k])
            if target is None:
                self.calls.drop(len(shards[k]))
            else:
                second[k] = target
        for k in self._attempt(method, shards, args, second, results, attempt=1):
            self.calls.retry(len(shards[k]), attempt=1)
        return results

    def _attempt(self, method: str, shards: Sequence[list[Any]], args: tuple, owners: dict[int, int],
                 results: list[Any | None], attempt: int) -> list[int]:
        """Send shard k to actor ``owners[k]`` for every k; fill ``results``; return the shards that failed."""
        pending = {k: self._submit(owners[k], method, shards[k], args, attempt) for k in owners}
        failed: list[int] = []
        resynced: set[int] = set()
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        while pending:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _ = ray.wait(list(pending.values()), num_returns=1, timeout=remaining)
            if not ready:  # past the deadline: every call still pending has hung
                for i in sorted({owners[k] for k in pending}):
                    self.calls.hung(i, f"{method} took longer than {self.timeout_s} s")
                failed.extend(pending)
                break
            k = next(k for k, ref in pending.items() if ref == ready[0])
            del pending[k]
            i = owners[k]
            try:
                version, pid, payload = self.calls.get(i, ready[0])
            except RayActorError:
                failed.append(k)
                continue
            self._seen(i, pid, version)
            if version < self.version:  # a restarted actor with its starting weights: it did not run the method
                if k in resynced or self.weights_ref is None:
                    failed.append(k)
                    continue
                resynced.add(k)
                self.counters.resyncs += 1
                try:
                    self.given[i] = self.calls.call(i, "set_weights", self.weights_ref, self.version, timeout_s=self.timeout_s)
                except (RayActorError, GetTimeoutError):
                    failed.append(k)
                    continue
                pending[k] = self._submit(i, method, shards[k], args, attempt)
                continue
            results[k] = payload
        return failed

    def _submit(self, i: int, method: str, shard: list[Any], args: tuple, attempt: int) -> Any:
        ref = self.actors[i].call.remote(method, self.version, shard, *args)
        if self.on_submit is not None:
            self.on_submit(attempt, i)
        return ref

    def _seen(self, i: int, pid: int, version: int) -> None:
        """Record actor i's answer; a new process id, or weights older than it was given, means Ray restarted it."""
        if (i in self.pids and self.pids[i] != pid) or version < self.given.get(i, 0):
            self.counters.actor_restarts += 1
            self.given[i] = version
        self.pids[i] = pid

    def _retry_target(self, avoid: int) -> int | None:
        """A live actor for a retry: another one first (it is likely up), else ``avoid`` once Ray has restarted it."""
        live = self.live()
        for i in [j for j in live if j != avoid] + ([avoid] if avoid in live else []):
            if self.calls.wait_back(i, self.restart_wait_s):
                return i
        return None
