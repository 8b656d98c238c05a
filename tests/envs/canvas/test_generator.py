"""The generator's promises, checked on thousands of tasks: every task is solvable and unambiguous, every order the
dependency graph admits reaches the target, the checklist agrees with the target, wording is split-disjoint."""

import json
import re
from collections import Counter

import networkx as nx
import pytest

from envs.canvas.checks import evaluate_checklist
from envs.canvas.execute import execute
from envs.canvas.generator import BALANCED_STEPS, generate_mixed_task, generate_mixed_tasks, generate_task, generate_tasks
from envs.canvas.reasoning import value_relation
from envs.canvas.render import render
from envs.canvas.scene import Scene
from envs.canvas.templates import CLAUSES, is_held_out, uses_held_out
from envs.canvas.vocab import SHAPE_CORNERS
from envs.image_io import encode_png

N_TRAIN = 2000
N_TEST = 1000


@pytest.fixture(scope="module")
def train_tasks():
    return list(generate_tasks(N_TRAIN, seed=11, split="train"))


@pytest.fixture(scope="module")
def test_tasks():
    return list(generate_tasks(N_TEST, seed=11, split="test"))


def _valid_orders(task):
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(task.components)))
    graph.add_edges_from(task.dependencies)
    return list(nx.all_topological_sorts(graph))


def test_ground_truth_reaches_the_target_in_every_valid_order(train_tasks, test_tasks):
    checked_orders = 0
    for task in train_tasks + test_tasks:
        source, target = Scene.from_json(task.source_scene), Scene.from_json(task.target_scene)
        components = task.components_as_dicts()
        assert execute(source, components, task.order).same_content(target, tol=1e-3), task.task_id
        orders = _valid_orders(task)
        assert task.order in orders
        for order in orders:
            assert execute(source, components, order).same_content(target, tol=1e-3), (task.task_id, order)
            checked_orders += 1
    assert checked_orders > len(train_tasks) + len(test_tasks)  # multi-step tasks admit several orders


def test_target_image_and_checklist_match_the_target_scene(train_tasks):
    for task in train_tasks[:300]:
        target = Scene.from_json(task.target_scene)
        assert task.target_png == encode_png(render(target, 128))
        items = [item.model_dump() for item in task.checklist]
        assert evaluate_checklist(items, target.objects, target.background) == [i["expected"] for i in items]
        source = Scene.from_json(task.source_scene)
        # The unedited image fails at least one item: the checklist really tests the edit.
        assert evaluate_checklist(items, source.objects, source.background) != [i["expected"] for i in items]
    groups = Counter(item.group for t in train_tasks for item in t.checklist)
    answers = Counter(item.expected for t in train_tasks for item in t.checklist)
    assert groups["keep"] > 0 and groups["follow"] > 0 and answers["no"] > 0.05 * sum(answers.values())


def test_coverage_of_categories_steps_and_actions(train_tasks):
    categories = Counter(t.category for t in train_tasks)
    assert set(categories) == {"direct", "knowledge", "spatial", "superlative", "attribute", "logic"}
    assert min(categories.values()) > 0.08 * len(train_tasks)
    assert set(Counter(t.n_steps for t in train_tasks)) == {1, 2, 3, 4}
    actions = Counter(c.action for t in train_tasks for c in t.components)
    assert set(actions) == {"add", "remove", "recolor", "move", "resize", "reshape", "background"}
    assert any(len(c.subject) > 1 for t in train_tasks for c in t.components)  # subjects as sets


def test_at_least_15_templates_per_action():
    per_action = {a: len(v) for a, v in CLAUSES.items() if not a.startswith("resize")}
    per_action["resize"] = sum(len(v) for a, v in CLAUSES.items() if a.startswith("resize"))
    assert min(per_action.values()) >= 15, per_action


def test_written_order_often_differs_from_execution_order(train_tasks):
    multi = [t for t in train_tasks if t.n_steps > 1]
    reordered = [t for t in multi if t.order != sorted(t.order)]
    assert len(reordered) > 0.15 * len(multi)
    # ...and then the order words say so.
    words = re.compile(r"\b(after you|before|but first|first|once you)\b", re.IGNORECASE)
    assert all(words.search(t.instruction) for t in reordered)


