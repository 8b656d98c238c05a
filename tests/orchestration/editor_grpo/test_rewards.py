"""Canvas tasks as editor-GRPO tasks: the rule verifier's checklist plus preservation scores an edited image."""

from __future__ import annotations

from envs.canvas.generator import generate_tasks
from envs.image_io import load_image
from orchestration.editor_grpo.config import EditorGRPOConfig
from orchestration.editor_grpo.rewards import canvas_editor_task, score_image


def test_the_ideal_result_outscores_the_unedited_source():
    config = EditorGRPOConfig(model="unused", rewards=[{"name": "verified_edit"}], preservation_weight=0.3)
    task = next(t for t in generate_tasks(20, seed=3, split="train") if t.checklist and t.target_png)
    editor_task = canvas_editor_task(task)
    ideal = score_image(editor_task, load_image(task.target_png), config)
    unchanged = score_image(editor_task, load_image(task.source_png), config)
    assert ideal > unchanged
    assert ideal > 0.9


def test_the_shipped_reasoning_verifier_rewards_the_ideal_result_over_the_unedited_source():
    from agents.lm.verifier import LMVerifier

    config = EditorGRPOConfig(model="unused", rewards=[{"name": "verified_edit"}], preservation_weight=0.3)
    verifier = LMVerifier(model="agents/lm/pretrained/verifier", temperature=0.0, max_new_tokens=320)
    tasks = [t for t in generate_tasks(30, seed=3, split="test") if t.checklist and t.target_png][:6]
    ideal, unchanged = [], []
    for task in tasks:
        editor_task = canvas_editor_task(task, verifier=verifier)
        ideal.append(score_image(editor_task, load_image(task.target_png), config))
        unchanged.append(score_image(editor_task, load_image(task.source_png), config))
    assert sum(a > b for a, b in zip(ideal, unchanged)) >= 5, (ideal, unchanged)
