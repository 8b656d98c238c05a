"""Reflection examples: a thinker's own failed first plans, carried out and checked by the pipeline's editor and
verifier, become prompts with the verifier's feedback whose target is the right plan; and the cold start's
reflection stage trains on them."""

from __future__ import annotations

from agents.editor import CanvasEditor
from agents.lm.model import load_policy
from agents.lm.prompts import scene_text, sft_target
from agents.lm.reflection import reflection_examples
from agents.lm.sft import cold_start
from agents.verifier import CanvasVerifier
from envs.canvas.generator import generate_tasks
from rewards import parse_tagged

SMALL = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}


def test_failed_first_plans_give_feedback_prompts_with_the_right_plan(tiny_model, tokenizer):
    tasks = list(generate_tasks(6, seed=3))
    scenes = [scene_text(t.source_png) for t in tasks]
    verifier = CanvasVerifier(use_reference=False, derive_from="instruction", reader="full")
    examples, stats = reflection_examples(tiny_model, tokenizer, tasks, scenes, CanvasEditor(mode="multi_turn"), verifier,
                                          samples=2, max_new_tokens=12, seed=0, reasoning=True)
    assert stats.plans == 12 and stats.failed == 12  # an untrained thinker's plans never pass
    assert 6 <= stats.examples == len(examples) <= 12  # the same feedback twice for one task is one example
    assert sum(stats.per_category.values()) == stats.examples
    for prompt, target in examples:
        request = prompt.split("request: ")[1].split("\n")[0]
        task = next(t for t in tasks if " ".join(t.instruction.split()) == request)
        assert "\nfeedback: Failed: " in prompt and prompt.startswith("task: rewrite\n")
        assert target == sft_target("thinker", task, reasoning=True)
        assert parse_tagged(target).answer.strip() == task.explicit_instruction


def test_cold_start_reflection_stage_trains_the_thinker_on_its_failures(tmp_path):
    verifier = CanvasVerifier(use_reference=False, derive_from="instruction", reader="full")
    report = cold_start(tmp_path, n_tasks=16, roles=("thinker",), steps=2, batch_size=4, vocab_size=400, model_overrides=SMALL,
                        reflection={"tasks": 12, "samples": 1, "steps": 2, "editor": CanvasEditor(mode="multi_turn"),
                                    "verifier": verifier})
    stage = report["roles"]["thinker"]["reflection"]
    assert stage["plans"] == 12 and stage["examples"] >= 1 and stage["steps"] == 2
    model, _ = load_policy(tmp_path / "thinker")
    assert model.config.hidden_size == 32
