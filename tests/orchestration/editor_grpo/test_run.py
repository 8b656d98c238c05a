"""`editrl train-editor`: a run folder with metrics, TensorBoard, checkpoints and the adapter; a resumed run ends
where the uninterrupted one does; bad configs and folders are refused with what to change."""

from __future__ import annotations

import json

import pytest
import yaml
from PIL import Image

from orchestration.cli import main
from orchestration.editor_grpo.run import EditorRunConfig, run_editor_training


def _files(tmp_path):
    """A tasks file of two tasks (grey and green squares) next to the config."""
    for name, colour in (("grey.png", (128, 128, 128)), ("green.png", (40, 160, 60))):
        Image.new("RGB", (32, 32), colour).save(tmp_path / name)
    rows = [{"prompt": "make it red", "image": "grey.png"}, {"prompt": "make it red", "image": "green.png"}]
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _config(tmp_path, **editor):
    _files(tmp_path)
    fields = dict(model="tiny:kontext", sampler={"max_sequence_length": 16}, num_steps=2, group_size=3,
                  groups_per_iteration=1, iterations=4, lr=2e-2, clip_range=0.05, lora_rank=2,
                  rewards=[{"name": "colour_share"}], target_colour=[255, 0, 0], soft_colour=True, colour_tolerance=1.0)
    fields.update(editor)
    data = {"editor": fields, "tasks": {"file": "tasks.jsonl"}, "eval_tasks": {"file": "tasks.jsonl"},
            "eval_every": 2, "checkpoint_every": 2}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _adapter(run_dir):
    from safetensors.torch import load_file

    return load_file(str(run_dir / "adapter" / "pytorch_lora_weights.safetensors"))


