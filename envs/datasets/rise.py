"""RISEBench from a local folder.

Layout (as the benchmark ships it)::

    data/
      data_total.json            [{"index": "temporal_reasoning_1", "category": "temporal_reasoning",
                                   "subtask": "Life Progression", "instruction": "...",
                                   "image": "temporal_reasoning_images/1.png", "reference": "...",
                                   "reference_img": "temporal_reasoning_images/1_ref.png"}, ...]
      temporal_reasoning_images/ causal_reasoning_images/ spatial_reasoning_images/ logical_reasoning_images/

The JSON file is a list of items with ``index``, ``category``, ``instruction`` and ``image`` (a path, or a list of
paths for multi-image items, relative to the JSON file's folder); optional ``subtask`` (or ``subcategory`` /
``task_type``), a reference description ``reference`` (or ``reference_txt``) and a reference image
``reference_img``. Pass the JSON file itself, or the folder holding it (``data_total.json`` or
``datav2_total_w_subtask.json`` is taken when present, else the only JSON list of such items).

Each item becomes an :class:`envs.task.EditTask`: ``task_id`` ``rise/<index>``, ``category`` = ``category``,
``reference`` = the reference text, ``target_png`` = the reference image, ``split`` = ``"test"``, ``n_steps`` = 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envs.datasets.common import (
    DatasetError,
    RowError,
    check_multi_image,
    collect_tasks,
    field,
    image_list,
    image_png,
    optional,
    read_json,
    source_image,
)
from envs.task import EditTask

__all__ = ["load_rise", "find_rise_json", "looks_like_rise"]

PREFERRED = ("data_total.json", "datav2_total_w_subtask.json", "data.json")
_KEYS = ("index", "instruction", "image")


def looks_like_rise(data: object) -> bool:
    """A JSON list of objects whose first one has at least two of ``index``, ``category``, ``instruction``, ``image``
    (lenient on purpose: the loader then names any missing field)."""
    if not (isinstance(data, list) and data and all(isinstance(d, dict) for d in data[:5])):
        return False
    return sum(k in data[0] for k in ("index", "category", "instruction", "image")) >= 2


def find_rise_json(folder: Path) -> Path | None:
    """The RISEBench JSON file in ``folder`` (see the module docstring), or None."""
    for name in PREFERRED:
        if (folder / name).is_file():
            return folder / name
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            if looks_like_rise(json.loads(path.read_text(encoding="utf-8"))):
                found.append(path)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
    return found[0] if len(found) == 1 else None


def load_rise(path: str | Path, limit: int | None = None, multi_image: str = "skip",
              bad_rows: list[RowError] | None = None) -> list[EditTask]:
    """RISEBench items as tasks (module docstring), in file order.

    Args:
        path: the JSON file, or the folder holding it.
        limit: at most this many tasks.
        multi_image: items with several images: ``"skip"`` (warns with the count), ``"first"`` or ``"error"``.
        bad_rows: when given, an item with a missing field or an unreadable image is recorded here and skipped
            instead of raising.
    """
    path = Path(path)
    check_multi_image(multi_image)
    if path.is_dir():
        found = find_rise_json(path)
        if found is None:
            raise DatasetError(f"{path}: no RISEBench JSON in it (expected {' or '.join(PREFERRED)}, or one JSON list of items with {', '.join(_KEYS)})")
        path = found
    data = read_json(path)
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON list of items, got {type(data).__name__}")
    base = path.parent
    items = ((f"{path}: item {row}", str(item.get("index", row)) if isinstance(item, dict) else str(row), item)
             for row, item in enumerate(data))
    return collect_tasks(items, lambda item, where: _item_task(item, where, base, multi_image),
                         limit=limit, bad_rows=bad_rows, origin=path)


def _item_task(item: Any, where: str, base: Path, multi_image: str) -> EditTask | None:
    """One item as a task; None for a multi-image item skipped by `multi_image="skip"`."""
    if not isinstance(item, dict):
        raise DatasetError(f"{where}: expected an object, got {type(item).__name__}")
    index = str(field(item, "index", where, (str, int)))
    where = f"{where} (index {index!r})"
    category = field(item, "category", where)
    instruction = field(item, "instruction", where)
    source = source_image(image_list(item.get("image"), where, "image"), where, "image", multi_image)
    if source is None:
        return None
    ref_img = optional(item, "reference_img")
    return EditTask(
        task_id=f"rise/{index}",
        instruction=instruction,
        source_png=image_png(source, base, where, "image"),
        target_png=image_png(ref_img, base, where, "reference_img") if ref_img is not None else None,
        reference=optional(item, "reference", "reference_txt"),
        category=category,
        split="test",
        n_steps=0,
    )
