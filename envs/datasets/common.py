"""Helpers shared by the dataset loaders: reading JSON, fields and images with errors that name file, row and field."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.dataset import DatasetError
from envs.image_io import ImageInputError, decode_base64_image, encode_png, load_image
from envs.task import EditTask

__all__ = ["DatasetError", "MULTI_IMAGE", "RowError", "read_json", "field", "optional", "image_png", "image_list",
           "check_multi_image", "source_image", "collect_tasks"]

#: What to do with an item that has several input images (EditTask has one source image): skip it (with a warning
#: that counts them), use the first image, or raise.
MULTI_IMAGE = ("skip", "first", "error")


@dataclass(frozen=True)
class RowError:
    """A row a loader could not read (given `bad_rows`, loaders record these and skip the row instead of raising,
    so `editrl eval` records the row as failed and goes on). File-level problems - a missing file or column, a
    file that does not parse - still raise: nothing after them could be read."""

    where: str  #: the file and the row, e.g. "tasks.jsonl: line 3"
    error: str  #: the whole message: file, row, field and problem


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing or malformed file is a DatasetError naming it."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: not readable JSON ({err})") from None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def field(row: Mapping[str, Any], name: str, where: str, kinds: tuple[type, ...] = (str,)) -> Any:
    """A required field; missing, blank or of the wrong type is a DatasetError naming ``where`` and the field."""
    value = row.get(name) if isinstance(row, Mapping) else None
    if _missing(value):
        raise DatasetError(f"{where}: missing field {name!r}")
    if not isinstance(value, kinds):
        raise DatasetError(f"{where}: field {name!r} must be {' or '.join(k.__name__ for k in kinds)}, got {type(value).__name__}")
    return value


def optional(row: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` that is present and not blank/NaN, else None."""
    for name in names:
        value = row.get(name)
        if not _missing(value):
            return value
    return None


def image_png(value: Any, base: Path, where: str, name: str) -> bytes:
    """PNG bytes of an image given as a path (relative to ``base``), raw bytes, or a ``data:image/...;base64,`` URL.

    Bad images raise :class:`envs.image_io.ImageInputError` whose message starts with ``where`` and the field and
    then names the image file and the problem.
    """
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            image = load_image(bytes(value))
        elif isinstance(value, str) and value.strip().lower().startswith("data:"):
            image = decode_base64_image(value)
        elif isinstance(value, str):
            path = Path(value)
            image = load_image(path if path.is_absolute() else base / path)
        else:
            raise DatasetError(f"{where}: field {name!r} must be an image path or image bytes, got {type(value).__name__}")
    except ImageInputError as err:
        raise ImageInputError(f"{where}: field {name!r}: {err}") from None
    return encode_png(image)


def image_list(value: Any, where: str, name: str) -> list[Any]:
    """A field that holds one image or a list of them, as a list (blank entries dropped)."""
    if isinstance(value, (list, tuple)):
        items = [v for v in value if not _missing(v)]
    else:
        items = [] if _missing(value) else [value]
    if not items:
        raise DatasetError(f"{where}: missing field {name!r}")
    return items


def check_multi_image(multi_image: str) -> None:
    if multi_image not in MULTI_IMAGE:
        raise ValueError(f"multi_image must be one of {', '.join(MULTI_IMAGE)}, got {multi_image!r}")


def source_image(sources: list[Any], where: str, name: str, multi_image: str) -> Any | None:
    """The one source image of an item whose field ``name`` listed ``sources``; None when the item has several and
    ``multi_image`` is "skip"; a DatasetError when it is "error"."""
    if len(sources) > 1:
        if multi_image == "error":
            raise DatasetError(f"{where}: field {name!r} lists {len(sources)} images; a task has one source image "
                               "(multi_image='first' or 'skip')")
        if multi_image == "skip":
            return None
    return sources[0]


def collect_tasks(items: Iterable[tuple[str, str, Any]], build: Callable[[Any, str], EditTask | None], *,
                  limit: int | None, bad_rows: list[RowError] | None, origin: Path) -> list[EditTask]:
    """Build a task from each ``(where, label, item)`` of ``items`` - ``where`` names the file and row for errors,
    ``label`` the item in the multi-image warning - until ``limit`` tasks are built.

    ``build(item, where)`` returns the task, or None for a multi-image item skipped (counted in one warning naming
    ``origin``). A row that fails with a DatasetError or ImageInputError is recorded in ``bad_rows`` and skipped, or
    raises when ``bad_rows`` is None. Errors raised while iterating ``items`` (file-level) always propagate.
    """
    tasks: list[EditTask] = []
    skipped: list[str] = []
    for where, label, item in items:
        if limit is not None and len(tasks) >= limit:
            break
        try:
            task = build(item, where)
        except (DatasetError, ImageInputError) as err:
            if bad_rows is None:
                raise
            bad_rows.append(RowError(where, str(err)))
            continue
        if task is None:
            skipped.append(label)
        else:
            tasks.append(task)
    if skipped:
        warnings.warn(f"{origin}: skipped {len(skipped)} multi-image item(s) ({', '.join(skipped[:5])}"
                      f"{', ...' if len(skipped) > 5 else ''}); pass multi_image='first' to keep them with their first image",
                      stacklevel=3)
    return tasks
