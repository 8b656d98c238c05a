import random

from agents.lm.sft import make_sft_data
from envs.canvas.generator import generate_tasks
from envs.canvas.rewording import REWORDINGS, reword
from envs.canvas.templates import CLAUSES, QUESTIONS, SAYINGS


def _tasks(n=300):
    return list(generate_tasks(n, seed=4, split="train"))


def test_only_one_step_direct_requests_are_reworded_and_the_text_names_the_edit():
    reworded = 0
    for task in _tasks():
        text = reword(task, random.Random(task.task_id))
        if task.n_steps != 1 or task.category != "direct":
            assert text is None
            continue
        if text is None:
            continue
        reworded += 1
        comp = task.components[0]
        assert text != task.instruction
        if comp.action in ("recolor", "reshape"):
            assert comp.target[0] in text, (text, comp)
        if comp.action not in ("add", "background"):
            assert comp.subject[0] in text, (text, comp)
        assert text == reword(task, random.Random(task.task_id))  # pure: same draw, same text
    assert reworded > 30


def test_rewordings_are_train_only_shapes_not_generator_templates():
    generator = {t for table in (CLAUSES, SAYINGS, QUESTIONS) for family in table.values() for t in family}
    assert not generator & {t for family in REWORDINGS.values() for t in family}


def test_sft_data_adds_a_reworded_example_beside_one_step_direct_ones_with_the_same_target():
    tasks = _tasks(200)
    plain = make_sft_data(tasks, "decomposer", scenes=[""] * len(tasks))
    mixed = make_sft_data(tasks, "decomposer", scenes=[""] * len(tasks), rewordings=1.0)
    extra = [pair for pair in mixed if pair not in plain]
    assert all(pair in mixed for pair in plain)  # every generator-worded example is still there
    eligible = sum(t.n_steps == 1 and t.category == "direct" for t in tasks)
    assert 0 < len(extra) <= eligible and len(mixed) == len(plain) + len(extra)
    targets = {target: prompt for prompt, target in plain}
    assert all(target in targets and prompt != targets[target] for prompt, target in extra)
    assert make_sft_data(tasks, "decomposer", scenes=[""] * len(tasks), rewordings=1.0) == mixed
