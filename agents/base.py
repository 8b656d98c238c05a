"""The agent protocol: what every agent (built-in or plug-in) reads, writes and exposes.

An episode is an `EpisodeState` that flows through the agent graph. Each agent reads some fields of the state and
returns one output model; the runner stores it in the field named by the agent's `provides`. An agent class needs:

- `role`: one of ROLES (the output field it fills follows from the role);
- `act(state) -> output` (and optionally `act_batch(states)`, which LM agents override to batch generation);
- `describe() -> dict`: backend and checkpoint, shown by `/v1/agents` and `editrl edit`.

Agents are plain Python objects; `orchestration.actors` wraps them in Ray actors. The episode data (`EpisodeState`,
the output models, `RoundRecord`, `ROLES`, `PROVIDES`) is defined in :mod:`envs.episode`, one layer down, so the
environment can use it without importing agents; it is re-exported here, as the same classes, because this is the
module agents and plug-ins import it from.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

from envs.episode import (
    PROVIDES,
    ROLES,
    AgentOutput,
    Decomposition,
    EditResult,
    EpisodeState,
    Plan,
    RoundRecord,
    SubRequests,
    Verdict,
    VerdictItem,
)

__all__ = [
    "ROLES",
    "PROVIDES",
    "INPUTS",
    "Plan",
    "Decomposition",
    "SubRequests",
    "EditResult",
    "VerdictItem",
    "Verdict",
    "RoundRecord",
    "EpisodeState",
    "AgentOutput",
    "Agent",
    "check_agent_class",
]

#: The state fields each role can work from; it needs at least one of them (instruction is always there).
INPUTS: dict[str, tuple[str, ...]] = {
    "thinker": ("instruction",),
    "decomposer": ("plan", "instruction"),
    "sorter": ("decomposition",),
    "editor": ("subrequests", "plan", "instruction"),
    "verifier": ("edit",),
}


class Agent(ABC):
    """Base class for agents. Plug-ins may subclass it or just provide the same attributes and methods."""

    role: ClassVar[str]
    backend: ClassVar[str] = "custom"

    @abstractmethod
    def act(self, state: EpisodeState) -> AgentOutput:
        """Produce this agent's output for one episode."""

    def act_batch(self, states: Sequence[EpisodeState]) -> list[AgentOutput]:
        """Outputs for several episodes; LM backends override this to batch generation."""
        return [self.act(s) for s in states]

    def describe(self) -> dict[str, Any]:
        return {"role": self.role, "backend": self.backend, "class": f"{type(self).__module__}.{type(self).__qualname__}"}


def check_agent_class(cls: type, name: str) -> None:
    """Raise ValueError unless `cls` meets the agent protocol; `name` is how the config named it."""
    role = getattr(cls, "role", None)
    if role not in ROLES:
        raise ValueError(f"agent {name!r}: class {cls.__qualname__} has role {role!r}; set `role` to one of {', '.join(ROLES)}")
    if not callable(getattr(cls, "act", None)):
        raise ValueError(f"agent {name!r}: class {cls.__qualname__} has no act(state) method")
