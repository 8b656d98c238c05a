"""Canvas data for the verifier: candidates judged from pixels, reward trajectories, preference pairs."""

from __future__ import annotations

import pytest

from agents.lm.verifier_data import candidate_edits, preference_pairs, sft_examples
from envs.canvas.generator import generate_mixed_task
from envs.task import EditTask
from rewards.principles import parse_principles, principle_score


@pytest.fixture(scope="module")
def task():
    return generate_mixed_task(1, seed=0, split="train", step_mix={3: 1.0})


@pytest.fixture(scope="module")
def candidates(task):
    return candidate_edits(task)


def test_candidates_are_correct_and_incorrect(candidates):
    by_kind = {c.kind: c for c in candidates}
    assert by_kind["target"].judge == 1.0 and by_kind["target"].full_success
    assert by_kind["source"].judge < 1.0
    assert any(c.kind.startswith("drop") for c in candidates) and "editor" in by_kind
    assert len({c.judge for c in candidates}) >= 2


def test_trajectory_answers_the_reference_checklist_on_the_pixels(task, candidates):
    for (prompt, target), cand in zip(sft_examples(task, candidates), candidates):
        parsed = parse_principles(target)
        assert parsed.well_formed and "\nedited: background:" in prompt
        checked = [p for p in parsed.principles if p.kind != "quality"]
        assert len(checked) == len([i for i in task.checklist if i.check is not None])
        assert principle_score(checked) == pytest.approx(cand.judge)  # the trajectory is the judge, in words
        assert all(p.reason for p in parsed.principles)


def test_changes_line_is_perceptions_difference(task, candidates):
    changes = {c.kind: prompt.splitlines()[-1] for (prompt, _), c in zip(sft_examples(task, candidates), candidates)}
    assert all(line.startswith("changes: ") for line in changes.values())
    assert changes["source"] == "changes: none"  # nothing done: nothing to notice
    judged = {c.kind: c.judge for c in candidates}
    for a in changes:  # edits the judge tells apart read differently here (the same image twice reads the same)
        for b in changes:
            if judged[a] != judged[b]:
                assert changes[a] != changes[b], (a, b)


def test_pairs_prefer_the_judges_choice(task, candidates):
    pairs = preference_pairs(task, candidates, max_pairs=5)
    assert pairs and len({p.pair_id for p in pairs}) == len(pairs)
    for p in pairs:
        assert (p.judge_a > p.judge_b) == (p.preferred == "a") and p.judge_a != p.judge_b
        assert p.task_id == task.task_id


def test_refuses_tasks_without_canvas_ground_truth(task):
    bare = EditTask(task_id="x", instruction="make it nicer", source_png=task.source_png)
    with pytest.raises(ValueError, match="needs Canvas tasks"):
        candidate_edits(bare)
    with pytest.raises(ValueError, match="unknown candidate kinds"):
        candidate_edits(task, kinds=["sorcery"])
