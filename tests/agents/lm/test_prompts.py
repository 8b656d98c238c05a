"""Prompt and SFT-target builders: prompts carry the instruction and perceived scene; targets parse back to the
ground truth; SFT scene text is what perception sees in the task's own image."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from agents.lm.prompts import build_prompt, scene_text, sft_example, sft_target
from envs.canvas.generator import generate_tasks
from envs.canvas.perception import describe, perceive
from rewards import parse_tagged


@pytest.fixture(scope="module")
def tasks():
    return list(generate_tasks(12, seed=2))


def test_prompt_has_instruction_scene_plan_feedback():
    scene = "background: white; objects: small red circle at top (0.50, 0.20)"
    base = build_prompt("thinker", "Paint the circle\nblue.", scene)
    assert "request: Paint the circle blue." in base and f"scene: {scene}" in base
    assert base.startswith("task: rewrite\n") and base.endswith("\n")
    assert "plan:" not in base and "feedback:" not in base
    full = build_prompt("decomposer", "Paint it blue.", scene, plan="Make the circle blue.", feedback="the circle is still red")
    assert "plan: Make the circle blue." in full and "feedback: the circle is still red" in full
    with pytest.raises(ValueError, match="role"):
        build_prompt("editor", "x", scene)


def test_decomposer_target_parses_to_ground_truth(tasks):
    for task in tasks:
        parsed = parse_tagged(sft_target("decomposer", task))
        assert parsed.components_well_formed
        assert [c.as_dict() for c in parsed.components] == [c.model_dump() for c in task.components]
        assert parsed.think.startswith(str(len(task.components)))


def test_thinker_target_parses_to_explicit_instruction(tasks):
    for task in tasks:
        parsed = parse_tagged(sft_target("thinker", task))
        assert parsed.well_formed
        assert parsed.answer.strip() == task.explicit_instruction
        assert task.category in parsed.think


def test_a_reasoning_thinker_writes_the_decomposers_think_then_the_explicit_plan():
    from rewards.trace import trace_scores

    task = next(t for t in generate_tasks(80, seed=2) if t.category == "superlative")
    thinker = parse_tagged(sft_target("thinker", task, reasoning=True, scan=True))
    decomposer = parse_tagged(sft_target("decomposer", task, reasoning=True, scan=True))
    assert thinker.think == decomposer.think  # same working, so a decomposer's weights are a thinker's start
    assert thinker.answer.strip() == task.explicit_instruction
    assert trace_scores(thinker.think, task.reasoning) == [1.0] * len(task.reasoning)
    plain = parse_tagged(sft_target("thinker", task))
    assert plain.think == f"superlative request, {task.n_steps} step" + ("s" if task.n_steps > 1 else "")


def test_a_thinkers_plan_can_name_objects_as_its_notes_do_and_still_asks_for_the_same_edit():
    from agents.plan_reward import plan_checklist_score
    from envs.canvas.scene import Scene

    traced = [t for t in generate_tasks(120, seed=2) if t.reasoning and t.category != "knowledge"]
    changed = 0
    for task in traced:
        plan = parse_tagged(sft_target("thinker", task, reasoning=True, note_subjects=1.0)).answer.strip()
        changed += plan != task.explicit_instruction
        items = [i for i in task.checklist if i.check is not None]
        score = plan_checklist_score(plan, Scene.from_json(task.source_scene), [i.check for i in items], [i.expected for i in items])
        assert score == 1.0, (plan, task.explicit_instruction)
    assert changed >= len(traced) // 2  # most note-named objects are written in full ("the medium purple star")
    task = traced[0]
    assert parse_tagged(sft_target("thinker", task, reasoning=True)).answer.strip() == task.explicit_instruction


def test_a_region_reference_the_editor_reads_stays_in_the_plan_as_the_request_words_it():
    from agents.editor import plan_outcome
    from envs.canvas.scene import Scene

    spatial = [t for t in generate_tasks(400, seed=3) if t.category == "spatial" and t.reasoning]
    kept = 0
    for task in spatial:
        plan = parse_tagged(sft_target("thinker", task, reasoning=True, note_subjects=1.0,
                                       readable_references=True)).answer.strip()
        phrases = [note.split(" = ")[0] for note in task.reasoning]
        kept += any(p.lower() in plan.lower() for p in phrases)
        outcome, target = plan_outcome(plan, Scene.from_json(task.source_scene)), Scene.from_json(task.target_scene)
        assert (outcome.background, sorted(map(str, outcome.objects))) == (target.background, sorted(map(str, target.objects))), plan
    assert kept > 0  # some region references ("the object in the top right") are written as the request words them


def test_sft_scene_text_comes_from_perception_of_the_source_image(tasks):
    task = tasks[0]
    with Image.open(io.BytesIO(task.source_png)) as image:
        expected = describe(perceive(image.convert("RGB")))
    assert scene_text(task.source_png) == expected
    prompt, _ = sft_example("decomposer", task)
    assert prompt == build_prompt("decomposer", task.instruction, expected)
    prompt_with_plan, _ = sft_example("decomposer", task, with_plan=True, scene=expected)
    assert f"plan: {task.explicit_instruction}" in prompt_with_plan


def test_sft_target_needs_ground_truth(tasks):
    bare = tasks[0].model_copy(update={"components": [], "explicit_instruction": None})
    with pytest.raises(ValueError, match="components"):
        sft_target("decomposer", bare)
    with pytest.raises(ValueError, match="explicit_instruction"):
        sft_target("thinker", bare)


def test_corpus_has_prompts_and_targets_for_every_role(corpus):
    assert len(corpus) == 30 * 2 * 2
    assert corpus[0].startswith("task: decompose") and corpus[1].startswith("<think>")
    assert corpus[2].startswith("task: rewrite") and corpus[3].startswith("<think>")


def test_reasoning_trace_targets_resolve_the_indirect_references():
    from envs.canvas.generator import generate_tasks
    from rewards.parsing import parse_tagged

    task = next(t for t in generate_tasks(50, seed=2) if t.category == "spatial")
    plain, traced = sft_target("decomposer", task), sft_target("decomposer", task, reasoning=True)
    assert task.reasoning[0] in traced and task.reasoning[0] not in plain
    assert parse_tagged(traced).components == parse_tagged(plain).components  # the answer is the same


def test_scan_traces_walk_the_scene_before_each_note_and_score_like_plain_notes():
    from rewards.parsing import parse_tagged
    from rewards.trace import trace_scores

    task = next(t for t in generate_tasks(80, seed=2) if t.category == "superlative")
    traced = sft_target("decomposer", task, reasoning=True)
    scanned = sft_target("decomposer", task, reasoning=True, scan=True)
    phrase, meaning = task.reasoning[0].split(" = ")
    assert f"{phrase}: {task.reasoning_scans[0]} = {meaning}" in scanned
    assert parse_tagged(scanned).components == parse_tagged(traced).components  # the answer is the same
    think = parse_tagged(scanned).think
    assert trace_scores(think, task.reasoning) == [1.0] * len(task.reasoning)  # the scan does not disturb the note
    old = task.model_copy(update={"reasoning_scans": []})  # a task file made before scans existed
    with pytest.raises(ValueError, match="regenerate"):
        sft_target("decomposer", old, reasoning=True, scan=True)


def test_scan_forms_choose_each_notes_working_once_per_task():
    from agents.lm.prompts import note_scans
    from rewards.parsing import parse_tagged
    from rewards.trace import scan_scores, trace_scores

    tasks = [t for t in generate_tasks(200, seed=4) if any(t.reasoning_scans)]
    superlatives = [t for t in tasks if any(t.reasoning_running_scans)]
    assert superlatives
    for task in tasks:
        assert note_scans(task, None) == task.reasoning_scans
        assert note_scans(task, {"none": 1}) == [""] * len(task.reasoning)
        assert note_scans(task, {"verdicts": 1, "running": 0}) == task.reasoning_scans
        mixed = {"verdicts": 1, "running": 1, "none": 1}
        assert note_scans(task, mixed) == note_scans(task, mixed)  # drawn from the task id
        for drawn, verdicts, best in zip(note_scans(task, mixed), task.reasoning_scans, task.reasoning_running_scans):
            assert drawn in {verdicts, best, ""}  # a note without a running best ("") never gets one
        target = sft_target("decomposer", task, reasoning=True, scan=True, scan_forms=mixed)
        assert parse_tagged(target).components == parse_tagged(sft_target("decomposer", task, reasoning=True)).components
        assert trace_scores(parse_tagged(target).think, task.reasoning) == [1.0] * len(task.reasoning)
    drawn = [scan for task in superlatives for scan, best in zip(note_scans(task, {"verdicts": 1, "running": 1}),
                                                                 task.reasoning_running_scans) if best]
    assert any(s.endswith(" best") or " best, " in s for s in drawn) and any(" yes" in s for s in drawn)
    for task in superlatives:
        assert note_scans(task, {"compare": 1, "none": 0}) == task.reasoning_compare_scans  # the other notes: no form
        think = parse_tagged(sft_target("decomposer", task, reasoning=True, scan=True,
                                        scan_forms={"verdicts": 1, "compare": 1})).think
        assert trace_scores(think, task.reasoning) == [1.0] * len(task.reasoning)
        credit = scan_scores(think, task.reasoning, task.reasoning_scans, task.reasoning_running_scans,
                             task.reasoning_order_scans, task.reasoning_compare_scans)
        assert all(all(score == 1.0 for score in note) for note in credit if note is not None), (think, credit)
    heights = [t for t in tasks if any(t.reasoning_order_scans)]
    assert heights
    for task in heights:
        assert note_scans(task, {"order": 1, "none": 0}) == task.reasoning_order_scans  # the other notes: no form
        target = sft_target("decomposer", task, reasoning=True, scan=True, scan_forms={"order": 1})
        assert trace_scores(parse_tagged(target).think, task.reasoning) == [1.0] * len(task.reasoning)
    with pytest.raises(ValueError, match="unknown scan form"):
        note_scans(tasks[0], {"sorted": 1})


def test_note_subjects_copy_the_notes_objects_and_name_the_same_objects():
    from envs.canvas.grounding import grounded_f1
    from envs.canvas.scene import Scene
    from rewards.parsing import parse_tagged

    tasks = [t for t in generate_tasks(120, seed=5) if t.category in ("logic", "superlative", "spatial") and t.reasoning]
    assert tasks
    copied = 0
    for task in tasks:
        canonical = sft_target("decomposer", task, reasoning=True, scan=True)
        assert sft_target("decomposer", task, reasoning=True, scan=True, note_subjects=0.0) == canonical
        noted = sft_target("decomposer", task, reasoning=True, scan=True, note_subjects=1.0)
        assert noted == sft_target("decomposer", task, reasoning=True, scan=True, note_subjects=1.0)  # one target per task
        parsed = parse_tagged(noted)
        assert parsed.think == parse_tagged(canonical).think  # only the answer's wording changes
        predicted = [{"action": c.action, "subject": list(c.subject), "target": list(c.target)} for c in parsed.components]
        assert grounded_f1(predicted, task.components_as_dicts(), task.order, Scene.from_json(task.source_scene)) == pytest.approx(1.0)
        listed = {m.strip() for note in task.reasoning for m in note.split(" = ", 1)[1].split(",")}
        copied += any(s.removeprefix("the ") in listed for c in parsed.components for s in c.subject if s not in
                      {m for comp in task.components for m in comp.subject})
    assert copied >= len(tasks) // 2  # most indirect references are written as their note lists them
    # Without the reasoning trace there is no note to copy from: the share is ignored.
    assert sft_target("decomposer", tasks[0], note_subjects=1.0) == sft_target("decomposer", tasks[0])
