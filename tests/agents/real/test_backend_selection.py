"""Selecting real-model backends is config: the packaged real pipelines validate, and
``--set editor.backend=diffusers --set editor.model=PATH`` (and the VLM agents) work on edit, eval and serve."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from PIL import Image

from orchestration.cli import main
from orchestration.config import load_config
from orchestration.graph import build_graph

REAL = sorted((Path(__file__).parents[3] / "configs" / "real").glob("*.yaml"))
PACKAGED = ["canvas_rule", "editor_only", "imageedit_r1", "dda_thinker", "thinkrl_edit"]


def test_there_are_real_pipelines_with_their_hardware_written_down():
    assert {p.name for p in REAL} >= {"imageedit_r1_qwen.yaml", "dda_thinker_kontext.yaml"}
    assert (REAL[0].parent / "README.md").is_file()
    for path in REAL:
        assert "Hardware" in path.read_text()


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem)
def test_real_pipelines_validate_and_resolve_their_classes(path):
    config = load_config(path, check_graph=True)  # imports the agent classes, loads no weights
    classes = build_graph(config).classes
    assert classes["editor"].__name__ == "DiffusersEditor"
    assert {c.__module__ for n, c in classes.items() if n != "editor"} == {"agents.vlm.policy"}
    for name, agent in config.agents.items():
        # every option is a constructor argument of the class it configures (or of a base class it passes them to)
        inits = [vars(k)["__init__"] for k in classes[name].__mro__ if "__init__" in vars(k)]
        params = set().union(*(inspect.signature(f).parameters for f in inits))
        assert set(agent.options) <= params, (name, set(agent.options) - params)


@pytest.mark.parametrize("name", PACKAGED)
def test_editor_override_resolves_on_every_packaged_pipeline(name, pix2pix_path):
    config = load_config(name, ["editor.backend=diffusers", f"editor.model={pix2pix_path}"])
    assert build_graph(config).classes["editor"].__name__ == "DiffusersEditor"
    assert config.agents["editor"].model == str(pix2pix_path)


def test_serve_resolves_the_same_overrides(pix2pix_path, vlm_path):
    from orchestration.serve.config import parse_args, resolve_pipeline

    config = resolve_pipeline(parse_args({"pipeline": "editor_only", "overrides": [
        "editor.backend=diffusers", f"editor.model={pix2pix_path}", "verifier.backend=vlm", f"verifier.model={vlm_path}"]}))
    classes = build_graph(config).classes
    assert classes["editor"].__name__ == "DiffusersEditor" and classes["verifier"].__name__ == "VLMVerifier"


@pytest.fixture
def image(tmp_path, canvas_tasks):
    path = tmp_path / "in.png"
    path.write_bytes(canvas_tasks[1].source_png)
    return path


def test_edit_through_vlm_thinker_diffusers_editor_and_vlm_verifier(tmp_path, image, vlm_path, pix2pix_path, capsys):
    out = tmp_path / "out.png"
    code = main(["edit", str(image), "Paint the large black shape red.", "--config", "dda_thinker", "--out", str(out), "--json",
                 "--set", "thinker.backend=vlm", "--set", f"thinker.model={vlm_path}",
                 "--set", "thinker.options={device: cpu, max_new_tokens: 8, temperature: 0.0}",
                 "--set", "editor.backend=diffusers", "--set", f"editor.model={pix2pix_path}",
                 "--set", "editor.options.num_inference_steps=1", "--set", "editor.options.device=cpu",
                 "--set", "verifier.backend=vlm", "--set", f"verifier.model={vlm_path}",
                 "--set", "verifier.options={device: cpu, max_new_tokens: 8, answer_tokens: 4}"])
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert Image.open(out).size == (64, 64)
    assert isinstance(report["plan"], str) and report["checklist"] and 0.0 <= report["score"] <= 1.0
    assert set(report["timings_ms"]) == {"thinker", "editor", "verifier"}


def test_edit_with_a_text_only_chat_lm_as_decomposer_and_sorter(tmp_path, image, lm_path, capsys):
    out = tmp_path / "out.png"
    code = main(["edit", str(image), "Paint the large black shape red.", "--config", "imageedit_r1", "--out", str(out), "--json",
                 "--set", "decomposer.backend=vlm", "--set", f"decomposer.model={lm_path}",
                 "--set", "decomposer.options={device: cpu, max_new_tokens: 8, scene_text: true}",
                 "--set", "sorter.backend=vlm", "--set", f"sorter.model={lm_path}", "--set", "sorter.options={device: cpu}"])
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["components"] == [] and report["subrequests"] is not None  # noise: no components, nothing to order


def test_eval_on_a_generic_dataset_through_the_diffusers_editor(tmp_path, canvas_tasks, pix2pix_path, capsys):
    (tmp_path / "img").mkdir()
    with open(tmp_path / "tasks.jsonl", "w") as fh:
        for k, task in enumerate(canvas_tasks[:2]):
            (tmp_path / "img" / f"{k}.png").write_bytes(task.source_png)
            fh.write(json.dumps({"id": f"t{k}", "image": f"img/{k}.png", "instruction": task.instruction}) + "\n")
    out = tmp_path / "res.parquet"
    code = main(["eval", "--config", "editor_only", "--data", str(tmp_path / "tasks.jsonl"), "--out", str(out), "--json",
                 "--no-ray", "--workers", "1", "--set", "editor.backend=diffusers", "--set", f"editor.model={pix2pix_path}",
                 "--set", "editor.options.num_inference_steps=1", "--set", "editor.options.device=cpu"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["overall"]["episodes"] == 2 and summary["overall"]["failed"] == 0
    assert list(summary["by_category"]) == ["generic"]