def test_references_that_resolve_only_after_an_earlier_step(train_tasks):
    dependent = [t for t in train_tasks if t.dependencies]
    assert len(dependent) > 0.3 * sum(t.n_steps > 1 for t in train_tasks)


def test_indirect_instructions_do_not_spell_out_the_explicit_subject(train_tasks):
    spatial = [t for t in train_tasks if t.category == "spatial"]
    assert any(re.search(r"left of|right of|above|below|nearest|closest|in the", t.instruction) for t in spatial)
    knowledge = [t for t in train_tasks if t.category == "knowledge"]
    assert all("the colour of" in t.instruction.lower() or "the shape" in t.instruction.lower() for t in knowledge)


def test_split_holds_out_wording_and_never_shares_a_pair(train_tasks, test_tasks):
    assert not any(uses_held_out(t.template_ids) for t in train_tasks)
    assert all(uses_held_out(t.template_ids) for t in test_tasks)
    assert any(any(is_held_out(x) for x in t.template_ids) for t in test_tasks)
    train_pairs = {(t.source_scene, t.instruction) for t in train_tasks}
    assert not train_pairs & {(t.source_scene, t.instruction) for t in test_tasks}
    train_instructions = {t.instruction for t in train_tasks}
    assert sum(t.instruction in train_instructions for t in test_tasks) == 0


def test_requests_are_also_worded_as_sayings_and_questions(train_tasks, test_tasks):
    """Not every request is an imperative verb phrase: some say how the picture should be, some ask."""
    families = Counter(t.split(".")[0].split("_")[0] for task in train_tasks for t in task.template_ids)
    assert families["say"] > 0.1 * len(train_tasks)
    assert families["ask"] > 0.02 * len(train_tasks)
    for task in train_tasks + test_tasks:
        asked = [t for t in task.template_ids if t.startswith("ask_")]
        if asked:  # a question is a whole one-step request, dressed by a question wrapper
            assert task.n_steps == 1 and task.instruction.endswith("?"), task.instruction
            assert any(t.startswith("qwrap.") for t in task.template_ids)
        if any(t.startswith("say_") for t in task.template_ids):
            assert any(t.startswith("swrap.") for t in task.template_ids), task.template_ids
    plural_sayings = [t for t in train_tasks if any(x.startswith("say_") for x in t.template_ids) and len(t.components) == 1
                      and len(t.components[0].subject) > 1]
    assert plural_sayings
    assert not any(re.search(r"\b(shapes|ones)\b[^.]* (is|has|needs) ", t.instruction) for t in plural_sayings)


def test_casual_references_keep_the_canonical_ground_truth(train_tasks):
    """"that square" and "the little triangle" are written; the component says "the square", "the small triangle"."""
    casual = [t for t in train_tasks if t.category == "direct" and re.search(r"\b(that|this|little|tiny|big|huge)\b", t.instruction)]
    assert len(casual) > 0.05 * sum(t.category == "direct" for t in train_tasks)
    for task in casual:
        for component in task.components:
            for subject in component.subject:
                assert not re.search(r"\b(that|this|little|tiny|big|huge)\b", subject), (task.instruction, subject)


def test_chat_style_requests_start_in_lower_case(train_tasks):
    lower = [t for t in train_tasks if t.instruction[0].islower()]
    assert 0.1 * len(train_tasks) < len(lower) < 0.3 * len(train_tasks)
    assert all(not t.instruction.endswith(".") for t in lower)


def test_same_arguments_same_tasks_and_indices_are_independent():
    a = generate_task(17, seed=5, split="test")
    b = generate_task(17, seed=5, split="test")
    assert a == b
    assert a != generate_task(17, seed=6, split="test")
    assert list(generate_tasks(3, seed=5, split="test", start=16))[1] == a


def test_checklist_questions_are_answerable_and_json():
    task = generate_task(0, seed=1)
    for item in task.checklist:
        assert item.question.endswith("?") and item.expected in ("yes", "no")
        json.dumps(item.check)


def test_bad_split_is_rejected():
    with pytest.raises(ValueError, match="split must be"):
        generate_task(0, split="validation")


