"""`editrl data generate|show|check` and `editrl perceive`, run as a user runs them."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from envs.canvas.generator import generate_task
from orchestration.cli import main

COLUMNS = {"task_id", "split", "category", "n_steps", "instruction", "explicit_instruction", "source_png", "target_png",
           "source_scene", "target_scene", "components", "order", "checklist"}


def test_generate_writes_the_contract_columns_and_is_reproducible(tmp_path, capsys):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for out in (a, b):
        assert main(["data", "generate", "--n", "40", "--seed", "3", "--split", "test", "--out", str(out), "--quiet"]) == 0
    assert a.read_bytes() == b.read_bytes()
    table = pq.read_table(a)
    assert COLUMNS <= set(table.column_names) and table.num_rows == 40
    row = table.slice(0, 1).to_pylist()[0]
    scene = json.loads(row["source_scene"])
    assert {"shape", "color", "size", "x", "y"} <= set(scene["objects"][0]) and "background" in scene
    assert set(row["components"][0]) == {"action", "subject", "target"}
    assert {"question", "expected"} <= set(row["checklist"][0])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == 40 and sum(summary["categories"].values()) == 40


def test_generate_size_option_changes_the_images(tmp_path):
    out = tmp_path / "big.parquet"
    assert main(["data", "generate", "--n", "2", "--size", "256", "--out", str(out), "--quiet"]) == 0
    png = pq.read_table(out).column("source_png")[0].as_py()
    assert Image.open(io.BytesIO(png)).size == (256, 256)


@pytest.mark.parametrize("args, message", [
    (["--n", "0"], "--n must be at least 1"),
    (["--n", "2", "--size", "4"], "--size must be between"),
])
def test_generate_rejects_bad_arguments(tmp_path, capsys, args, message):
    assert main(["data", "generate", *args, "--out", str(tmp_path / "x.parquet"), "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_show_and_check(tmp_path, capsys):
    out = tmp_path / "d.parquet"
    main(["data", "generate", "--n", "5", "--out", str(out), "--quiet"])
    capsys.readouterr()
    assert main(["data", "show", str(out), "--n", "2", "--images", str(tmp_path / "img")]) == 0
    text = capsys.readouterr().out
    assert "instruction :" in text and "component 0" in text
    assert len(list((tmp_path / "img").glob("*.png"))) == 4
    assert main(["data", "check", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["matched"] == summary["objects"] and summary["spurious"] == 0


def test_check_reports_a_missing_dataset(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "none.parquet")]) == 2
    assert "no such dataset file" in capsys.readouterr().err


def _write_bad_inputs(tmp_path: Path) -> dict[str, Path]:
    files = {}
    files["text"] = tmp_path / "notes.png"
    files["text"].write_text("this is not an image")
    files["empty"] = tmp_path / "empty.png"
    files["empty"].write_bytes(b"")
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(good, "PNG")
    files["truncated"] = tmp_path / "truncated.png"
    files["truncated"].write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    files["tiny"] = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1), "white").save(files["tiny"])
    files["missing"] = tmp_path / "missing.png"
    files["bomb"] = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(files["bomb"])  # 400 Mpx, a few KB on disk
    return files


@pytest.mark.parametrize("kind", ["text", "empty", "truncated", "tiny", "missing", "bomb"])
def test_perceive_bad_input_is_one_line_naming_the_file(tmp_path, kind):
    path = _write_bad_inputs(tmp_path)[kind]
    proc = subprocess.run([sys.executable, "-m", "orchestration.cli", "perceive", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path.name) in lines[0] and "Traceback" not in proc.stderr


def test_perceive_json_lists_objects_for_odd_but_valid_formats(tmp_path, capsys):
    task = generate_task(0, seed=2)
    image = Image.open(io.BytesIO(task.source_png))
    paths = []
    for mode in ("RGB", "RGBA", "P", "L"):
        path = tmp_path / f"scene_{mode}.png"
        # A palette PNG of a flat-colour picture keeps its colours (adaptive palette); the default web palette
        # dithers them, which is a different picture, not a different format.
        (image.convert(mode, palette=Image.ADAPTIVE) if mode == "P" else image.convert(mode)).save(path)
        paths.append(str(path))
    assert main(["perceive", *paths, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    truth = json.loads(task.source_scene)["objects"]
    assert len(lines) == 4
    for line in lines[:3]:
        assert len(line["objects"]) == len(truth)
        assert {"shape", "color", "size", "x", "y", "bbox"} <= set(line["objects"][0])


def test_perceive_goes_on_after_a_bad_file(tmp_path, capsys):
    good = tmp_path / "good.png"
    Image.open(io.BytesIO(generate_task(1).source_png)).save(good)
    assert main(["perceive", str(tmp_path / "nope.png"), str(good), "--json"]) == 2
    captured = capsys.readouterr()
    assert "nope.png" in captured.err and json.loads(captured.out)["path"] == str(good)


def test_an_interrupted_generate_leaves_out_as_it_was(tmp_path, monkeypatch, capsys):
    """Ctrl-C half-way: no valid but short dataset at --out (a previous file stays whole), no temporary file left."""
    import envs.canvas.generator as generator

    real = generator.generate_tasks

    def interrupted(n, *args, **kwargs):
        for k, task in enumerate(real(n, *args, **kwargs)):
            if k == 3:
                raise KeyboardInterrupt
            yield task

    out = tmp_path / "d.parquet"
    monkeypatch.setattr(generator, "generate_tasks", interrupted)
    assert main(["data", "generate", "--n", "6", "--out", str(out), "--quiet"]) == 130
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(generator, "generate_tasks", real)
    assert main(["data", "generate", "--n", "2", "--out", str(out), "--quiet"]) == 0
    before = out.read_bytes()
    monkeypatch.setattr(generator, "generate_tasks", interrupted)
    assert main(["data", "generate", "--n", "6", "--out", str(out), "--quiet"]) == 130
    assert out.read_bytes() == before and list(tmp_path.iterdir()) == [out]
