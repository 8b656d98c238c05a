"""Rows with a missing field or an unreadable image: an error naming the file, the row and the field - raised by
default, recorded (and the row skipped) when the caller asks for `bad_rows`, which is what `editrl eval` does, so
one bad row costs one failed result row instead of the whole run. Missing columns stay file-level errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from envs.dataset import DatasetError
from envs.datasets import RowError, load_tasks
from envs.image_io import ImageInputError
from orchestration.cli import main


def _png(path: Path, size=(24, 24), color=(200, 0, 0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format="PNG")
    return path


@pytest.fixture
def jsonl(tmp_path) -> Path:
    """Five rows: two good, a missing image file, a truncated PNG, a row without an instruction."""
    good = _png(tmp_path / "good.png")
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:40])
    rows = [
        {"id": "ok-1", "image": "good.png", "instruction": "make it blue"},
        {"id": "gone", "image": "nowhere.png", "instruction": "make it blue"},
        {"id": "cut", "image": "cut.png", "instruction": "make it blue"},
        {"id": "mute", "image": "good.png"},
        {"id": "ok-2", "image": "good.png", "instruction": "make it green"},
    ]
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


EXPECTED = [  # (row, field, problem) of each bad row, in file order
    ("line 2", "field 'image'", "nowhere.png"),
    ("line 3", "field 'image'", "cut.png"),
    ("line 4", "missing field 'instruction'", ""),
]


def test_bad_rows_raise_by_default_and_are_recorded_on_request(jsonl):
    with pytest.raises(ImageInputError, match=r"tasks.jsonl: line 2: field 'image': .*nowhere.png"):
        load_tasks(jsonl)
    bad: list[RowError] = []
    tasks = load_tasks(jsonl, bad_rows=bad)
    assert [t.task_id for t in tasks] == ["ok-1", "ok-2"]
    assert len(bad) == len(EXPECTED)
    for row_error, (row, field, name) in zip(bad, EXPECTED):
        assert row_error.where == f"{jsonl}: {row}"
        assert str(jsonl) in row_error.error and row in row_error.error and field in row_error.error and name in row_error.error


def test_parquet_with_bad_image_bytes_and_missing_columns(tmp_path):
    good = _png(tmp_path / "g.png").read_bytes()
    path = tmp_path / "g.parquet"
    pq.write_table(pa.table({"instruction": ["a", "b", "c"], "image": [good, b"\x89PNG not really", good]}), path)
    bad: list[RowError] = []
    assert len(load_tasks(path, bad_rows=bad)) == 2
    assert [b.where for b in bad] == [f"{path}: row 1"] and "field 'image'" in bad[0].error
    pq.write_table(pa.table({"instruction": ["a"]}), path)
    with pytest.raises(DatasetError, match=r"g.parquet: missing column\(s\) image"):  # nothing after it is readable
        load_tasks(path, bad_rows=[])


def test_benchmark_folders_record_bad_items(tmp_path):
    kris = tmp_path / "KRIS" / "color_change"
    _png(kris / "1.png")
    (kris / "annotation.json").write_text(json.dumps({"1": {"ori_img": "1.png", "ins_en": "x"},
                                                      "2": {"ori_img": "2.png", "ins_en": "y"}}))
    bad: list[RowError] = []
    assert [t.task_id for t in load_tasks(tmp_path / "KRIS", bad_rows=bad)] == ["kris/color_change/1"]
    assert len(bad) == 1 and "item '2': field 'ori_img'" in bad[0].error and "2.png" in bad[0].error
    rise = tmp_path / "RISE"
    _png(rise / "a.png")
    (rise / "data_total.json").write_text(json.dumps([
        {"index": "r1", "category": "c", "instruction": "x", "image": "a.png"},
        {"index": "r2", "category": "c", "image": "a.png"},
    ]))
    bad = []
    assert [t.task_id for t in load_tasks(rise, bad_rows=bad)] == ["rise/r1"]
    assert len(bad) == 1 and "item 1 (index 'r2'): missing field 'instruction'" in bad[0].error


def test_eval_records_bad_rows_as_failed_and_goes_on(jsonl, tmp_path, capsys):
    out = tmp_path / "res.parquet"
    assert main(["eval", "--config", "editor_only", "--data", str(jsonl), "--out", str(out), "--no-ray", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["overall"]["episodes"] == 5 and summary["overall"]["failed"] == 3
    rows = {r["task_id"]: r for r in pq.read_table(out).to_pylist()}
    assert rows["ok-1"]["ok"] and rows["ok-2"]["ok"] and rows["ok-1"]["edited_png"]
    for row, field, name in EXPECTED:
        failed = rows[f"{jsonl}: {row}"]
        assert not failed["ok"] and field in failed["error"] and name in failed["error"]
        assert f"recorded as failed: {jsonl}: {row}" in captured.err
