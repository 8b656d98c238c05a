"""`editrl edit` and `editrl eval` as a user runs them, bad input included."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from envs.canvas.generator import generate_tasks
from envs.dataset import write_tasks
from orchestration.cli import main


@pytest.fixture(scope="module")
def tasks():
    return list(generate_tasks(6, seed=21, split="test"))


@pytest.fixture
def image(tmp_path, tasks):
    path = tmp_path / "in.png"
    path.write_bytes(tasks[0].source_png)
    return path


def test_edit_json_report_and_output_image(tmp_path, image, tasks, capsys):
    out = tmp_path / "out.png"
    assert main(["edit", str(image), tasks[0].instruction, "--config", "canvas_rule", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"plan", "components", "subrequests", "checklist", "score", "output"} <= set(report)
    assert all(set(item) == {"question", "answer"} for item in report["checklist"])
    assert Image.open(out).size == (128, 128)



def test_edit_says_when_no_edit_was_understood(tmp_path, image, capsys):
    out = tmp_path / "out.png"
    assert main(["edit", str(image), "make it nicer", "--config", "canvas_rule", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["understood"] is False and "no edit understood" in report["message"] and report["score"] == 0.0
    assert main(["edit", str(image), "make it nicer", "--config", "canvas_rule", "--out", str(out)]) == 0
    assert "note        : no edit understood" in capsys.readouterr().out
    assert main(["edit", str(image), "make the background cream", "--config", "canvas_rule", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["understood"] is True and report["message"] is None


def test_edit_text_report_with_override(tmp_path, image, capsys):
    out = tmp_path / "out.png"
    code = main(["edit", str(image), "make the background cream", "--config", "editor_only", "--out", str(out),
                 "--set", "editor.options.mode=multi_turn"])
    assert code == 0
    text = capsys.readouterr().out
    assert "score" in text and "timings ms" in text and out.exists()


@pytest.mark.parametrize("args, message", [
    (["{img}", "   "], "instruction is empty"),
    (["{img}", "x" * 2001], "keep it under 2000"),
    (["{missing}", "make it blue"], "missing.png"),
    (["{img}", "make it blue", "--config", "nope.yaml"], "not found"),
    (["{img}", "make it blue", "--set", "editor.bogus=1"], "agents.editor.bogus"),
])
def test_edit_bad_input_is_one_clear_line(tmp_path, image, capsys, args, message):
    argv = [a.format(img=image, missing=tmp_path / "missing.png") for a in args]
    if "--config" not in argv:
        argv += ["--config", "canvas_rule"]
    assert main(["edit", *argv, "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_eval_writes_traces_and_summary_and_survives_a_bad_row(tmp_path, tasks, capsys):
    data = tmp_path / "data.parquet"
    write_tasks(tasks, data)
    # Corrupt one row's source image: that episode must be recorded as failed, the others scored.
    table = pq.read_table(data)
    images = table.column("source_png").to_pylist()
    images[2] = b"not a png"
    table = table.set_column(table.schema.get_field_index("source_png"), "source_png", pa.array(images, pa.binary()))
    pq.write_table(table, data)
    out = tmp_path / "res.parquet"
    assert main(["eval", "--config", "canvas_rule", "--data", str(data), "--out", str(out), "--no-ray", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["overall"]["episodes"] == 6 and summary["overall"]["failed"] == 1
    assert set(summary["by_category"]) and set(summary["by_steps"])
    rows = pq.read_table(out).to_pylist()
    bad = next(r for r in rows if r["task_id"] == tasks[2].task_id)
    assert not bad["ok"] and bad["error"]
    good = [r for r in rows if r["ok"]]
    assert all(json.loads(r["trace"])["plan"] for r in good) and all(r["edited_png"] for r in good)
    assert bad["understood"] is None and all(isinstance(r["understood"], bool) for r in good)


def test_eval_rows_say_when_no_edit_was_understood(tmp_path, tasks, capsys):
    data = tmp_path / "data.parquet"
    write_tasks([tasks[0].model_copy(update={"instruction": "make it nicer"})], data)
    out = tmp_path / "res.parquet"
    assert main(["eval", "--config", "canvas_rule", "--data", str(data), "--out", str(out), "--no-ray", "--json"]) == 0
    (row,) = pq.read_table(out).to_pylist()
    assert row["ok"] and row["understood"] is False and row["score"] == 0.0
    assert json.loads(capsys.readouterr().out)["overall"]["score"] == 0.0


def test_eval_on_ray_actors_prints_the_table(tmp_path, tasks, capsys):
    data = tmp_path / "data.parquet"
    write_tasks(tasks[:3], data)
    out = tmp_path / "res.parquet"
    assert main(["eval", "--config", "editor_only", "--data", str(data), "--out", str(out), "--workers", "2"]) == 0
    text = capsys.readouterr().out
    assert "overall" in text and "steps=" in text
    import ray

    ray.shutdown()


def test_eval_missing_data_file(tmp_path, capsys):
    assert main(["eval", "--config", "canvas_rule", "--data", str(tmp_path / "x.parquet"), "--out", str(tmp_path / "r.parquet")]) == 2
    assert "no such dataset file" in capsys.readouterr().err
