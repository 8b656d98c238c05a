"""KRIS-Bench from a local folder.

Layout (as the benchmark ships it, ``KRIS_Bench/``)::

    KRIS_Bench/
      color_change/
        annotation.json        {"1": {"ori_img": "1.jpg", "gt_img": "1_gt.jpg", "ins_en": "...", "explain_en": "..."}, ...}
        1.jpg  1_gt.jpg  ...
      count_change/
        annotation.json
      ...

One ``annotation.json`` per category, mapping an item id to ``ori_img`` (a file name, or a list of them for
multi-image items), ``gt_img`` (the reference result, when there is one), ``ins_en`` (the instruction) and
``explain_en`` (the explanation of the intended result). Image paths are relative to the category folder. A single
category folder (one with ``annotation.json`` directly in it) loads too.

Each item becomes an :class:`envs.task.EditTask`: ``task_id`` ``kris/<category>/<id>``, ``instruction`` = ``ins_en``,
``source_png`` = ``ori_img``, ``target_png`` = ``gt_img``, ``reference`` = ``explain_en``, ``category`` = the folder
name, ``split`` = ``"test"``, ``n_steps`` = 0 (the benchmark does not count steps).
"""

from __future__ import annotations

from collections.abc import Iterator
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

__all__ = ["load_kris", "is_kris_folder", "kris_category_folders"]

ANNOTATION = "annotation.json"


def kris_category_folders(root: Path) -> list[Path]:
    """The category folders under ``root`` (each holds an annotation.json); ``[root]`` for a single category."""
    if (root / ANNOTATION).is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / ANNOTATION).is_file())


def is_kris_folder(root: Path) -> bool:
    return root.is_dir() and bool(kris_category_folders(root))


def _id_key(key: str) -> tuple[int, Any]:
    return (0, int(key)) if str(key).isdigit() else (1, str(key))


def load_kris(root: str | Path, limit: int | None = None, multi_image: str = "skip",
              bad_rows: list[RowError] | None = None) -> list[EditTask]:
    """KRIS-Bench items as tasks (module docstring); categories and ids in sorted order.

    Args:
        root: the ``KRIS_Bench`` folder, or one category folder.
        limit: at most this many tasks.
        multi_image: items with several ``ori_img``: ``"skip"`` (warns with the count), ``"first"`` or ``"error"``.
        bad_rows: when given, an item with a missing field or an unreadable image is recorded here and skipped
            instead of raising.
    """
    root = Path(root)
    check_multi_image(multi_image)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder; pass the KRIS_Bench folder (one sub-folder per category with {ANNOTATION})")
    folders = kris_category_folders(root)
    if not folders:
        raise DatasetError(f"{root}: no {ANNOTATION} in it or in its sub-folders; this is not a KRIS-Bench folder")
    return collect_tasks(_items(folders), lambda item, where: _item_task(*item, where, multi_image),
                         limit=limit, bad_rows=bad_rows, origin=root)


def _items(folders: list[Path]) -> Iterator[tuple[str, str, tuple[Any, str, Path]]]:
    """(where, label, (annotation, id, category folder)) for every item, one annotation file at a time."""
    for folder in folders:
        annotation = folder / ANNOTATION
        data = read_json(annotation)
        if isinstance(data, list):  # tolerate a list of items with an "id"
            data = {str(item.get("id", i)) if isinstance(item, dict) else str(i): item for i, item in enumerate(data)}
        if not isinstance(data, dict):
            raise DatasetError(f"{annotation}: expected an object mapping item ids to annotations, got {type(data).__name__}")
        for key in sorted(data, key=_id_key):
            yield f"{annotation}: item {key!r}", f"{folder.name}/{key}", (data[key], key, folder)


def _item_task(item: Any, key: str, folder: Path, where: str, multi_image: str) -> EditTask | None:
    """One annotation item as a task; None for a multi-image item skipped by `multi_image="skip"`."""
    if not isinstance(item, dict):
        raise DatasetError(f"{where}: expected an object with ori_img and ins_en, got {type(item).__name__}")
    instruction = field(item, "ins_en", where)
    source = source_image(image_list(item.get("ori_img"), where, "ori_img"), where, "ori_img", multi_image)
    if source is None:
        return None
    gt = optional(item, "gt_img")
    if isinstance(gt, list):
        gt = gt[0] if gt else None
    return EditTask(
        task_id=f"kris/{folder.name}/{key}",
        instruction=instruction,
        source_png=image_png(source, folder, where, "ori_img"),
        target_png=image_png(gt, folder, where, "gt_img") if gt is not None else None,
        reference=optional(item, "explain_en"),
        category=folder.name,
        split="test",
        n_steps=0,
    )
