"""The before/after table: by-steps columns, paired intervals, and a refusal to pair different tasks."""

import pytest

from orchestration.grpo.evaluate import compact_rows, format_before_after


def _rows(successes, steps):
    return [{"task_id": f"t{k}", "category": "direct", "n_steps": n, "error": None, "f1_action": 1.0, "f1_subject": 1.0,
             "f1_target": 1.0, "f1_overall": 0.5 + 0.5 * s, "checklist_pass": 0.9, "full_success": bool(s), "extra": "dropped"}
            for k, (s, n) in enumerate(zip(successes, steps))]


def test_table_has_steps_columns_and_an_interval_that_excludes_zero_for_a_clear_gain():
    steps = [1, 2, 3, 4] * 50
    before = compact_rows(_rows([0] * 200, steps))
    after = compact_rows(_rows([1, 1, 0, 0] * 50, steps))
    assert "extra" not in before[0]
    table = format_before_after(before, after, ("before", "after"))
    lines = table.splitlines()
    assert lines[0].startswith("| variant | F1 overall | checklist pass | full success | success, 1 step | success, 2 steps")
    assert lines[2] == "| before | 0.500 | 0.900 | 0.000 | 0.000 | 0.000 | 0.000 | 0.000 | 0 |"
    assert lines[3] == "| after | 0.750 | 0.900 | 0.500 | 1.000 | 1.000 | 0.000 | 0.000 | 0 |"
    success_line = next(line for line in lines if line.startswith("full success, after - before"))
    low = float(success_line.split("[")[1].split(",")[0])
    assert "+0.500" in success_line and low > 0.4


def test_different_tasks_are_refused():
    with pytest.raises(ValueError, match="same ones"):
        format_before_after(_rows([0], [1]), _rows([0, 1], [1, 1]), ("a", "b"))
