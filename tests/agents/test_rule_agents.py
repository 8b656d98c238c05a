"""Rule thinker, decomposer and sorter on generated tasks, and the rule pipeline end to end.

The thresholds are margins under numbers measured on these exact task streams (noted at each assertion); the
agents are deterministic, so a drop means a behaviour change, not noise.
"""

from collections import defaultdict
from statistics import mean

import pytest

from agents.base import Decomposition, EpisodeState, Plan, RoundRecord
from agents.decomposer import RuleDecomposer
from agents.editor import CanvasEditor
from agents.sorter import RuleSorter, dependency_edges, dependency_order, topological_order
from agents.thinker import RuleThinker, feedback_fixes, resolve_subject, resolve_value
from agents.verifier import CanvasVerifier
from envs.canvas.execute import EditError, execute
from envs.canvas.generator import generate_tasks
from envs.canvas.scene import CanvasObject, Scene
from rewards import structured_f1

N = 200


@pytest.fixture(scope="module")
def tasks():
    return list(generate_tasks(N, seed=0, split="test"))


def _state(task, **extra):
    return EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png, **extra)


def _valid(task, components, order) -> bool:
    try:
        return execute(Scene.from_json(task.source_scene), components, order).same_content(Scene.from_json(task.target_scene))
    except EditError:
        return False


def _f1(decomposition, task) -> float:
    return structured_f1([c.model_dump() for c in decomposition.components], task.components_as_dicts()).overall


def test_protocol_attributes():
    for cls, role in ((RuleThinker, "thinker"), (RuleDecomposer, "decomposer"), (RuleSorter, "sorter")):
        assert cls.role == role and cls.backend == "rule"
        assert cls().describe()["backend"] == "rule"


def test_thinker_rewrites_direct_tasks_as_the_explicit_instruction(tasks):
    thinker = RuleThinker()
    direct = [t for t in tasks if t.category == "direct"]
    exact = [thinker.act(_state(t)).text == t.explicit_instruction for t in direct]
    # Observed: 100% of direct tasks (79/79 of 300, 53/53 of these 200).
    assert mean(exact) >= 0.97


def test_thinker_resolves_only_the_easy_indirect_references(tasks):
    thinker = RuleThinker()
    by_category = defaultdict(list)
    for t in tasks:
        if t.category != "direct":
            by_category[t.category].append(thinker.act(_state(t)).text == t.explicit_instruction)
    rates = {c: mean(v) for c, v in by_category.items()}
    # Observed on these 200: knowledge 2/31 and superlative 3/24 exact; spatial, logic and attribute 0.
    assert 0 < mean(by_category["knowledge"] + by_category["superlative"]) < 0.5
    assert rates["logic"] <= 0.1 and rates["attribute"] <= 0.1


def test_thinker_tracks_the_scene_through_the_steps():
    scene = Scene("white", (CanvasObject("circle", "red", "small", 0.2, 0.2, 0), CanvasObject("star", "blue", "large", 0.7, 0.7, 1)))
    from agents.thinker import read_steps

    steps = read_steps("Move the green circle to the bottom left, but first make the red circle green.", scene)
    assert [s.explicit for s in steps] == ["make the red circle green", "move the green circle to the bottom left"]
    assert all(s.resolved for s in steps)
    # In the written order the green circle does not exist yet: the step stays unresolved, with a note.
    wrong = read_steps("Move the green circle to the bottom left, but first make the red circle green.", scene, order=[0, 1])
    assert not wrong[0].resolved and "matches 0 objects" in wrong[0].note


def test_easy_reasoning_helpers():
    scene = Scene("white", (CanvasObject("circle", "red", "small", 0.2, 0.2, 0), CanvasObject("star", "blue", "large", 0.7, 0.7, 1),
                            CanvasObject("circle", "yellow", "medium", 0.2, 0.7, 2)))
    assert resolve_subject("the largest shape", scene)[0] == ["the star"]
    assert resolve_subject("the tiniest circle", scene)[0] == ["the red shape"]
    assert resolve_subject("the shape that is the colour of a lemon", scene)[0] == ["the yellow shape"]
    names, objects, note = resolve_subject("the shape to the left of the star", scene)
    assert names == ["the shape to the left of the star"] and not objects and note
    assert resolve_value("background", "the colour of fresh snow") == "white"
    assert resolve_value("shape", "the shape of a baseball infield") is None  # not in the small table


