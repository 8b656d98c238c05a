"""The results file of `editrl eval`, written as episodes finish, so that an interrupted run keeps what it finished and
`--resume` runs only the tasks the file lacks.

A Parquet file cannot be appended to (its footer comes last). `orchestration.grpo.parquet_log.ParquetLog` solves that
for training metrics with a JSON journal and every row in memory, which is what an evaluation must avoid: its rows
carry the edited PNGs. Here each finished episode is its own one-row Parquet file in a folder beside the output
(`results.parquet` -> `results.parts/`), written under a temporary name and then renamed, so a killed process leaves
whole files only. :meth:`ResultsFile.close` folds the output (when resuming) and the parts into a new output, a few
hundred rows at a time, and replaces it atomically. Only task ids are kept in memory.

- A kill between that replace and removing the parts leaves rows both in the output and in the parts: every reader
  keeps the first row of a task id (the output's), which is why task ids must be unique (the dataset loaders check).
- The output's schema metadata records which pipeline wrote it (:func:`pipeline_fingerprint`); resuming with another
  one is refused, since the table would mix two pipelines' results under one summary.
- Rows are in the order episodes finished, not in the dataset's order.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.config import PipelineConfig
from orchestration.run_folder import atomic_path

METADATA_KEY = b"editrl.eval"
#: Columns left out when the rows are read back for the summary: the large ones no metric needs.
HEAVY = ("edited_png", "trace")


def pipeline_fingerprint(config: PipelineConfig) -> dict[str, str]:
    """The config's name and a digest of everything that shapes an episode (the training section does not)."""
    text = json.dumps(config.model_dump(mode="json", exclude={"train"}), sort_keys=True)
    return {"config": config.name, "digest": hashlib.sha256(text.encode()).hexdigest()[:16]}


def parts_dir(path: Path) -> Path:
    """Where the rows not yet folded into ``path`` wait: ``x.parquet`` -> ``x.parts/``."""
    return path.with_suffix(".parts")


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns and types (a column a one-row part had as null is cast up)."""
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


class ResultsFile:
    """Per-episode result rows for ``path`` (a ``.parquet`` file), appended one by one; see the module docstring.

    ``resume=False`` starts afresh: an earlier output and its parts are removed at once, so that they can never be
    mistaken for this run's. ``resume=True`` keeps them; :attr:`done` holds the task ids they already hold.
    """

    def __init__(self, path: str | Path, fingerprint: dict[str, str], resume: bool = False, batch_rows: int = 256) -> None:
        self.path = Path(path)
        self.parts = parts_dir(self.path)
        self.fingerprint = fingerprint
        self.batch_rows = batch_rows
        if not resume:
            shutil.rmtree(self.parts, ignore_errors=True)
            self.path.unlink(missing_ok=True)
        self._check_fingerprint()
        self.done: set[str] = set()
        for source in self._sources():
            self.done.update(pq.read_table(source, columns=["task_id"]).column("task_id").to_pylist())
        self._next = max((int(p.stem) for p in self._part_files()), default=-1) + 1
        self.appended = 0

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob("[0-9]*.parquet")) if self.parts.is_dir() else []

    def _sources(self) -> list[Path]:
        return ([self.path] if self.path.is_file() else []) + self._part_files()

    def _check_fingerprint(self) -> None:
        for source in self._sources()[:2]:  # the output and the first part: what an earlier run wrote
            stored = (pq.read_schema(source).metadata or {}).get(METADATA_KEY)
            if stored is None:
                continue  # written before results recorded their pipeline
            old = json.loads(stored)
            if old != self.fingerprint:
                raise ValueError(f"{self.path} holds results of pipeline {old.get('config')!r} with other settings "
                                 f"(digest {old.get('digest')}, now {self.fingerprint['digest']}); resume with the "
                                 "--config and --set that wrote it, or start over without --resume")

    def append(self, row: dict[str, Any]) -> None:
        """Write ``row`` (one episode) to its own part file at once."""
        self.parts.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([row]).replace_schema_metadata({METADATA_KEY: json.dumps(self.fingerprint)})
        final = self.parts / f"{self._next:08d}.parquet"
        with atomic_path(final) as tmp:
            pq.write_table(table, tmp)
        self._next += 1
        self.appended += 1
        self.done.add(row["task_id"])

    def _tables(self, sources: Sequence[Path], schema: pa.Schema | None = None) -> Iterator[pa.Table]:
        """Every row of ``sources`` once per task id (the first wins), in tables of at most ``batch_rows`` rows."""
        seen: set[str] = set()
        for source in sources:
            for batch in pq.ParquetFile(source).iter_batches(batch_size=self.batch_rows):
                table = pa.Table.from_batches([batch])
                ids = table.column("task_id").to_pylist()
                keep = [i for i, task_id in enumerate(ids) if task_id not in seen]
                seen.update(ids)
                if keep:
                    table = table.take(keep) if len(keep) < len(ids) else table
                    yield _conform(table, schema) if schema is not None else table

    def close(self) -> int:
        """Fold the output and the parts into the output; the number of rows it holds. Nothing to fold: no file."""
        sources = self._sources()
        if not sources:
            return 0
        if sources == [self.path]:
            return pq.ParquetFile(self.path).metadata.num_rows
        schema = pa.unify_schemas([pq.read_schema(s).remove_metadata() for s in sources], promote_options="permissive")
        schema = schema.with_metadata({METADATA_KEY: json.dumps(self.fingerprint)})
        rows = 0
        with atomic_path(self.path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
            pending: list[pa.Table] = []
            for table in self._tables(sources, schema):
                pending.append(table)
                if sum(len(t) for t in pending) >= self.batch_rows:  # one row group, not one per one-row part
                    writer.write_table(pa.concat_tables(pending))
                    rows += sum(len(t) for t in pending)
                    pending = []
            if pending:
                writer.write_table(pa.concat_tables(pending))
                rows += sum(len(t) for t in pending)
        shutil.rmtree(self.parts, ignore_errors=True)
        return rows

    def read(self, exclude: Sequence[str] = HEAVY) -> list[dict[str, Any]]:
        """The rows folded into the output, without the ``exclude`` columns (call :meth:`close` first)."""
        if not self.path.is_file():
            return []
        columns = [name for name in pq.read_schema(self.path).names if name not in exclude]
        return pq.read_table(self.path, columns=columns).to_pylist()
