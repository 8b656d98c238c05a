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


def test_each_fold_writes_a_new_fsynced_temporary_file_and_renames_it(tmp_path, monkeypatch):
    """A fixed temporary name would be shared by two writers and left behind by a killed one for the next to trip on."""
    import os

    fsynced, renamed = [], []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (fsynced.append(os.readlink(f"/proc/self/fd/{fd}")), fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed.append((str(src), str(dst))), replace(src, dst))[1])
    path = tmp_path / "m.parquet"
    log = ParquetLog(path, min_pending=1, ratio=0.0)
    for iteration in (1, 2, 3):
        log.append([{"iteration": iteration}])
    sources = [src for src, dst in renamed if dst == str(path)]
    assert len(sources) == 3 and len(set(sources)) == 3
    assert all(os.path.realpath(src) in fsynced for src in sources)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.parquet"]


def test_temporaries_of_a_fold_killed_mid_write_are_removed_on_open(tmp_path):
    path = tmp_path / "m.parquet"
    (tmp_path / ".tmp_m.parquet_123_abcd").write_bytes(b"PAR1 half")
    (tmp_path / ".tmp_other.parquet_123_abcd").write_bytes(b"not ours")
    ParquetLog(path).append([{"iteration": 1}])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp_other.parquet_123_abcd", "m.parquet"]
