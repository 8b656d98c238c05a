"""The data of one episode: the state that flows through the agent graph and the output model of each role.

These are plain pydantic models with no behaviour beyond validation, so they sit in the environment layer: the
environment (:mod:`envs.editing_env`) builds and advances an `EpisodeState` without importing any agent
implementation, and the agents (:mod:`agents.base` re-exports every name here) read and write the same classes.
They cross process boundaries (Ray) and land in Parquet traces.

`PROVIDES` is the contract between roles and state: the runner stores a role's output in the field it names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from envs.task import ChecklistItem, ComponentSpec

__all__ = [
    "ROLES",
    "PROVIDES",
    "Plan",
    "Decomposition",
    "SubRequests",
    "EditResult",
    "VerdictItem",
    "Verdict",
    "RoundRecord",
    "EpisodeState",
    "AgentOutput",
]

ROLES = ("thinker", "decomposer", "sorter", "editor", "verifier")

#: The state field each role writes.
PROVIDES: dict[str, str] = {
    "thinker": "plan",
    "decomposer": "decomposition",
    "sorter": "subrequests",
    "editor": "edit",
    "verifier": "verdict",
}


class _Model(BaseModel):
    """Episode models reject unknown fields, so a misspelt field fails loudly instead of being dropped."""

    model_config = ConfigDict(extra="forbid")


class Plan(_Model):
    """Thinker output: a rewritten, explicit instruction (ThinkRL-Edit's `Rewrited`, DDA-Thinker's answer)."""

    text: str = Field(description="The plan: the instruction rewritten with explicit references, in execution order.")
    think: str = Field(default="", description="Reasoning text, if the backend produces any.")
    raw: str | None = Field(default=None, description="The raw completion of an LM backend.")


class Decomposition(_Model):
    """Decomposer output: ImageEdit-R1's (action, subject, target) components."""

    components: list[ComponentSpec] = Field(default_factory=list, description="Components, in the order written.")
    think: str = Field(default="", description="Reasoning text, if any.")
    raw: str | None = Field(default=None, description="The raw completion of an LM backend.")
    well_formed: bool = Field(default=True, description="False when an LM completion did not parse cleanly.")


class SubRequests(_Model):
    """Sorter output: one explicit single-step request per component, in execution order."""

    items: list[str] = Field(default_factory=list, description="Sub-requests in the order they should run.")
    order: list[int] = Field(default_factory=list, description="Indices into the decomposition's components.")


class EditResult(_Model):
    """Editor output: the edited image and what the editor did with each request."""

    image_png: bytes = Field(description="The edited image, PNG-encoded.")
    applied: list[str] = Field(default_factory=list, description="Requests that were carried out.")
    skipped: list[str] = Field(default_factory=list, description="Requests not carried out, each with the reason.")
    calls: int = Field(default=1, description="Editor calls made (single-pass: 1; multi-turn: one per request).")


class VerdictItem(_Model):
    question: str
    answer: Literal["yes", "no", "unknown"]
    expected: Literal["yes", "no"] | None = None
    group: str = "follow"
    reason: str = Field(default="", description="Why the verifier answered so (what it saw), when it says; '' otherwise.")

    @property
    def passed(self) -> bool:
        return self.answer == (self.expected or "yes")


class Verdict(_Model):
    """Verifier output: checklist verdicts, a score in [0, 1] and feedback naming failed items."""

    items: list[VerdictItem] = Field(default_factory=list)
    score: float = Field(ge=0.0, le=1.0, description="Fraction of items answered as expected (checklist reward).")
    passed: bool = Field(description="True when every item passes.")
    feedback: str = Field(default="", description="The failed items in words, for reflection.")


class RoundRecord(_Model):
    """One planning/editing round, kept when reflection starts another."""

    plan: Plan | None = None
    edit: EditResult | None = None
    verdict: Verdict | None = None


class EpisodeState(_Model):
    """Everything an episode knows so far. Agents read it; the runner writes their outputs into it."""

    task_id: str
    instruction: str
    source_png: bytes
    reference: str | None = Field(default=None, description="Reference description of the ideal result, when known.")
    checklist: list[ChecklistItem] | None = Field(default=None, description="Reference checklist, when the task has one.")
    plan: Plan | None = None
    decomposition: Decomposition | None = None
    subrequests: SubRequests | None = None
    edit: EditResult | None = None
    verdict: Verdict | None = None
    feedback: str | None = Field(default=None, description="Verifier feedback for the next reflection round.")
    round: int = Field(default=0, description="Reflection round, 0 for the first pass.")
    history: list[RoundRecord] = Field(default_factory=list)

    def has(self, field: str) -> bool:
        return getattr(self, field) is not None


AgentOutput = Plan | Decomposition | SubRequests | EditResult | Verdict
