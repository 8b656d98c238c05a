"""Reading and writing task datasets as Parquet.

The column layout is a user-facing contract (`editrl data generate`): scenes are JSON strings, components a list of
`{action, subject, target}` structs, the checklist a list of `{question, expected, group, check}` structs with the
check as a JSON string. Rows are written in batches so that large datasets never sit in memory as Python objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from envs.task import EditTask

_COMPONENT = pa.struct([("action", pa.string()), ("subject", pa.list_(pa.string())), ("target", pa.list_(pa.string()))])
_CHECK_ITEM = pa.struct([("question", pa.string()), ("expected", pa.string()), ("group", pa.string()), ("check", pa.string())])

SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("split", pa.string()),
        ("category", pa.string()),
        ("n_steps", pa.int32()),
        ("instruction", pa.string()),
        ("explicit_instruction", pa.string()),
        ("source_png", pa.binary()),
        ("target_png", pa.binary()),
        ("source_scene", pa.string()),
        ("target_scene", pa.string()),
        ("components", pa.list_(_COMPONENT)),
        ("order", pa.list_(pa.int32())),
        ("dependencies", pa.list_(pa.list_(pa.int32()))),
        ("checklist", pa.list_(_CHECK_ITEM)),
        ("reference", pa.string()),
        ("template_ids", pa.list_(pa.string())),
        ("reasoning", pa.list_(pa.string())),
        ("reasoning_scans", pa.list_(pa.string())),
        ("reasoning_running_scans", pa.list_(pa.string())),
        ("reasoning_order_scans", pa.list_(pa.string())),
        ("reasoning_compare_scans", pa.list_(pa.string())),
    ]
)

REQUIRED_COLUMNS = ("task_id", "instruction", "source_png")


class DatasetError(ValueError):
    """A dataset file that cannot be read as tasks; the message names the file, row and field."""


def write_tasks(tasks: Iterable[EditTask], path: str | Path, batch_size: int = 256) -> int:
    """Write `tasks` to a Parquet file; returns the number of rows. Same tasks in, byte-identical file out."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        batch: list[dict] = []
        for task in tasks:
            batch.append(task.to_row())
            if len(batch) >= batch_size:
                writer.write_table(pa.Table.from_pylist(batch, schema=SCHEMA))
                count += len(batch)
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=SCHEMA))
            count += len(batch)
    return count


def read_tasks(path: str | Path, limit: int | None = None) -> Iterator[EditTask]:
    """Tasks from a Parquet file written by `write_tasks` (or any file with at least the required columns)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise DatasetError(f"{path}: not a readable Parquet file ({err})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in parquet.schema_arrow.names]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}; a task dataset needs {', '.join(REQUIRED_COLUMNS)}")
    row_index = 0
    for batch in parquet.iter_batches(batch_size=256):
        for row in batch.to_pylist():
            if limit is not None and row_index >= limit:
                return
            try:
                yield EditTask.from_row(row)
            except ValueError as err:
                raise DatasetError(f"{path}: row {row_index}: {err}") from None
            row_index += 1
