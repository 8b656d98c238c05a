"""A Parquet table that grows by appends: rows go to a JSON-lines journal at once and are folded into the Parquet
file on a geometric schedule.

A Parquet file cannot be appended to (its footer comes last), and rewriting it whole after every append costs the
whole table each time, quadratic over a long run. Here an append writes only its own lines to the journal
(``metrics.parquet`` -> ``metrics.journal.jsonl``); the Parquet file is rewritten when the journal holds at least
``max(min_pending, ratio * rows in the file)`` rows, and at :meth:`ParquetLog.close`. The rows written by all the
rewrites are then within a constant factor (about ``1 + 1 / ratio``) of the rows appended, and the rewrites number
about ``log(n) / log(1 + ratio)``.

- The Parquet file is replaced atomically (temporary file, fsync, then ``os.replace``), so a reader always finds a
  whole file, behind by at most the rows still in the journal; :func:`read_rows` reads both.
- Rows are appended in non-decreasing order of ``key`` (the iteration), and every row of one key in one append.
  A fold replaces the file and then empties the journal, so after a kill between the two the journal's rows whose
  key the file already holds are duplicates: readers drop them.
- A killed process loses at most the journal line it was writing; opening the log again folds the journal in.
- The columns are the union of every row's keys in order of first appearance; a row without a key gets null there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.run_folder import atomic_path, remove_temporaries


def journal_path(path: Path) -> Path:
    """Where the rows not yet folded into the Parquet file ``path`` wait: ``x.parquet`` -> ``x.journal.jsonl``."""
    return path.with_suffix(".journal.jsonl")


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """``rows`` as a table whose columns are the union of their keys (``Table.from_pylist`` keeps only the first row's).

    >>> to_table([{"a": 1.0}, {"a": 2.0, "b": 3.0}]).to_pylist()
    [{'a': 1.0, 'b': None}, {'a': 2.0, 'b': 3.0}]
    """
    names = list(dict.fromkeys(key for row in rows for key in row))
    return pa.table({name: [row.get(name) for row in rows] for name in names})


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    """Replace ``path`` by ``rows`` atomically and durably: a reader sees the old file or the new one, never half of
    one (:func:`orchestration.run_folder.atomic_path`)."""
    with atomic_path(path) as tmp:
        pq.write_table(to_table(rows), tmp)


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value, for the journal (``json`` knows only Python's own types)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # the line a killed process was writing
            continue
    return rows


def read_rows(path: str | Path, key: str = "iteration") -> list[dict[str, Any]]:
    """Every row logged to the Parquet file ``path``, the journal's not yet folded ones included."""
    path = Path(path)
    rows = pq.read_table(path).to_pylist() if path.is_file() else []
    last = max((row.get(key, 0) for row in rows), default=None)
    pending = _read_journal(journal_path(path))
    if last is not None:  # a fold killed before it emptied the journal leaves rows the file already holds
        pending = [row for row in pending if row.get(key, 0) > last]
    return rows + pending


class ParquetLog:
    """One Parquet table, appended to row by row (see the module docstring).

    ``upto`` is the last key to keep of what ``path`` already holds (a resumed run's restored iteration): later rows
    are dropped; ``upto <= 0`` starts afresh.
    """

    def __init__(self, path: str | Path, upto: int = 0, key: str = "iteration", min_pending: int = 10,
                 ratio: float = 0.1) -> None:
        self.path = Path(path)
        self.journal = journal_path(self.path)
        self.min_pending = min_pending
        self.ratio = ratio
        remove_temporaries(self.path.parent, self.path.name)  # of a fold killed mid-write (one writer per run folder)
        kept = read_rows(self.path, key) if upto > 0 else []
        self.rows: list[dict[str, Any]] = [row for row in kept if row.get(key, 0) <= upto]
        self.pending = 0  # rows at the end of self.rows that are in the journal only
        self.folds = 0
        if self.rows:
            self.fold()
        else:  # the journal first: without the file, its rows would read as this run's
            self.journal.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Add ``rows`` (one key's) to the journal, and fold the journal into the file when it is due."""
        if not rows:
            return
        with self.journal.open("a") as f:
            f.write("".join(json.dumps(row, default=_plain) + "\n" for row in rows))
        self.rows.extend(rows)
        self.pending += len(rows)
        folded = len(self.rows) - self.pending
        # the first rows at once, so the file exists from the first append on
        if folded == 0 or self.pending >= max(self.min_pending, self.ratio * folded):
            self.fold()

    def fold(self) -> None:
        """Rewrite the Parquet file with every row and empty the journal."""
        write_parquet(self.rows, self.path)
        self.journal.unlink(missing_ok=True)
        self.pending = 0
        self.folds += 1

    def close(self) -> None:
        if self.pending:
            self.fold()