def test_decomposer_f1_direct_much_better_than_indirect(tasks):
    decomposer = RuleDecomposer()
    f1 = defaultdict(list)
    for t in tasks:
        f1["direct" if t.category == "direct" else "indirect"].append(_f1(decomposer.act(_state(t)), t))
    # Observed (500 test tasks): direct 1.000, indirect 0.81-0.86 per category (0.841 on these 200).
    assert mean(f1["direct"]) >= 0.98
    assert mean(f1["indirect"]) <= mean(f1["direct"]) - 0.08
    assert mean(f1["indirect"]) >= 0.7


def test_decomposer_reads_the_plan_and_keeps_written_order(tasks):
    decomposer = RuleDecomposer()
    task = next(t for t in tasks if t.category == "direct" and t.order != sorted(t.order))
    from_instruction = decomposer.act(_state(task))
    assert [c.model_dump() for c in from_instruction.components] == task.components_as_dicts()
    plan = Plan(text=task.explicit_instruction)
    from_plan = decomposer.act(_state(task, plan=plan))
    # The plan is in execution order, so its components come in execution order.
    assert [c.model_dump() for c in from_plan.components] == [task.components_as_dicts()[i] for i in task.order]
    broken = decomposer.act(_state(task).model_copy(update={"instruction": "Please dance a little jig."}))
    assert broken.components == [] and not broken.well_formed


def test_sorter_orders_ground_truth_components_validly(tasks):
    sorter = RuleSorter()
    valid = []
    for t in tasks:
        out = sorter.act(_state(t, decomposition=Decomposition(components=t.components)))
        assert sorted(out.order) == list(range(len(t.components)))
        assert len(out.items) == len(t.components)
        valid.append(_valid(t, t.components_as_dicts(), out.order))
    # Observed: 500/500 on the test split.
    assert mean(valid) >= 0.99


def test_sorter_dependency_heuristic_helps_without_order_words(tasks):
    sorter = RuleSorter()
    multi = [t for t in tasks if t.n_steps >= 2]
    heuristic, written = [], []
    for t in multi:
        blind = _state(t, decomposition=Decomposition(components=t.components)).model_copy(update={"instruction": "Do these."})
        heuristic.append(_valid(t, t.components_as_dicts(), sorter.act(blind).order))
        written.append(_valid(t, t.components_as_dicts(), list(range(len(t.components)))))
    # Observed on the 170 multi-step tasks of these 200: written order valid 0.847, heuristic alone 0.894.
    assert mean(heuristic) >= mean(written) + 0.03


def test_sorter_pipeline_order_is_valid_on_direct_tasks(tasks):
    decomposer, sorter = RuleDecomposer(), RuleSorter()
    valid = []
    for t in tasks:
        if t.category != "direct":
            continue
        state = _state(t)
        state = state.model_copy(update={"decomposition": decomposer.act(state)})
        out = sorter.act(state)
        comps = [c.model_dump() for c in state.decomposition.components]
        valid.append(_valid(t, comps, out.order))
    assert mean(valid) >= 0.97  # observed 1.0


def test_dependency_helpers():
    comps = [{"action": "move", "subject": ["the blue circle"], "target": ["top"]},
             {"action": "recolor", "subject": ["the circle"], "target": ["blue"]},
             {"action": "remove", "subject": ["the small red star"], "target": []},
             {"action": "add", "subject": ["a small red star"], "target": ["left"]}]
    assert set(dependency_edges(comps)) == {(1, 0), (3, 2)}
    assert dependency_order(comps) == [1, 0, 3, 2]
    # A cycle among hard edges never raises: the closing edge is dropped.
    assert sorted(topological_order(2, [(0, 1), (1, 0)], [], [0, 1])) == [0, 1]
    with pytest.raises(ValueError):
        RuleSorter().act(EpisodeState(task_id="x", instruction="remove the star", source_png=b""))


