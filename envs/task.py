"""The task type every data source produces: the Canvas generator, benchmark loaders and user datasets.

Only `task_id`, `instruction` and `source_png` are required; the Canvas world fills every field, real benchmarks
fill what they have (a reference image, an explanation), and each consumer says which fields it needs.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ComponentSpec(BaseModel):
    """One edit component, as in ImageEdit-R1: `(action, subject, target)`, subject and target being sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str = Field(description="Edit action, e.g. recolor, move, add.")
    subject: list[str] = Field(description="Explicit descriptions of the objects acted on.")
    target: list[str] = Field(default_factory=list, description="Target values (colour, region, ...); empty for remove.")


class ChecklistItem(BaseModel):
    """A yes/no question about the edited image and the answer a correct edit gives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(description="The question, in words.")
    expected: Literal["yes", "no"] = Field(description="The answer a correct edit gives.")
    group: str = Field(default="follow", description="Edit-R1 principle: 'follow' (the request) or 'keep' (the rest).")
    check: dict[str, Any] | None = Field(default=None, description="Machine-checkable form (envs.canvas.checks); None for free-text items.")


class EditTask(BaseModel):
    """An instruction-based editing task with whatever ground truth its source provides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str = Field(description="Unique, stable identifier.")
    instruction: str = Field(description="The user's instruction, as written.")
    source_png: bytes = Field(description="The image to edit, PNG-encoded.")
    split: str = Field(default="test", description="train or test.")
    category: str = Field(default="direct", description="Reasoning category: direct, knowledge, spatial, superlative, attribute, logic.")
    n_steps: int = Field(default=1, ge=0, description="Number of edit components.")
    explicit_instruction: str | None = Field(default=None, description="The instruction rewritten with explicit references, in execution order.")
    target_png: bytes | None = Field(default=None, description="The ideal edited image, PNG-encoded.")
    source_scene: str | None = Field(default=None, description="Canvas scene JSON of the source image.")
    target_scene: str | None = Field(default=None, description="Canvas scene JSON of the ideal result.")
    components: list[ComponentSpec] = Field(default_factory=list, description="Ground-truth components in written order.")
    order: list[int] = Field(default_factory=list, description="A valid execution order: indices into `components`.")
    dependencies: list[tuple[int, int]] = Field(default_factory=list, description="Edges (i, j): component i must run before j.")
    checklist: list[ChecklistItem] = Field(default_factory=list, description="Yes/no questions with expected answers.")
    reference: str | None = Field(default=None, description="Rational reference description of the ideal edited scene (DDA-Thinker).")
    template_ids: list[str] = Field(default_factory=list, description="Wording templates used (for the held-out test split).")
    reasoning: list[str] = Field(default_factory=list, description=(
        "What each indirect reference or knowledge phrase of the instruction names, in execution order, as "
        "'<phrase> = <meaning>' ('the shape above the blue star = medium orange triangle'): the steps a reasoning "
        "trace writes out."))
    reasoning_scans: list[str] = Field(default_factory=list, description=(
        "For each note of `reasoning`, how its reference is resolved object by object: every object of the scene at "
        "that step with the number the reference compares and whether it is named ('large blue star 0.20 no, small "
        "red circle 0.60 yes'); '' for a note that names a value (knowledge). Written into a reasoning trace with "
        "`train.sft.scan`."))
    reasoning_running_scans: list[str] = Field(default_factory=list, description=(
        "For each note of `reasoning`, the other way a superlative of one value is resolved: object by object, "
        "keeping the best so far ('large blue star 0.50 best, small red circle 0.30 best'); '' for every other "
        "note. Written into a reasoning trace by `train.sft.scan_forms`."))
    reasoning_order_scans: list[str] = Field(default_factory=list, description=(
        "For each note of `reasoning`, the way a superlative of height is resolved with no number: the objects "
        "that compete, top to bottom ('large blue star, small green star' for 'the lowest star', the last one); '' "
        "for every other note. Written into a reasoning trace by `train.sft.scan_forms`."))
    reasoning_compare_scans: list[str] = Field(default_factory=list, description=(
        "For each note of `reasoning`, the running best of a superlative of one value with each decision written "
        "out: the kind tested, the value against the last best's, how they compare and the relation wanted ('large "
        "blue star 0.50 best, small red circle 0.30 vs 0.50 less for less best' for 'the leftmost shape'); '' for "
        "every other note. Written into a reasoning trace by `train.sft.scan_forms`."))

    @field_validator("instruction")
    @classmethod
    def _instruction_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("instruction is empty; write what to change in the image")
        return value

    def components_as_dicts(self) -> list[dict[str, Any]]:
        return [c.model_dump() for c in self.components]

    def to_row(self) -> dict[str, Any]:
        """A flat dict for Parquet: scenes stay JSON strings, each checklist check becomes a JSON string."""
        row = self.model_dump()
        row["checklist"] = [{**item, "check": json.dumps(item["check"], sort_keys=True) if item["check"] is not None else None} for item in row["checklist"]]
        row["dependencies"] = [list(edge) for edge in self.dependencies]
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "EditTask":
        data = dict(row)
        data["checklist"] = [
            {**item, "check": json.loads(item["check"]) if item.get("check") else None} for item in (data.get("checklist") or [])
        ]
        return cls(**{k: v for k, v in data.items() if v is not None})
