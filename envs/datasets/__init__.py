"""Loading editing tasks from local files and folders into :class:`envs.task.EditTask`, the type the Canvas world
produces, so ``editrl eval --data`` runs any pipeline on any of them.

- ``canvas``: a Parquet file written by ``editrl data generate`` (:func:`envs.dataset.read_tasks`);
- ``generic``: a ``.jsonl`` file, or a Parquet file with ``instruction`` and ``image`` columns
  (:func:`envs.datasets.generic.load_generic`);
- ``kris``: a KRIS-Bench folder, ``<category>/annotation.json`` (:func:`envs.datasets.kris.load_kris`);
- ``rise``: a RISEBench folder or its JSON file (:func:`envs.datasets.rise.load_rise`).

``load_tasks(path)`` detects the kind (:func:`detect_kind`); pass ``kind`` to skip detection. Errors are
:class:`envs.dataset.DatasetError` (a ``ValueError``) naming the file, the row or key, and the field; a bad image is
an :class:`envs.image_io.ImageInputError` naming the dataset file, the field and the image file. Real benchmarks have
no Canvas ground truth (components, checklist with machine checks): their tasks carry what the benchmark has - the
instruction, source image, reference image and reference text.
"""

from __future__ import annotations

from pathlib import Path

from envs.dataset import DatasetError
from envs.datasets.common import RowError
from envs.task import EditTask

__all__ = ["KINDS", "DatasetError", "RowError", "detect_kind", "load_tasks"]

KINDS = ("auto", "canvas", "generic", "kris", "rise")
_CANVAS_COLUMNS = ("task_id", "instruction", "source_png")


def detect_kind(path: str | Path) -> str:
    """``"canvas"``, ``"generic"``, ``"kris"`` or ``"rise"`` for ``path`` (see the module docstring); a
    DatasetError saying what was expected when it is none of them."""
    path = Path(path)
    if path.is_dir():
        from envs.datasets.kris import is_kris_folder
        from envs.datasets.rise import find_rise_json

        if is_kris_folder(path):
            return "kris"
        if find_rise_json(path) is not None:
            return "rise"
        raise DatasetError(f"{path}: a folder that is neither KRIS-Bench (<category>/annotation.json) nor RISEBench "
                           "(a JSON list of items with index, instruction, image); pass a dataset file or the benchmark folder")
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file or folder")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except Exception as err:  # pyarrow raises several types for a corrupt file
            raise DatasetError(f"{path}: not a readable Parquet file ({err})") from None
        return "canvas" if all(c in names for c in _CANVAS_COLUMNS) else "generic"
    if suffix in (".jsonl", ".ndjson"):
        return "generic"
    if suffix == ".json":
        from envs.datasets.common import read_json
        from envs.datasets.rise import looks_like_rise

        data = read_json(path)
        if looks_like_rise(data):
            return "rise"
        if path.name == "annotation.json" and isinstance(data, dict):
            return "kris"
        raise DatasetError(f"{path}: a JSON file that is not a RISEBench item list (index, instruction, image) nor a "
                           "KRIS-Bench annotation.json; generic datasets are .jsonl or .parquet")
    raise DatasetError(f"{path}: unknown dataset format {suffix or '(no extension)'}; pass a .parquet or .jsonl file, "
                       "a KRIS-Bench folder or a RISEBench folder")


def load_tasks(path: str | Path, kind: str = "auto", limit: int | None = None, *, multi_image: str = "skip",
               bad_rows: list[RowError] | None = None) -> list[EditTask]:
    """Tasks from a Canvas Parquet file, a generic JSONL/Parquet file, a KRIS-Bench folder or a RISEBench folder.

    Args:
        path: the file or folder.
        kind: one of :data:`KINDS`; ``"auto"`` detects it.
        limit: the first N tasks only.
        multi_image: KRIS-Bench / RISEBench items with several input images: ``"skip"`` (warns), ``"first"`` or
            ``"error"``.
        bad_rows: when given, rows of a generic, KRIS-Bench or RISEBench dataset with a missing field or an
            unreadable image are recorded here (:class:`RowError`: file, row, field, problem) and skipped instead of
            raising; `editrl eval` records them as failed rows and goes on. A Canvas file's images are decoded by
            the pipeline, so its bad images become failed episodes anyway.
    """
    if kind not in KINDS:
        raise ValueError(f"dataset kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    path = Path(path)
    if kind == "auto":
        kind = detect_kind(path)
    if kind == "canvas":
        from envs.dataset import read_tasks

        return list(read_tasks(path, limit=limit))
    if kind == "generic":
        from envs.datasets.generic import load_generic

        return load_generic(path, limit=limit, bad_rows=bad_rows)
    if kind == "kris":
        from envs.datasets.kris import load_kris

        return load_kris(path.parent if path.is_file() else path, limit=limit, multi_image=multi_image, bad_rows=bad_rows)
    from envs.datasets.rise import load_rise

    return load_rise(path, limit=limit, multi_image=multi_image, bad_rows=bad_rows)
