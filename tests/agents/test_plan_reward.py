"""The cognitive-atomic reward: the reference checklist answered on the scene a plan describes, read the way the
Canvas editor reads it, before any pixel is touched."""

from __future__ import annotations

import pytest

from agents.base import EpisodeState, Plan
from agents.editor import CanvasEditor, plan_outcome
from agents.canvas_paint import perceive_png
from envs.canvas.checks import evaluate_check
from envs.canvas.generator import generate_tasks
from agents.plan_reward import plan_checklist_score
from envs.canvas.scene import Scene
from envs.editing_env import reward_context
from rewards import get_reward


@pytest.fixture(scope="module")
def tasks():
    return list(generate_tasks(60, seed=4, split="test"))


def _checks(task):
    items = [i for i in task.checklist if i.check is not None]
    return [i.check for i in items], [i.expected for i in items]


def test_the_explicit_instruction_passes_every_item_and_the_raw_request_often_does_not(tasks):
    explicit = [plan_checklist_score(t.explicit_instruction, Scene.from_json(t.source_scene), *_checks(t)) for t in tasks]
    raw = [plan_checklist_score(t.instruction, Scene.from_json(t.source_scene), *_checks(t)) for t in tasks]
    assert explicit == [1.0] * len(tasks)
    assert sum(r < 1.0 for r in raw) >= 10  # indirect references the editor cannot read leave items failed
    indirect = next(t for t, r in zip(tasks, raw) if r < 1.0)
    assert plan_checklist_score("", Scene.from_json(indirect.source_scene), *_checks(indirect)) < 1.0


def test_the_plans_scene_is_what_the_multi_turn_editor_paints(tasks):
    editor = CanvasEditor(mode="multi_turn")
    for task in tasks[:12]:
        for plan in (task.explicit_instruction, task.instruction):
            state = EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png,
                                 plan=Plan(text=plan))
            seen = perceive_png(editor.act(state).image_png)
            outcome = plan_outcome(plan, Scene.from_json(task.source_scene))
            checks, _ = _checks(task)
            assert [evaluate_check(c, seen.objects, seen.background) for c in checks] == \
                   [evaluate_check(c, outcome.objects, outcome.background) for c in checks]


def test_registered_reward_reads_the_completions_answer_from_an_episode(tasks):
    task = tasks[0]
    state = EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png)
    reward = get_reward("plan_checklist")
    good = f"<think>{task.n_steps} edits</think><answer>\n{task.explicit_instruction}\n</answer>"
    assert reward(reward_context(task, state, good, "plan")) == 1.0
    assert reward(reward_context(task, state, "<think>no answer", "plan")) < 1.0
    with pytest.raises(ValueError, match="reference_checks"):
        reward(reward_context(task.model_copy(update={"checklist": []}), state, good, "plan"))
