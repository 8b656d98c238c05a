"""Calls to Ray actors that may die or hang: what a failed call means, killing a hung actor, asking a failed one
whether it is back, retrying a failed call's tasks once, and counting all of it in one record.

Two callers drive their own scheduling over it - :func:`orchestration.rollout_workers.run_distributed` (chunks of
episodes, two in flight per worker) and :class:`orchestration.grpo.pool.PolicyPool` (one batch of shards per call,
weights re-synced on restart) - so that a fault means the same thing, and is counted under the same name
(:class:`FaultCounters`), wherever an actor is called.

Ray's failure modes, as measured on Ray 2.60, that the handling relies on: a call in flight when a restartable actor
dies raises ``ActorUnavailableError`` (and so does one submitted before the death was noticed); a call to an actor
being restarted waits for the restart, and a ping to it raises ``ActorUnavailableError`` until it is back; a call to
an actor whose restarts are used up raises ``ActorDiedError`` at once, so that actor is dead for good. A hung call
cannot be interrupted: killing the actor (``no_restart=False``) frees it, and Ray restarts it if it may.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import ray
from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError, RayTaskError


@dataclass
class FaultCounters:
    """What went wrong since the last :meth:`take`; GRPO training reports it as ``faults/<name>`` metrics."""

    actor_errors: int = 0       # calls that failed: the actor died, was unreachable, timed out, or raised
    timeouts: int = 0           # of those, calls past their timeout (the actor was killed so that Ray restarts it)
    actor_restarts: int = 0     # actors found to be a new process (restarted by Ray) and re-synced before sampling
    resyncs: int = 0            # weight pushes to an actor that answered with older weights than the caller's
    retried_tasks: int = 0      # tasks whose failed call was sent again, once
    dropped_tasks: int = 0      # tasks whose retry failed too, or that had no live actor left: not run, counted
    actors_lost: int = 0        # actors whose restarts are used up: never called again

    def take(self) -> dict[str, float]:
        """The counts as ``{"faults/<name>": value}``, and reset them to zero."""
        out = {f"faults/{k}": float(v) for k, v in asdict(self).items()}
        for k in asdict(self):
            setattr(self, k, 0)
        return out


class ActorCalls:
    """Ray actor handles (indexed 0..n-1), what is known of each one's health, and the fault counts of calls to them.

    An actor is *live* until its restarts are used up (then in :attr:`dead`); a live actor whose last call failed is
    *down* (in :attr:`down`) until it answers a probe, and gets no new work meanwhile, since every call sent to an
    actor that is still coming back would fail too.

    Args:
        handles: the actor handles.
        probe_method: a cheap method of the actors, without arguments, that answers once the actor is up.
        probe_period_s: how long after a failure (or a failed probe) :meth:`probe_due` asks a down actor again.
        counters: where to count (a fresh :class:`FaultCounters` if None).
    """

    def __init__(self, handles: Sequence[Any], *, probe_method: str = "ping", probe_period_s: float = 0.5,
                 counters: FaultCounters | None = None) -> None:
        self.handles = list(handles)
        self.probe_method = probe_method
        self.probe_period_s = probe_period_s
        self.counters = counters if counters is not None else FaultCounters()
        self.dead: set[int] = set()
        self.down: dict[int, float] = {}  # actor -> when to ask next whether it is back

    def live(self) -> list[int]:
        return [i for i in range(len(self.handles)) if i not in self.dead]

    def up(self) -> list[int]:
        """The live actors not known to be down: the ones to send new work to."""
        return [i for i in self.live() if i not in self.down]

    # -- failures --------------------------------------------------------------------------------------------------

    def note(self, i: int, err: BaseException) -> None:
        """What ``err`` from a call to actor i says about the actor, without counting the call as failed."""
        if isinstance(err, ActorDiedError):
            self._lose(i)
        elif isinstance(err, (RayActorError, GetTimeoutError)):  # gone or hung: Ray may be restarting it
            self.down[i] = time.monotonic() + self.probe_period_s
        # anything else (the method raised) leaves the process as it was

    def failed(self, i: int, err: BaseException) -> None:
        """A call to actor i failed with ``err``: count it and note what it says about the actor."""
        self.counters.actor_errors += 1
        self.note(i, err)

    def hung(self, i: int, why: str) -> None:
        """A call to actor i ran past its timeout: count it, and kill the actor so that Ray restarts it."""
        self.counters.timeouts += 1
        self.failed(i, GetTimeoutError(why))
        ray.kill(self.handles[i], no_restart=False)

    def get(self, i: int, ref: Any, timeout_s: float | None = None) -> Any:
        """``ray.get(ref)`` of a call to actor i; a failure is counted and noted (a hung actor killed), then raised."""
        try:
            return ray.get(ref, timeout=timeout_s)
        except GetTimeoutError:
            self.hung(i, f"no answer within {timeout_s:g} s")
            raise
        except (RayActorError, RayTaskError) as err:
            self.failed(i, err)
            raise

    def call(self, i: int, method: str, *args: Any, timeout_s: float | None = None) -> Any:
        """``actor_i.method(*args)`` and its result, through :meth:`get`."""
        return self.get(i, getattr(self.handles[i], method).remote(*args), timeout_s)

    def _lose(self, i: int) -> None:
        if i not in self.dead:
            self.dead.add(i)
            self.counters.actors_lost += 1
        self.down.pop(i, None)

    # -- coming back -----------------------------------------------------------------------------------------------

    def probe(self, i: int, timeout_s: float) -> bool:
        """Whether actor i answers one probe within ``timeout_s``; if it does it is up again, if its restarts are
        used up it is dead, else it stays down until ``probe_period_s`` from now."""
        try:
            ray.get(getattr(self.handles[i], self.probe_method).remote(), timeout=timeout_s)
        except ActorDiedError:  # out of restarts (the call that met its death was counted already)
            self._lose(i)
            return False
        except (RayActorError, GetTimeoutError):  # still restarting
            self.down[i] = time.monotonic() + self.probe_period_s
            return False
        self.down.pop(i, None)
        return True

    def probe_due(self) -> None:
        """Probe every down actor whose time to be asked again has come, without waiting past ``probe_period_s``."""
        for i, at in list(self.down.items()):
            if time.monotonic() >= at:
                self.probe(i, self.probe_period_s)

    def wait_back(self, i: int, wait_s: float, period_s: float = 0.2) -> bool:
        """Probe actor i until it answers (True), is dead, or ``wait_s`` has passed (False)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and i not in self.dead:
            remaining = deadline - time.monotonic()
            if self.probe(i, max(0.1, remaining)):
                return True
            time.sleep(min(period_s, max(0.0, deadline - time.monotonic())))
        return False

    # -- tasks -----------------------------------------------------------------------------------------------------

    def retry(self, n_tasks: int, attempt: int) -> bool:
        """Whether the ``n_tasks`` tasks of a call that failed on ``attempt`` (0: the first) are sent again: once,
        counted as retried; after that they are counted as dropped."""
        if attempt == 0:
            self.counters.retried_tasks += n_tasks
            return True
        self.drop(n_tasks)
        return False

    def drop(self, n_tasks: int) -> None:
        """``n_tasks`` tasks are given up on (their retry failed, or no actor is left to run them)."""
        self.counters.dropped_tasks += n_tasks
