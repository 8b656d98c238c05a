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


def test_category_comparisons_pair_tasks_within_each_category_and_the_table_counts_them():
    from orchestration.grpo.evaluate import format_category_table, paired_by_category

    def rows(wins):
        return [{"task_id": f"t{k}", "category": "spatial" if k % 2 else "logic", "full_success": win,
                 "checklist_pass": 1.0 if win else 0.5} for k, win in enumerate(wins)]

    before, after = rows([False] * 40), rows([k % 2 == 1 for k in range(40)])  # every spatial task won, no logic one
    result = paired_by_category(after, before)
    assert set(result) == {"overall", "spatial", "logic"}  # categories the tasks lack are left out
    assert result["spatial"].estimate == 1.0 and result["logic"].estimate == 0.0 and result["overall"].estimate == 0.5
    assert result["spatial"].excludes_zero and not result["logic"].excludes_zero
    with pytest.raises(ValueError, match="different tasks"):
        paired_by_category(after[:-1], before[1:])
    table = format_category_table({"before": before, "after": after}).splitlines()
    assert table[0] == "| row | full success | checklist pass | logic | spatial |"
    assert table[3] == "| after | 0.500 | 0.750 | 0/20 | 20/20 |"
