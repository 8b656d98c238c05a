"""ParquetLog: a journal in front of the Parquet file, folded in geometrically; kills lose at most a line."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from orchestration.grpo.parquet_log import ParquetLog, journal_path, read_rows


def _rows(log_path) -> list[int]:
    return [r["iteration"] for r in pq.read_table(log_path).to_pylist()]


def test_the_file_exists_from_the_first_append_and_lags_by_at_most_the_journal(tmp_path):
    path = tmp_path / "m.parquet"
    log = ParquetLog(path, min_pending=3, ratio=0.5)
    log.append([{"iteration": 1, "x": 1.0}])
    assert _rows(path) == [1]
    log.append([{"iteration": 2, "x": 2.0}])
    assert _rows(path) == [1] and [r["iteration"] for r in read_rows(path)] == [1, 2]
    log.close()
    assert _rows(path) == [1, 2] and not journal_path(path).exists()


def test_a_fold_killed_before_it_emptied_the_journal_reads_no_duplicates(tmp_path):
    path = tmp_path / "m.parquet"
    log = ParquetLog(path, min_pending=100)
    for iteration in range(1, 5):
        log.append([{"iteration": iteration}, {"iteration": iteration}])
    journal = journal_path(path).read_text()
    log.fold()
    journal_path(path).write_text(journal)  # as if killed between replacing the file and removing the journal
    assert [r["iteration"] for r in read_rows(path)] == [1, 1, 2, 2, 3, 3, 4, 4]


def test_a_half_written_journal_line_is_skipped(tmp_path):
    path = tmp_path / "m.parquet"
    log = ParquetLog(path, min_pending=100)
    log.append([{"iteration": 1}])
    log.append([{"iteration": 2}])
    with journal_path(path).open("a") as f:
        f.write('{"iteration": 3, "x"')  # killed mid-line
    log = ParquetLog(path, upto=3)
    log.append([{"iteration": 3, "x": 3.0}])
    log.close()
    assert [(r["iteration"], r.get("x")) for r in pq.read_table(path).to_pylist()] == [(1, None), (2, None), (3, 3.0)]


def test_numpy_scalars_reach_the_journal_as_numbers(tmp_path):
    path = tmp_path / "m.parquet"
    log = ParquetLog(path, min_pending=100)
    log.append([{"iteration": 1}])
    log.append([{"iteration": np.int64(2), "x": np.float32(0.5)}])
    assert read_rows(path)[-1] == {"iteration": 2, "x": 0.5}
