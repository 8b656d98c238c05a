"""A generic editing dataset: JSON Lines or Parquet, one task per row.

Fields (only ``instruction`` and ``image`` are required):

==================  ===========================================================================================
``instruction``     what to change, in words
``image``           the image to edit: a path (relative to the dataset file's folder), a
                    ``data:image/png;base64,...`` URL (JSONL), or the encoded image bytes (a Parquet binary column)
``id``              a unique task id (default ``<file stem>/<row>``)
``reference_image`` the ideal result, in the same forms as ``image`` (becomes ``target_png``)
``reference``       a description of the ideal result (DDA-Thinker's "rational reference")
``category``        a label to group results by (default ``generic``)
``split``           ``train`` or ``test`` (default ``test``)
==================  ===========================================================================================

For example, ``tasks.jsonl``::

    {"id": "cat-1", "image": "images/cat.jpg", "instruction": "Make the cat wear a red hat.", "reference": "..."}

A missing field, a blank instruction or a bad image is an error naming the file, the row and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from envs.datasets.common import DatasetError, RowError, field, image_png, optional
from envs.image_io import ImageInputError
from envs.task import EditTask

__all__ = ["load_generic", "jsonl_rows", "FIELDS"]

FIELDS = ("instruction", "image", "id", "reference_image", "reference", "category", "split")


def jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, row)`` for each non-blank line of a JSON-lines file; an unreadable file, a line that is not JSON or
    not an object is a :class:`DatasetError` naming the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read ({err})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{path}: line {number}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{path}: line {number}: expected a JSON object, got {type(row).__name__}")
        yield f"{path}: line {number}", row


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise DatasetError(f"{path}: not a readable Parquet file ({err})") from None
    missing = [c for c in ("instruction", "image") if c not in parquet.schema_arrow.names]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}; a generic dataset needs instruction and image")
    row_index = 0
    for batch in parquet.iter_batches(batch_size=64):
        for row in batch.to_pylist():
            yield f"{path}: row {row_index}", row
            row_index += 1


def load_generic(path: str | Path, limit: int | None = None, bad_rows: list[RowError] | None = None) -> list[EditTask]:
    """Tasks from a generic ``.jsonl`` or ``.parquet`` file (module docstring). With ``bad_rows``, a row with a
    missing field or an unreadable image is recorded there and skipped instead of raising."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = jsonl_rows(path)
    elif suffix == ".parquet":
        rows = _parquet_rows(path)
    else:
        raise DatasetError(f"{path}: a generic dataset is a .jsonl or .parquet file, not {suffix or 'a file without extension'}")
    tasks: list[EditTask] = []
    ids: set[str] = set()
    for k, (where, row) in enumerate(rows):
        if limit is not None and len(tasks) >= limit:
            break
        try:
            tasks.append(_row_task(row, k, where, path, ids))
        except (DatasetError, ImageInputError) as err:
            if bad_rows is None:
                raise
            bad_rows.append(RowError(where, str(err)))
    return tasks


def _row_task(row: dict[str, Any], k: int, where: str, path: Path, ids: set[str]) -> EditTask:
    instruction = field(row, "instruction", where)
    image = row.get("image")
    if image is None or (isinstance(image, str) and not image.strip()):
        raise DatasetError(f"{where}: missing field 'image'")
    task_id = str(optional(row, "id") or f"{path.stem}/{k}")
    if task_id in ids:
        raise DatasetError(f"{where}: field 'id': {task_id!r} is used by an earlier row; ids must be unique")
    reference_image = optional(row, "reference_image")
    task = EditTask(
        task_id=task_id,
        instruction=instruction,
        source_png=image_png(image, path.parent, where, "image"),
        target_png=image_png(reference_image, path.parent, where, "reference_image") if reference_image is not None else None,
        reference=optional(row, "reference"),
        category=str(optional(row, "category") or "generic"),
        split=str(optional(row, "split") or "test"),
        n_steps=0,
    )
    ids.add(task_id)
    return task
