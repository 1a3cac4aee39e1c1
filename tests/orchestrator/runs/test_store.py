"""The one store: atomic immutable parts, first-row-wins dedupe, compaction, URIs, row tables."""
from __future__ import annotations

import os

import pandas as pd
import pyarrow.fs as pafs
import pytest

from evaluators.rows import KEY
from orchestrator.runs.store import (
    RowTable,
    Store,
    append_rows,
    compact_metrics,
    compact_tag,
    read_metrics,
    read_parts,
)


def _row(run, step, loss):
    return {"run_id": run, "step": step, "train_loss": loss}


def test_append_and_dedupe_keeps_first(tmp_path):
    store = Store(tmp_path)
    for s in range(3):
        append_rows(store, "metrics", [_row("a", s, 1.0)], tag="a")
    append_rows(store, "metrics", [_row("a", 2, 9.0), _row("b", 0, 2.0)], tag="b")
    df = read_metrics(tmp_path)
    assert list(zip(df.run_id, df.step)) == [("a", 0), ("a", 1), ("a", 2), ("b", 0)]
    assert df[(df.run_id == "a") & (df.step == 2)].train_loss.item() == 1.0   # first kept
    assert "_seq" not in df.columns


def test_temporary_files_are_ignored(tmp_path):
    """A writer killed mid-write leaves only a hidden temp file, which readers skip."""
    store = Store(tmp_path)
    append_rows(store, "metrics", [_row("a", 0, 1.0)], tag="a")
    (tmp_path / "metrics" / ".tmp-deadbeef").write_bytes(b"PAR1 half a file")
    assert len(read_metrics(tmp_path)) == 1
    assert not [n for n in os.listdir(tmp_path / "metrics") if n.startswith(".") and n != ".tmp-deadbeef"]


def test_compaction_merges_parts_without_changing_rows(tmp_path):
    store = Store(tmp_path)
    for s in range(5):
        append_rows(store, "metrics", [_row("a", s, float(s))], tag="a")
    append_rows(store, "metrics", [_row("a", 4, 99.0)], tag="a")  # a resumed re-report
    append_rows(store, "metrics", [_row("b", 0, 1.0)], tag="b")
    before = read_metrics(tmp_path)
    compact_tag(store, "metrics", "a", dedupe_on=("run_id", "step"))
    names = store.listdir("metrics")
    assert len(names) == 2
    after = read_metrics(tmp_path)
    pd.testing.assert_frame_equal(before, after)
    # a second compaction (e.g. after a resume) still keeps the earliest rows
    append_rows(store, "metrics", [_row("a", 5, 5.0)], tag="a")
    compact_tag(store, "metrics", "a", dedupe_on=("run_id", "step"))
    df = read_metrics(tmp_path)
    assert df[df.run_id == "a"].step.tolist() == [0, 1, 2, 3, 4, 5]
    assert df[(df.run_id == "a") & (df.step == 4)].train_loss.item() == 4.0


def test_compacted_view_is_written(tmp_path):
    store = Store(tmp_path)
    append_rows(store, "metrics", [_row("a", 0, 1.0), _row("a", 0, 2.0)], tag="a")
    compact_metrics(tmp_path)
    view = pd.read_parquet(tmp_path / "metrics.parquet")
    assert len(view) == 1 and view.train_loss.item() == 1.0


def test_file_uri_is_local(tmp_path):
    store = Store(f"file://{tmp_path}/sweep")
    assert store.local
    append_rows(store, "metrics", [_row("a", 0, 1.0)], tag="a")
    assert (tmp_path / "sweep" / "metrics").is_dir()
    assert len(read_metrics(Store(f"file://{tmp_path}/sweep"))) == 1


def test_non_local_filesystem_goes_through_pyarrow():
    """A non-local pyarrow filesystem (the in-memory mock filesystem pyarrow ships for tests)."""
    mock = pafs._MockFileSystem()
    store = Store("sweeps/x", filesystem=mock)
    assert not store.local
    append_rows(store, "metrics", [_row("a", 0, 1.0)], tag="a")
    append_rows(store, "metrics", [_row("a", 0, 5.0), _row("a", 1, 2.0)], tag="a")
    compact_metrics(store)
    assert store.exists("metrics.parquet")
    df = read_metrics(store)
    assert df.train_loss.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError):
        store.local_path("x")


def test_read_parts_empty(tmp_path):
    assert read_parts(Store(tmp_path), "nothing").empty
    assert read_metrics(tmp_path).empty


def test_row_table_appends_atomically_and_dedupes_on_its_key(tmp_path):
    store = RowTable(Store(tmp_path), "tts", KEY)
    row = {k: 1 for k in KEY} | {"correct": True}
    store.append([row])
    store.append([row | {"correct": False}, row | {"problem_id": 2}])
    (tmp_path / "tts" / ".tmp-part-x.parquet").write_bytes(b"half-written")  # ignored
    df = store.read()
    assert len(df) == 2 and bool(df.loc[df.problem_id == 1, "correct"].item()) is True
    assert len(store.compact()) == 2 and not list((tmp_path / "tts").glob("[!.]*.parquet"))
    assert len(RowTable(Store(tmp_path), "tts", KEY).read()) == 2


def test_append_rows_keeps_the_union_of_keys(tmp_path):
    store = Store(tmp_path)
    append_rows(store, "metrics", [{"run_id": "a", "step": 1, "train_loss": 2.0},
                                   {"run_id": "a", "step": 2, "val_loss": 1.5, "mfu": 0.1}])
    df = read_parts(store, "metrics")
    assert df.train_loss.isna().tolist() == [False, True]
    assert df.val_loss.tolist()[1] == 1.5 and df.mfu.tolist()[1] == 0.1
