"""Dataset loaders on small fixtures written here: KRIS-Bench and RISEBench folders in their real layouts, generic
JSONL and Parquet files, and Canvas Parquet; auto-detection; errors that name file, row and field."""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from envs.dataset import DatasetError, write_tasks
from envs.datasets import detect_kind, load_tasks
from envs.image_io import ImageInputError, encode_png, load_image


def _img(path: Path, size=(20, 16), color=(200, 0, 0), fmt="PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


@pytest.fixture
def kris(tmp_path) -> Path:
    root = tmp_path / "KRIS_Bench"
    _img(root / "color_change" / "1.jpg", fmt="JPEG")
    _img(root / "color_change" / "1_gt.png", color=(0, 0, 200))
    _img(root / "color_change" / "10.png", size=(24, 24))
    (root / "color_change" / "annotation.json").write_text(json.dumps({
        "10": {"ori_img": "10.png", "ins_en": "Remove the cup.", "explain_en": ""},
        "1": {"ori_img": "1.jpg", "gt_img": "1_gt.png", "ins_en": "Make the apple the colour of the sky.",
              "explain_en": "The sky is blue, so the apple should be blue.", "ins_zh": "…"},
    }))
    _img(root / "multi-element_composition" / "a.png")
    _img(root / "multi-element_composition" / "b.png")
    (root / "multi-element_composition" / "annotation.json").write_text(json.dumps({
        "1": {"ori_img": ["a.png", "b.png"], "ins_en": "Put the object of image 2 on the table of image 1."},
    }))
    (root / "README.md").write_text("not a category")
    return root


@pytest.fixture
def rise(tmp_path) -> Path:
    data = tmp_path / "RISEBench" / "data"
    _img(data / "temporal_reasoning_images" / "1.png")
    _img(data / "spatial_reasoning_images" / "1.png", size=(30, 20))
    _img(data / "spatial_reasoning_images" / "1_ref.png", size=(30, 20), color=(0, 200, 0))
    _img(data / "causal_reasoning_images" / "6_1.png")
    _img(data / "causal_reasoning_images" / "6_2.png")
    items = [
        {"index": "temporal_reasoning_1", "category": "temporal_reasoning", "subtask": "Life Progression",
         "instruction": "Draw what it will look like after a year.", "image": "temporal_reasoning_images/1.png",
         "reference": "Rotten, blackened banana.", "reference_img": float("nan")},
        {"index": "spatial_reasoning_1", "category": "spatial_reasoning", "instruction": "Place the pen right of the mouse.",
         "image": ["spatial_reasoning_images/1.png"], "reference_img": "spatial_reasoning_images/1_ref.png"},
        {"index": "causal_reasoning_6", "category": "causal_reasoning", "instruction": "Put the orange on the scale.",
         "image": ["causal_reasoning_images/6_1.png", "causal_reasoning_images/6_2.png"], "reference_txt": "Tilted scale."},
    ]
    (data / "data_total.json").write_text(json.dumps(items))  # NaN, as pandas writes a missing value
    return data


def test_kris_folder(kris):
    assert detect_kind(kris) == "kris"
    with pytest.warns(UserWarning, match="skipped 1 multi-image item"):
        tasks = load_tasks(kris)
    assert [t.task_id for t in tasks] == ["kris/color_change/1", "kris/color_change/10"]
    first = tasks[0]
    assert first.instruction == "Make the apple the colour of the sky." and first.category == "color_change"
    assert first.reference == "The sky is blue, so the apple should be blue." and first.split == "test"
    assert load_image(first.source_png).size == (20, 16) and first.source_png.startswith(b"\x89PNG")  # JPEG -> PNG
    assert load_image(first.target_png).getpixel((0, 0)) == (0, 0, 200)
    assert tasks[1].target_png is None and tasks[1].reference is None
    # one category folder loads too; limit; multi-image policies
    assert [t.task_id for t in load_tasks(kris / "color_change", limit=1)] == ["kris/color_change/1"]
    kept = load_tasks(kris, multi_image="first")
    assert len(kept) == 3 and kept[-1].category == "multi-element_composition"
    with pytest.raises(DatasetError, match=r"annotation.json: item '1': field 'ori_img' lists 2 images"):
        load_tasks(kris, multi_image="error")


def test_rise_folder_and_json_file(rise):
    assert detect_kind(rise) == "rise" and detect_kind(rise / "data_total.json") == "rise"
    with pytest.warns(UserWarning, match="skipped 1 multi-image item.*causal_reasoning_6"):
        tasks = load_tasks(rise)
    assert [t.task_id for t in tasks] == ["rise/temporal_reasoning_1", "rise/spatial_reasoning_1"]
    assert tasks[0].reference == "Rotten, blackened banana." and tasks[0].target_png is None  # NaN = absent
    assert tasks[1].category == "spatial_reasoning" and load_image(tasks[1].target_png).getpixel((0, 0)) == (0, 200, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tasks = load_tasks(rise / "data_total.json", multi_image="first")
    assert tasks[2].reference == "Tilted scale." and len(tasks) == 3


def test_generic_jsonl_with_paths_and_data_urls(tmp_path):
    _img(tmp_path / "images" / "a.png")
    _img(tmp_path / "images" / "a_ref.png", color=(1, 2, 3))
    data_url = "data:image/png;base64," + base64.b64encode(encode_png(Image.new("RGB", (12, 12), (9, 9, 9)))).decode()
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "a", "image": "images/a.png", "instruction": "Make it blue.", "reference_image": "images/a_ref.png",
                    "reference": "A blue square.", "category": "colour"}),
        "",
        json.dumps({"image": data_url, "instruction": "Remove it.", "split": "train"}),
    ]) + "\n")
    assert detect_kind(path) == "generic"
    a, b = load_tasks(path)
    assert (a.task_id, a.category, a.reference) == ("a", "colour", "A blue square.")
    assert load_image(a.target_png).getpixel((0, 0)) == (1, 2, 3)
    assert (b.task_id, b.split, b.category, b.target_png) == ("tasks/1", "train", "generic", None)
    assert load_image(b.source_png).size == (12, 12)


