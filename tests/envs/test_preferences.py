"""The Parquet format of preference pairs."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from envs.preferences import PreferencePair, read_pairs, write_pairs


def _pair(k: int, preferred: str = "a") -> PreferencePair:
    return PreferencePair(pair_id=f"p{k}", instruction="Make the star red.", source_png=b"src", edit_a_png=b"A",
                          edit_b_png=b"B", preferred=preferred, task_id="t", judge_a=1.0, judge_b=0.5)


def test_round_trip(tmp_path):
    pairs = [_pair(0), _pair(1, "b")]
    assert write_pairs(pairs, tmp_path / "p.parquet") == 2
    back = list(read_pairs(tmp_path / "p.parquet"))
    assert back == pairs
    assert back[1].preferred_png == b"B" and back[1].rejected_png == b"A"
    assert len(list(read_pairs(tmp_path / "p.parquet", limit=1))) == 1


def test_only_required_columns_and_clear_errors(tmp_path):
    table = pa.table({"pair_id": ["x"], "instruction": ["i"], "source_png": [b"s"], "edit_a_png": [b"a"],
                      "edit_b_png": [b"b"], "preferred": ["b"]})
    pq.write_table(table, tmp_path / "min.parquet")
    assert next(read_pairs(tmp_path / "min.parquet")).judge_a is None
    pq.write_table(table.drop(["preferred"]), tmp_path / "no_pref.parquet")
    with pytest.raises(ValueError, match="missing preferred"):
        list(read_pairs(tmp_path / "no_pref.parquet"))
    pq.write_table(table.set_column(5, "preferred", pa.array(["c"])), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="row 0: column preferred"):
        list(read_pairs(tmp_path / "bad.parquet"))
