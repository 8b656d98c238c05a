"""`editrl edit` and `editrl eval` as a user runs them, bad input included."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from envs.canvas.generator import generate_tasks
from envs.dataset import write_tasks
from orchestration.cli import main
from orchestration.eval_results import ResultsFile, parts_dir
from orchestration.pipeline import Pipeline


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
    assert all(set(item) == {"question", "answer", "reason"} for item in report["checklist"])
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


def _eval_argv(data, out, *extra):
    return ["eval", "--config", "canvas_rule", "--data", str(data), "--out", str(out), "--no-ray", "--workers", "1",
            "--json", *extra]


@pytest.mark.parametrize("where", ["in an episode", "while a row is written"])
def test_an_interrupted_eval_keeps_the_finished_rows_and_resume_runs_only_the_rest(tmp_path, tasks, capsys, monkeypatch, where):
    data, out = tmp_path / "data.parquet", tmp_path / "res.parquet"
    write_tasks(tasks, data)
    run, append = Pipeline.run, ResultsFile.append
    started: list[str] = []

    def counted_run(self, state):
        started.append(state.task_id)
        if where == "in an episode" and len(started) > 2:
            raise KeyboardInterrupt  # what Ctrl-C is to the command, once two episodes have finished
        return run(self, state)

    def interrupted_append(self, row):
        if self.appended == 2:
            raise KeyboardInterrupt
        append(self, row)

    monkeypatch.setattr(Pipeline, "run", counted_run)
    if where == "while a row is written":
        monkeypatch.setattr(ResultsFile, "append", interrupted_append)
    assert main(_eval_argv(data, out)) == 130
    assert "interrupted; 2 of 6 episodes are in" in capsys.readouterr().err
    rows = pq.read_table(out).to_pylist()
    assert [r["task_id"] for r in rows] == [t.task_id for t in tasks[:2]] and all(r["ok"] and r["edited_png"] for r in rows)
    # Episodes start one per finished one (--workers 1): after the interrupt nothing queued ran.
    assert started[:3] == [t.task_id for t in tasks[:3]] and len(started) <= 4
    assert not parts_dir(out).exists()

    monkeypatch.setattr(ResultsFile, "append", append)
    monkeypatch.setattr(Pipeline, "run", lambda self, state: started.append(state.task_id) or run(self, state))
    started.clear()
    assert main(_eval_argv(data, out, "--resume")) == 0
    assert started == [t.task_id for t in tasks[2:]]
    assert json.loads(capsys.readouterr().out)["overall"]["episodes"] == 6
    rows = pq.read_table(out).to_pylist()
    assert sorted(r["task_id"] for r in rows) == sorted(t.task_id for t in tasks) and all(r["edited_png"] for r in rows)

    started.clear()
    assert main(_eval_argv(data, out, "--resume")) == 0 and started == []  # nothing left to run
    assert json.loads(capsys.readouterr().out)["overall"]["episodes"] == 6


def test_a_callback_that_interrupts_starts_no_queued_episode(tasks):
    from orchestration.config import load_config
    from orchestration.evaluate import run_episodes

    pipeline = Pipeline.local(load_config("canvas_rule"))
    run, started, seen = pipeline.run, [], []
    pipeline.run = lambda state: started.append(state.task_id) or run(state)

    def on_row(row):
        seen.append(row["task_id"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_episodes(pipeline, tasks, workers=1, on_row=on_row)
    assert seen == [t.task_id for t in tasks[:2]] and len(started) <= 3  # at most the one already handed to the thread


def test_resume_refuses_results_of_another_pipeline(tmp_path, tasks, capsys):
    data, out = tmp_path / "data.parquet", tmp_path / "res.parquet"
    write_tasks(tasks[:2], data)
    assert main(_eval_argv(data, out)) == 0
    capsys.readouterr()
    assert main(_eval_argv(data, out, "--resume", "--set", "editor.options.mode=multi_turn")) == 2
    err = capsys.readouterr().err
    assert "holds results of pipeline 'canvas_rule' with other settings" in err and "without --resume" in err
    assert pq.read_table(out).num_rows == 2  # left as it was
