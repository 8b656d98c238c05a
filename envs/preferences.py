"""Pairwise preference data for training and measuring a reward model (Edit-R1's GCPO): one Parquet row per pair.

Format (one row per pair; the first six columns are required, the rest optional and null when unknown):

| column | type | meaning |
|---|---|---|
| `pair_id` | string | unique id of the pair |
| `instruction` | string | the user's instruction, as written |
| `source_png` | binary | the image before editing (PNG or any format Pillow reads) |
| `edit_a_png` | binary | one edited image |
| `edit_b_png` | binary | another edited image of the same source and instruction |
| `preferred` | string | `"a"` or `"b"`: the better edit (a human's or a judge's choice) |
| `task_id` | string | the task both edits answer (pairs of one task share it; held-out splits go by task) |
| `judge_a`, `judge_b` | double | the judge's scores of the two edits, when the preference came from scores |
| `kind_a`, `kind_b` | string | how each edit was made (a pipeline, a perturbation), for breakdowns |

Canvas writes these with `agents.lm.verifier_data.preference_pairs` (the judge: the task's reference checklist on
the perceived image); any other source of pairs (human labels, a VLM judge) only has to fill the required columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["PreferencePair", "PAIR_SCHEMA", "write_pairs", "read_pairs"]


class PreferencePair(BaseModel):
    """Two edits of one image and instruction, and which one is better (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pair_id: str = Field(description="Unique id of the pair.")
    instruction: str = Field(min_length=1, description="The user's instruction.")
    source_png: bytes = Field(description="The image before editing.")
    edit_a_png: bytes = Field(description="One edited image.")
    edit_b_png: bytes = Field(description="The other edited image.")
    preferred: Literal["a", "b"] = Field(description="The better edit.")
    task_id: str | None = Field(default=None, description="The task both edits answer.")
    judge_a: float | None = Field(default=None, description="The judge's score of edit A.")
    judge_b: float | None = Field(default=None, description="The judge's score of edit B.")
    kind_a: str | None = Field(default=None, description="How edit A was made.")
    kind_b: str | None = Field(default=None, description="How edit B was made.")

    @property
    def preferred_png(self) -> bytes:
        return self.edit_a_png if self.preferred == "a" else self.edit_b_png

    @property
    def rejected_png(self) -> bytes:
        return self.edit_b_png if self.preferred == "a" else self.edit_a_png


PAIR_SCHEMA = pa.schema([
    ("pair_id", pa.string()), ("instruction", pa.string()), ("source_png", pa.binary()), ("edit_a_png", pa.binary()),
    ("edit_b_png", pa.binary()), ("preferred", pa.string()), ("task_id", pa.string()), ("judge_a", pa.float64()),
    ("judge_b", pa.float64()), ("kind_a", pa.string()), ("kind_b", pa.string()),
])
_REQUIRED = ("pair_id", "instruction", "source_png", "edit_a_png", "edit_b_png", "preferred")


def write_pairs(pairs: Iterable[PreferencePair], path: str | Path) -> int:
    """Write pairs to a Parquet file (:data:`PAIR_SCHEMA`); returns how many."""
    rows = [pair.model_dump() for pair in pairs]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=PAIR_SCHEMA), path, compression="zstd")
    return len(rows)


def read_pairs(path: str | Path, limit: int | None = None) -> Iterator[PreferencePair]:
    """Read pairs written by :func:`write_pairs` or by anyone following the format; a missing required column or a
    bad row is a ``ValueError`` naming it and what to change."""
    table = pq.read_table(path)
    missing = [c for c in _REQUIRED if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: preference pairs need the columns {', '.join(_REQUIRED)}; missing {', '.join(missing)} "
                         "(see envs.preferences for the format)")
    known = [c for c in table.column_names if c in PAIR_SCHEMA.names]
    for k, row in enumerate(table.select(known).to_pylist()):
        if limit is not None and k >= limit:
            return
        try:
            yield PreferencePair(**row)
        except ValidationError as err:
            first = err.errors()[0]
            raise ValueError(f"{path}: row {k}: column {'.'.join(map(str, first['loc']))}: {first['msg']} "
                             "(preferred must be 'a' or 'b'; images are bytes)") from None