def test_a_resumed_run_ends_where_the_uninterrupted_run_does(tmp_path, capsys):
    config_path = _config(tmp_path)
    straight = tmp_path / "straight"
    assert main(["train-editor", "--config", str(config_path), "--run-dir", str(straight)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["iterations"] == 4 and [it for it, _ in summary["eval"]] == [0, 2, 4]
    lines = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in lines] == [0, 1, 2, 3, 4]
    assert all("reward_mean" in row and "grad_norm" in row for row in lines[1:])
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == ["iter_000002", "iter_000004"]
    assert list((straight / "tb").glob("events.out.tfevents.*"))

    # The same run stopped after its first checkpoint, then resumed: the same adapter, the same metrics.
    config = EditorRunConfig.model_validate(yaml.safe_load(config_path.read_text()))
    halted = tmp_path / "halted"
    first = config.model_copy(update={"editor": config.editor.model_copy(update={"iterations": 2})})
    run_editor_training(first, halted, config_dir=tmp_path, log=lambda _: None)
    (halted / "config.json").write_text(json.dumps(config.model_dump(mode="json")))  # as if stopped at iteration 2
    resumed = run_editor_training(config, halted, resume=True, config_dir=tmp_path, log=lambda _: None)
    assert resumed["iterations"] == 4
    a, b = _adapter(straight), _adapter(halted)
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max() < 1e-6 for k in a)
    again = [json.loads(line) for line in (halted / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in again] == [0, 1, 2, 3, 4]
    assert again[-1]["reward_mean"] == pytest.approx(lines[-1]["reward_mean"], abs=1e-6)
    assert again[-1]["eval_reward"] == pytest.approx(lines[-1]["eval_reward"], abs=1e-6)


def test_bad_configs_and_folders_are_refused_with_what_to_change(tmp_path, capsys):
    config_path = _config(tmp_path)
    run_dir = tmp_path / "run"
    assert main(["train-editor", "--config", str(config_path), "--run-dir", str(run_dir),
                 "--set", "editor.iterations=1", "--set", "checkpoint_every=1"]) == 0
    capsys.readouterr()
    cases = [
        (["--run-dir", str(run_dir), "--set", "editor.iterations=1", "--set", "checkpoint_every=1"], "pass --resume"),
        (["--run-dir", str(run_dir), "--resume"], "started with another config"),
        (["--run-dir", str(tmp_path / "fresh"), "--resume"], "no run to resume"),
        (["--run-dir", str(tmp_path / "x"), "--set", "editor.lr_typo=1"], "editor.lr_typo: Extra inputs"),
        (["--run-dir", str(tmp_path / "x"), "--set", "editor.model=tiny:sd3"], "tiny:pix2pix, tiny:kontext"),
        (["--run-dir", str(tmp_path / "x"), "--set", "tasks.file=missing.jsonl"], "does not exist"),
        (["--run-dir", str(tmp_path / "x"), "--set", "tasks.canvas={count: 2}"], "exactly one of canvas"),
    ]
    for extra, message in cases:
        assert main(["train-editor", "--config", str(config_path), *extra]) == 2
        assert message in capsys.readouterr().err
    assert main(["train-editor", "--config", str(tmp_path / "nope.yaml"), "--run-dir", str(run_dir)]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "broken.yaml").write_text("editor: [unclosed\n")
    assert main(["train-editor", "--config", str(tmp_path / "broken.yaml"), "--run-dir", str(run_dir)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_the_packaged_configs_validate_and_build_canvas_tasks():
    from pathlib import Path

    from orchestration.editor_grpo.run import load_tasks

    files = sorted(Path("configs/editor").glob("*.yaml"))
    assert {f.name for f in files} >= {"tiny_kontext.yaml", "kontext_dev.yaml"}
    for path in files:  # validated only: the real model is not loaded here
        EditorRunConfig.model_validate(yaml.safe_load(path.read_text()))
    config = EditorRunConfig.model_validate(yaml.safe_load(Path("configs/editor/tiny_kontext.yaml").read_text()))
    tasks = load_tasks(config.eval_tasks.model_copy(update={"canvas": config.eval_tasks.canvas.model_copy(update={"count": 2})}))
    assert len(tasks) == 2 and all(t.context is not None for t in tasks)
    fields = tasks[0].context(tasks[0].image)  # the unedited source, answered by the Canvas verifier
    assert fields["checklist_answers"] and fields["change_mask"].shape == tasks[0].image.size[::-1]


def test_a_reward_the_tasks_cannot_feed_leaves_the_folder_free(tmp_path, capsys):
    config_path = _config(tmp_path)
    run_dir = tmp_path / "run"
    bad = ["--set", "editor.rewards=[{name: preservation}]", "--set", "editor.iterations=1"]
    assert main(["train-editor", "--config", str(config_path), "--run-dir", str(run_dir), *bad]) == 2
    assert "file tasks carry only their images" in capsys.readouterr().err
    assert not (run_dir / "config.json").exists()  # not claimed: the corrected config starts without --resume
    assert main(["train-editor", "--config", str(config_path), "--run-dir", str(run_dir),
                 "--set", "editor.iterations=1", "--set", "checkpoint_every=1"]) == 0


def test_resume_survives_a_cut_metrics_line_and_refuses_a_checkpoint_the_learners_did_not_restore(tmp_path):
    from orchestration.editor_grpo.run import restore_checkpoint
    from orchestration.editor_grpo.trainer import EditorGRPOTrainer

    config = EditorRunConfig.model_validate(yaml.safe_load(_config(tmp_path).read_text()))
    run_dir = tmp_path / "run"
    first = config.model_copy(update={"editor": config.editor.model_copy(update={"iterations": 2})})
    run_editor_training(first, run_dir, config_dir=tmp_path, log=lambda _: None)
    (run_dir / "config.json").write_text(json.dumps(config.model_dump(mode="json")))
    with (run_dir / "metrics.jsonl").open("a") as handle:
        handle.write('{"iteration": 3, "rew')  # a crash mid-line
    summary = run_editor_training(config, run_dir, resume=True, config_dir=tmp_path, log=lambda _: None)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in rows] == [0, 1, 2, 3, 4]
    assert [it for it, _ in summary["eval"]] == [0, 2, 4]  # the evaluations before the resume are kept

    # A checkpoint whose learner state is gone must not resume from the untrained adapter.
    import shutil

    checkpoint = run_dir / "checkpoints" / "iter_000004"
    shutil.rmtree(checkpoint / "learners" / "learner")
    trainer = EditorGRPOTrainer(config.editor.model_copy(update={"model": str(run_dir / "model")}))
    try:
        with pytest.raises(RuntimeError, match="did not restore the adapter"):
            restore_checkpoint(trainer, checkpoint)
    finally:
        trainer.close()
