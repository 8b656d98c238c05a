"""Every script in examples/ runs as a user runs it (`python examples/x.py`, from the repository root, in a
subprocess) and prints or writes what its docstring promises. The GRPO and Serve examples start a Ray instance of
their own in that subprocess (2 CPUs); the others need no Ray.
"""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from envs.canvas.generator import generate_task

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCRIPTS = ["edit_image.py", "custom_reward.py", "plugin_agent.py", "grpo_from_python.py", "serve_client.py"]
NUMBER = r"(-?\d+\.\d+)"


def run_example(script: str, *args: str, timeout: float = 120) -> str:
    """Run one example; its stdout, after checking it exited 0."""
    # A fresh local Ray instance, never a cluster named in the environment; no bearer token from the environment.
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "EDITRL_SERVE_TOKEN")}
    proc = subprocess.run([sys.executable, f"examples/{script}", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc.stdout


def lines_starting(out: str, prefix: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(prefix)]


def test_every_example_is_documented_and_listed():
    readme = (EXAMPLES / "README.md").read_text()
    for script in SCRIPTS:
        tree = ast.parse((EXAMPLES / script).read_text())
        doc = ast.get_docstring(tree) or ""
        assert f"python examples/{script}" in doc, f"{script}: the docstring should say how to run it"
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), f"{script}: no main()"
        assert f"examples/{script}" in readme, f"{script} is not listed in examples/README.md"
    assert "examples/README.md" in (ROOT / "README.md").read_text()


def test_edit_image_writes_the_edited_png_and_prints_every_agents_work(tmp_path):
    out_png = tmp_path / "nested" / "edited.png"
    out = run_example("edit_image.py", "--index", "5", "--out", str(out_png))
    task = generate_task(5, seed=0, split="test")
    assert f"instruction : {task.instruction}" in out
    assert lines_starting(out, "plan        : ")[0].strip() != "plan        :"
    assert len(lines_starting(out, "component   : ")) >= 1 and len(lines_starting(out, "subrequest 0: ")) == 1
    checks = lines_starting(out, "check       : ")
    assert len(checks) == len(task.checklist)  # the verifier answered the task's reference checklist
    assert all(re.search(r"\[(pass|FAIL)\].*\(expected (yes|no), saw (yes|no|unknown)\)", c) for c in checks), checks
    score = float(re.search(rf"score       : {NUMBER}", out).group(1))
    assert 0.0 <= score <= 1.0
    assert f"wrote {out_png}" in out
    edited = Image.open(io.BytesIO(out_png.read_bytes()))
    edited.load()
    assert edited.format == "PNG" and edited.size == (128, 128)
    assert out_png.read_bytes() != task.source_png  # the editor changed the image


def test_edit_image_takes_overrides_and_writes_to_a_temp_dir_by_default():
    out = run_example("edit_image.py", "--set", "editor.options.mode=multi_turn")
    path = Path(lines_starting(out, "wrote ")[0].removeprefix("wrote "))
    try:
        assert Image.open(path).size == (128, 128)
    finally:
        path.unlink()
        path.parent.rmdir()


def test_custom_reward_scores_completions_and_episodes_and_validates_in_grpo():
    out = run_example("custom_reward.py", "--episodes", "2")
    scores = {line.split("  ")[0].strip(): dict(re.findall(rf"(\w+)={NUMBER}", line)) for line in out.splitlines()
              if line.startswith(("completion:", "episode "))}
    values = [float(v) for s in scores.values() for v in s.values()]
    assert values and all(0.0 <= v <= 1.0 for v in values), scores
    exact, missing, untagged = (scores[f"completion: {k}"] for k in ("all steps", "one step missing", "untagged"))
    assert exact == {"step_count": "1.000", "f1": "1.000", "format": "1.000"}
    n = generate_task(0, seed=0, split="test").n_steps
    assert float(missing["step_count"]) == pytest.approx(round(1 - 1 / n, 3))
    assert float(untagged["step_count"]) == 0.0
    episodes = [s for k, s in scores.items() if k.startswith("episode ")]
    assert len(episodes) == 2 and all(set(e) == {"step_count", "grounded_f1", "checklist", "success"} for e in episodes)
    assert "GRPO config valid: decomposer rewards [('grounded_f1', 1.0), ('step_count', 0.5)]" in out
    assert "unknown reward 'step_cnt'" in out and "step_count" in lines_starting(out, "with a typo: ")[0]


def test_plugin_agent_runs_the_plugged_in_verifier():
    out = run_example("plugin_agent.py", "--min-changed", "0.002")
    assert "'backend': 'change_checking'" in out and "'min_changed': 0.002" in out
    task_part, impossible_part = out.split("impossible request:")
    own = "Did the edit change at least 0.2% of the image?"
    assert f"[pass] {own} (saw yes)" in task_part
    assert f"[FAIL] {own} (saw no)" in impossible_part and "passed: False" in impossible_part
    assert "config error (as expected): agents.thinker" in out and "has role 'verifier'" in out


def test_grpo_from_python_runs_two_iterations():
    out = run_example("grpo_from_python.py", "--iterations", "2", "--group-size", "4", "--tasks", "2",
                      "--max-new-tokens", "48", timeout=300)
    rows = re.findall(rf"^iteration (\d+): reward={NUMBER}  (.*)$", out, flags=re.M)
    assert [int(i) for i, _, _ in rows] == [1, 2], out
    for _, reward, rest in rows:
        terms = {k: float(v) for k, v in re.findall(rf"(\w+)={NUMBER}", rest)}
        assert {"grounded_f1", "success", "format"} <= set(terms)
        assert all(0.0 <= terms[t] <= 1.0 for t in ("grounded_f1", "success", "format"))
        assert 0.0 <= float(reward) <= 3.0  # three terms of weight 1
        assert float(reward) == pytest.approx(terms["grounded_f1"] + terms["success"] + terms["format"], abs=3e-3)
    assert "a rollout of the last iteration" in out


def test_serve_client_edits_over_http(tmp_path):
    out_png = tmp_path / "served.png"
    out = run_example("serve_client.py", "--seed", "5", "--out", str(out_png), timeout=300)
    assert "'status': 'ok'" in out and "'pipeline': 'canvas_rule'" in out
    assert f"instruction : {generate_task(5, seed=0, split='test').instruction}" in out
    assert lines_starting(out, "plan        : ") and lines_starting(out, "component   : ")
    checks = lines_starting(out, "check       : ")
    assert checks and all(re.match(r"check       : \[ *(yes|no|unknown)\] ", c) for c in checks), checks
    score = float(re.search(rf"score       : {NUMBER}", out).group(1))
    assert 0.0 <= score <= 1.0
    assert Image.open(out_png).size == (128, 128)