def test_mixed_stream_balances_steps_on_the_train_split(train_tasks):
    plain = Counter(t.n_steps for t in train_tasks)
    assert plain[1] > 0.4 * len(train_tasks) and plain[4] < 0.05 * len(train_tasks)  # why the mixed stream exists
    mixed = list(generate_mixed_tasks(200, seed=3, split="train"))
    counts = Counter(t.n_steps for t in mixed)
    assert set(counts) == set(BALANCED_STEPS) and all(30 <= c <= 70 for c in counts.values()), counts
    assert not any(uses_held_out(t.template_ids) for t in mixed)
    for task in mixed[:40]:  # still solvable in every valid order
        source, target = Scene.from_json(task.source_scene), Scene.from_json(task.target_scene)
        for order in _valid_orders(task):
            assert execute(source, task.components_as_dicts(), order).same_content(target, tol=1e-3)
    assert generate_mixed_task(7, seed=3) == mixed[7]
    only_three = list(generate_mixed_tasks(10, seed=3, step_mix={3: 1.0}))
    assert {t.n_steps for t in only_three} == {3}
    with pytest.raises(ValueError, match="step_mix"):
        generate_mixed_task(0, step_mix={5: 1.0})


def test_mixed_stream_can_draw_only_some_categories():
    tasks = list(generate_mixed_tasks(40, seed=2, category_mix={"spatial": 1.0, "logic": 1.0}))
    assert {t.category for t in tasks} == {"spatial", "logic"}
    with pytest.raises(ValueError, match="category_mix"):
        generate_mixed_task(0, category_mix={"spacial": 1.0})


def test_reasoning_notes_say_what_each_indirect_phrase_names(train_tasks):
    from envs.canvas.vocab import COLORS, SHAPES

    for task in train_tasks[:400]:
        if task.category == "direct":
            assert task.reasoning == []
            continue
        assert task.reasoning, task.instruction
        for note in task.reasoning:
            phrase, meaning = note.split(" = ")
            assert phrase.lower() in task.instruction.lower(), (phrase, task.instruction)
            for name in meaning.split(", "):
                words = name.split()
                # an object ("medium purple hexagon") or a knowledge value ("yellow", "light blue", "triangle")
                assert words[-1] in SHAPES or name in COLORS or name in ("white", "cream", "light blue", "light gray"), note


def test_each_scan_walks_the_scene_of_its_step_and_names_the_notes_objects(train_tasks):
    """A scan lists every object of its step's scene in scene-text order with a yes/no, and its yes objects are
    exactly the note's objects, in the same order; a knowledge-value note has no scan."""
    from envs.canvas.scene import Scene

    scanned = 0
    for task in train_tasks[:400]:
        assert len(task.reasoning_scans) == len(task.reasoning), task.task_id
        for note, scan in zip(task.reasoning, task.reasoning_scans):
            meaning = note.split(" = ")[1]
            if not scan:
                assert len(meaning.split()) <= 2 or meaning in ("light blue", "light gray"), note  # a value
                continue
            scanned += 1
            entries = [entry.rsplit(" ", 1) for entry in scan.split(", ")]
            assert all(mark in ("yes", "no") for _, mark in entries), scan
            named = [" ".join(obj.split()[:3]) for obj, mark in entries if mark == "yes"]
            assert named == meaning.split(", "), (scan, note)
        if task.n_steps == 1 and task.reasoning_scans and task.reasoning_scans[0]:
            # One step: the scan walks the source scene itself, every object once.
            source = Scene.from_json(task.source_scene)
            assert len(task.reasoning_scans[0].split(", ")) == len(source.objects)
    assert scanned > 50


def test_running_scans_keep_the_best_so_far_and_end_on_the_superlatives_object(train_tasks):
    """Each superlative of one value also has a running scan: the same objects in the same order as its verdict
    scan, each "best" beating the previous best, the last "best" the one object the note names; every other note
    has none."""
    running = 0
    for task in train_tasks[:400]:
        assert len(task.reasoning_running_scans) == len(task.reasoning), task.task_id
        for note, scan, best in zip(task.reasoning, task.reasoning_scans, task.reasoning_running_scans):
            phrase, meaning = note.split(" = ")
            extreme = any(w in phrase for w in ("leftmost", "rightmost", "topmost", "highest", "lowest", "furthest",
                                                "nearest the bottom", "largest", "biggest", "greatest", "smallest",
                                                "tiniest", "least"))
            if not (best and extreme):
                assert not best, note
                continue
            running += 1
            entries = [entry.rsplit(" ", 1) for entry in best.split(", ")]
            assert [obj for obj, _ in entries] == [entry.rsplit(" ", 1)[0] for entry in scan.split(", ")], (scan, best)
            assert all(mark in ("best", "no") for _, mark in entries), best
            assert " ".join([obj for obj, mark in entries if mark == "best"][-1].split()[:3]) == meaning, (best, note)
    assert running > 20