def test_feedback_fixes_reads_the_checklist_wording():
    feedback = ("Failed: Is the circle now blue and in the top left? (expected yes, saw no)\n"
                "Failed: Has the star been removed? (expected yes, saw no)\n"
                "Failed: Is there a small red star in the bottom right? (expected yes, saw no)\n"
                "Failed: Is there still a medium orange circle in the centre? (expected no, saw yes)\n"
                "Failed: Is the background now cream? (expected yes, saw no)\n"
                "Failed: Was 'make the shape with four corners red' carried out? (expected yes, could not tell)")
    assert feedback_fixes(feedback) == [
        ("change", "the circle", {"color": "blue", "region": "top left"}),
        ("remove", "the star", {}),
        ("add", "a small red star", {"region": "bottom right"}),
        ("background", "the background", {"background": "cream"}),
    ]


def test_reflection_fixes_failed_items_from_the_reference_verifier(tasks):
    thinker, editor, verifier = RuleThinker(), CanvasEditor("multi_turn"), CanvasVerifier()
    failed = fixed = changed = 0
    for t in tasks:
        state = _state(t, checklist=t.checklist)
        plan = thinker.act(state)
        edit = editor.act(state.model_copy(update={"plan": plan}))
        verdict = verifier.act(state.model_copy(update={"plan": plan, "edit": edit}))
        if verdict.passed:
            continue
        failed += 1
        again = state.model_copy(update={"history": [RoundRecord(plan=plan, edit=edit, verdict=verdict)],
                                         "feedback": verdict.feedback, "round": 1})
        plan2 = thinker.act(again)
        changed += plan2.text != plan.text
        assert "reflection round 1" in plan2.think
        edit2 = editor.act(again.model_copy(update={"plan": plan2}))
        fixed += verifier.act(again.model_copy(update={"plan": plan2, "edit": edit2})).passed
    # Observed on these 200: 127 failures, 125 re-planned, 120 pass after one reflection round. The gain comes from
    # the reference checklist's wording in the feedback (thinker module docstring).
    assert failed > 0 and changed / failed >= 0.8 and fixed / failed >= 0.7


def test_reflection_without_fixable_feedback_tries_another_order():
    scene_task = next(t for t in generate_tasks(60, seed=0, split="test") if t.category == "direct" and t.n_steps >= 2
                      and t.order != sorted(t.order))
    thinker = RuleThinker()
    state = _state(scene_task)
    first = thinker.act(state)
    # A "keep" item failed: nothing to add, but something went wrong, so another order is tried.
    feedback = "Failed: Is the star unchanged? (expected yes, saw no)"
    again = state.model_copy(update={"history": [RoundRecord(plan=first)], "feedback": feedback, "round": 1})
    second = thinker.act(again)
    assert second.text != first.text and "re-planned with" in second.think
    # Only unanswerable items failed (unresolved steps): no order helps, the plan is kept.
    feedback = "Failed: Was 'make the shape with four corners red' carried out? (expected yes, could not tell)"
    third = thinker.act(again.model_copy(update={"feedback": feedback}))
    assert third.text == first.text and "kept the plan" in third.think


def _success(verifier, state, edit) -> bool:
    return verifier.act(state.model_copy(update={"edit": edit})).passed


def test_pipeline_beats_editor_alone_on_multi_step_tasks(tasks):
    thinker, decomposer, sorter, verifier = RuleThinker(), RuleDecomposer(), RuleSorter(), CanvasVerifier()
    single, multi = CanvasEditor("single_pass"), CanvasEditor("multi_turn")
    results = defaultdict(list)
    for t in tasks:
        state = _state(t, checklist=t.checklist)
        results["alone", t.n_steps > 1].append(_success(verifier, state, single.act(state)))
        state = state.model_copy(update={"plan": thinker.act(state)})
        state = state.model_copy(update={"decomposition": decomposer.act(state)})
        state = state.model_copy(update={"subrequests": sorter.act(state)})
        results["single", t.n_steps > 1].append(_success(verifier, state, single.act(state)))
        results["multi", t.n_steps > 1].append(_success(verifier, state, multi.act(state)))
    rate = {k: mean(v) for k, v in results.items()}
    # Observed on these 200, multi-step (n=170): alone 0.094, pipeline single-pass 0.118, pipeline multi-turn 0.365;
    # single-step (n=30): 0.367 for all three (on one step the pipeline only adds the easy indirect references, and
    # none of these 30 needs one that the thinker knows). 500 tasks: 0.088 / 0.107 / 0.377 multi-step.
    assert rate["multi", True] >= rate["alone", True] + 0.15
    assert rate["single", True] >= rate["alone", True]
    assert rate["single", False] >= rate["alone", False]