def test_generic_parquet_with_image_bytes(tmp_path):
    png = encode_png(Image.new("RGB", (10, 10), (5, 5, 5)))
    path = tmp_path / "generic.parquet"
    pq.write_table(pa.table({"id": ["x", "y"], "image": [png, png], "instruction": ["a", "b"], "reference_image": [None, png]}), path)
    assert detect_kind(path) == "generic"
    tasks = load_tasks(path)
    assert [t.task_id for t in tasks] == ["x", "y"] and tasks[0].target_png is None and tasks[1].target_png is not None


def test_canvas_parquet_is_still_the_canvas_reader(tmp_path):
    from envs.canvas.generator import GeneratorConfig, generate_tasks

    tasks = list(generate_tasks(2, seed=3, split="test", cfg=GeneratorConfig(size=48)))
    write_tasks(tasks, tmp_path / "canvas.parquet")
    assert detect_kind(tmp_path / "canvas.parquet") == "canvas"
    loaded = load_tasks(tmp_path / "canvas.parquet", limit=1)
    assert loaded == tasks[:1] and loaded[0].checklist


@pytest.mark.parametrize("case, error, message", [
    ("kris_no_instruction", DatasetError, r"color_change/annotation.json: item '1': missing field 'ins_en'"),
    ("kris_missing_image", ImageInputError, r"annotation.json: item '1': field 'ori_img': .*nope.png: no such file"),
    ("kris_bad_json", DatasetError, r"annotation.json: not readable JSON"),
    ("rise_no_instruction", DatasetError, r"data_total.json: item 0 \(index 'r1'\): missing field 'instruction'"),
    ("rise_no_index", DatasetError, r"data_total.json: item 0: missing field 'index'"),
    ("rise_bad_reference", ImageInputError, r"field 'reference_img': .*ref.png: not a recognised image format"),
    ("jsonl_no_image", DatasetError, r"tasks.jsonl: line 1: missing field 'image'"),
    ("jsonl_blank_instruction", DatasetError, r"tasks.jsonl: line 1: missing field 'instruction'"),
    ("jsonl_bad_line", DatasetError, r"tasks.jsonl: line 2: not valid JSON"),
    ("jsonl_duplicate_id", DatasetError, r"line 2: field 'id': 'same' is used by an earlier row"),
    ("parquet_no_image_column", DatasetError, r"missing column\(s\) image"),
    ("unknown_folder", DatasetError, r"neither KRIS-Bench .* nor RISEBench"),
    ("unknown_suffix", DatasetError, r"unknown dataset format .csv"),
    ("missing_path", DatasetError, r"no such dataset file or folder"),
])
def test_errors_name_the_file_the_row_and_the_field(tmp_path, case, error, message):
    img = _img(tmp_path / "ok.png")
    if case.startswith("kris"):
        folder = tmp_path / "K" / "color_change"
        folder.mkdir(parents=True)
        item = {"ori_img": "nope.png" if case == "kris_missing_image" else "../../ok.png", "ins_en": "x"}
        if case == "kris_no_instruction":
            item["ins_en"] = "  "
        text = "{" if case == "kris_bad_json" else json.dumps({"1": item})
        (folder / "annotation.json").write_text(text)
        target = tmp_path / "K"
    elif case.startswith("rise"):
        (tmp_path / "R").mkdir()
        (tmp_path / "R" / "ref.png").write_text("not an image")
        item = {"index": "r1", "category": "c", "instruction": "x", "image": str(img)}
        if case == "rise_no_instruction":
            del item["instruction"]
        if case == "rise_no_index":
            del item["index"]
        if case == "rise_bad_reference":
            item["reference_img"] = "ref.png"
        (tmp_path / "R" / "data_total.json").write_text(json.dumps([item]))
        target = tmp_path / "R" / "data_total.json"
    elif case.startswith("jsonl"):
        rows = [{"id": "same", "image": "ok.png", "instruction": "x"}]
        if case == "jsonl_no_image":
            rows = [{"instruction": "x"}]
        if case == "jsonl_blank_instruction":
            rows = [{"image": "ok.png", "instruction": ""}]
        lines = [json.dumps(r) for r in rows]
        if case == "jsonl_bad_line":
            lines.append("{oops")
        if case == "jsonl_duplicate_id":
            lines.append(json.dumps(rows[0]))
        target = tmp_path / "tasks.jsonl"
        target.write_text("\n".join(lines))
    elif case == "parquet_no_image_column":
        target = tmp_path / "g.parquet"
        pq.write_table(pa.table({"instruction": ["x"]}), target)
    elif case == "unknown_folder":
        target = tmp_path / "empty"
        target.mkdir()
    elif case == "unknown_suffix":
        target = tmp_path / "tasks.csv"
        target.write_text("a,b")
    else:
        target = tmp_path / "nothing.jsonl"
    with pytest.raises(error, match=message):
        load_tasks(target)


def test_bad_arguments():
    with pytest.raises(ValueError, match="dataset kind must be one of"):
        load_tasks("x", kind="coco")
    with pytest.raises(ValueError, match="multi_image must be one of"):
        from envs.datasets.kris import load_kris

        load_kris(".", multi_image="all")


def test_eval_cli_runs_on_a_benchmark_folder(kris, tmp_path, capsys):
    from orchestration.cli import main

    out = tmp_path / "res.parquet"
    with pytest.warns(UserWarning, match="multi-image"):
        code = main(["eval", "--config", "editor_only", "--data", str(kris), "--out", str(out), "--json", "--no-ray", "--workers", "1"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["overall"]["episodes"] == 2 and summary["overall"]["failed"] == 0
    assert list(summary["by_category"]) == ["color_change"]
    assert pq.read_table(out).column("task_id").to_pylist() == ["kris/color_change/1", "kris/color_change/10"]
    assert main(["eval", "--config", "editor_only", "--data", str(kris), "--data-kind", "rise", "--out", str(out), "--no-ray"]) == 2
    assert "no RISEBench JSON" in capsys.readouterr().err