def test_compare_scans_write_each_decision_and_keep_the_running_scans_objects(train_tasks):
    """Each superlative of one value also has a compare scan: the same objects in the same order as its verdict
    scan; a superlative of one kind tests each object's shape against it first and marks every other kind "no";
    each competing object after the first writes its value, the last best's, how the two compare and the relation
    the superlative wants, and is "best" exactly when the two agree; the last "best" is the one object the note names;
    every other note has none."""
    compared = 0
    for task in train_tasks[:400]:
        assert len(task.reasoning_compare_scans) == len(task.reasoning), task.task_id
        for note, scan, best, running in zip(task.reasoning, task.reasoning_scans, task.reasoning_compare_scans,
                                             task.reasoning_running_scans):
            phrase, meaning = note.split(" = ")
            extreme = any(w in phrase for w in ("leftmost", "rightmost", "topmost", "highest", "lowest", "furthest",
                                                "nearest the bottom", "largest", "biggest", "greatest", "smallest",
                                                "tiniest", "least"))
            assert bool(best) == bool(running), (best, running)
            if not (best and extreme):
                assert not best, note
                continue
            compared += 1
            entries = best.split(", ")
            objects = [" ".join(entry.split()[:3]) for entry in entries]
            assert objects == [" ".join(entry.split()[:3]) for entry in scan.split(", ")], (scan, best)
            assert all(entry.split()[-1] in ("best", "no") for entry in entries), best
            kind = next((w for w in phrase.split() if w in SHAPE_CORNERS), None)
            larger_wins = any(w in phrase for w in ("rightmost", "right", "lowest", "bottom", "largest", "biggest", "greatest"))
            last = None
            for obj, entry in zip(objects, entries):
                words = entry.split()[3:]
                if kind is not None:
                    assert words[:3] == [obj.split()[2], "vs", kind], entry
                    words = words[3:]
                    if obj.split()[2] != kind:
                        assert words == ["no"], entry
                        continue
                if last is None:
                    assert words[-1] == "best" and len(words) == 2, entry
                else:
                    value, _, previous, relation, _, wanted, verdict = words
                    assert previous == last and relation == value_relation(value, previous), entry
                    assert wanted == ("more" if larger_wins else "less"), (phrase, entry)
                    assert (verdict == "best") == (relation == wanted), (phrase, entry)
                last = words[0] if words[-1] == "best" else last
            assert [obj for obj, entry in zip(objects, entries) if entry.endswith(" best")][-1] == meaning, (best, note)
    assert compared > 20


def test_order_scans_list_the_competitors_top_to_bottom_and_end_on_the_superlatives_object(train_tasks):
    """Each superlative of height also has an order scan: the objects of its verdict scan that compete (every one for
    "shape", the named kind otherwise), in the same order, the first ("topmost", "highest") or the last ("lowest",
    "nearest the bottom") the one object the note names; every other note has none."""
    ordered = 0
    for task in train_tasks[:400]:
        assert len(task.reasoning_order_scans) == len(task.reasoning), task.task_id
        for note, scan, order in zip(task.reasoning, task.reasoning_scans, task.reasoning_order_scans):
            phrase, meaning = note.split(" = ")
            first = any(w in phrase for w in ("topmost", "highest"))
            if not (first or any(w in phrase for w in ("lowest", "nearest the bottom"))) or "," in meaning:
                assert not order, note
                continue
            ordered += 1
            entries = order.split(", ")
            objects = [" ".join(entry.split()[:3]) for entry in scan.split(", ")]
            kind = phrase.split()[-1] if phrase.split()[-1] != "bottom" else phrase.split()[1]
            competing = [o for o in objects if kind == "shape" or o.endswith(" " + kind)]
            assert entries == competing, (phrase, scan, order)
            assert (entries[0] if first else entries[-1]) == meaning, (order, note)
    assert ordered > 20
