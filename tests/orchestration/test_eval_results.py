"""The results file of `editrl eval`: rows survive a killed process, a fold is atomic and idempotent, and a fresh run
never mixes with an earlier one."""

import pyarrow.parquet as pq

from orchestration.eval_results import ResultsFile, parts_dir

FP = {"config": "canvas_rule", "digest": "0123456789abcdef"}


def _row(i: int, **extra) -> dict:
    return {"task_id": f"t{i}", "ok": True, "error": None, "score": 0.5, "edited_png": b"\x89PNG" + bytes([i]), **extra}


def test_rows_of_a_killed_run_are_kept_and_folded_once(tmp_path):
    out = tmp_path / "res.parquet"
    first = ResultsFile(out, FP)
    for i in range(3):
        first.append(_row(i))
    # killed here: no close(), so only the parts hold the rows
    assert not out.exists() and len(list(parts_dir(out).glob("*.parquet"))) == 3
    resumed = ResultsFile(out, FP, resume=True, batch_rows=2)
    assert resumed.done == {"t0", "t1", "t2"}
    resumed.append(_row(3, error="ValueError: x", ok=False))  # a column null in every earlier row
    assert resumed.close() == 4 and not parts_dir(out).exists()
    rows = pq.read_table(out).to_pylist()
    assert [r["task_id"] for r in rows] == ["t0", "t1", "t2", "t3"] and rows[3]["error"] == "ValueError: x"
    assert rows[0]["edited_png"] == b"\x89PNG\x00" and pq.ParquetFile(out).num_row_groups == 2  # not one per part
    assert [set(r) for r in ResultsFile(out, FP, resume=True).read()] == [{"task_id", "ok", "error", "score"}] * 4


def test_a_kill_between_the_fold_and_removing_the_parts_duplicates_nothing(tmp_path):
    out = tmp_path / "res.parquet"
    results = ResultsFile(out, FP)
    results.append(_row(0))
    results.append(_row(1))
    kept = list(parts_dir(out).glob("*.parquet"))
    copies = {p: p.read_bytes() for p in kept}
    results.close()
    parts_dir(out).mkdir()
    for path, data in copies.items():  # the parts as a kill right after the replace would have left them
        path.write_bytes(data)
    again = ResultsFile(out, FP, resume=True)
    again.append(_row(2))
    assert again.close() == 3
    assert sorted(r["task_id"] for r in pq.read_table(out).to_pylist()) == ["t0", "t1", "t2"]


def test_without_resume_an_earlier_output_and_its_parts_are_removed(tmp_path):
    out = tmp_path / "res.parquet"
    old = ResultsFile(out, FP)
    old.append(_row(0))
    old.close()
    ResultsFile(out, FP).append(_row(9))  # an earlier run's parts, left by a kill
    fresh = ResultsFile(out, {**FP, "digest": "another"})
    assert fresh.done == set() and not out.exists() and not parts_dir(out).exists()
    fresh.append(_row(1))
    assert fresh.close() == 1 and [r["task_id"] for r in pq.read_table(out).to_pylist()] == ["t1"]
