"""The one reader of a sweep directory: runs, roles, law runs, models, test-time rows, spec."""
from __future__ import annotations

import pandas as pd
import pyarrow.fs as pafs

from orchestrator.runs.store import RowTable, Store, write_view
from orchestrator.runs.sweepdir import TTS_KEY, SweepDir, law_runs, roles

RUNS = pd.DataFrame({
    "run_id": ["t1", "b1", "b2", "r1", "f1"],
    "parent_run_id": [None, "t1", "t1", None, None],
    "schedule": ["constant", "wsd", "wsd", "cosine", "cosine"],
    "status": ["done", "done", "done", "done", "failed"],
    "N": [100, 100, 100, 200, 200], "D": [800, 500, 1000, 1000, 1000],
    "final_val_loss": [2.0, 2.5, 2.2, 2.1, float("nan")],
    "checkpoint": ["checkpoints/t1/final", "checkpoints/b1/final", "/abs/b2", "", None],
})


def test_roles_are_derived_when_the_ledger_has_no_role_column():
    assert roles(RUNS).tolist() == ["trunk", "branch", "branch", "run", "run"]
    given = RUNS.assign(role=["trunk", "branch", "branch", "run", None])
    assert roles(given).tolist() == ["trunk", "branch", "branch", "run", "run"]


def test_law_runs_drop_trunks_failures_and_bad_losses():
    assert law_runs(RUNS)["run_id"].tolist() == ["b1", "b2", "r1"]


def test_models_are_done_runs_with_absolute_checkpoints(tmp_path):
    store = Store(tmp_path / "sw")
    write_view(store, "runs.parquet", RUNS)
    sd = SweepDir(tmp_path / "sw")
    assert sd.has_runs() and not sd.has_tts()
    m = sd.models()
    assert m["run_id"].tolist() == ["t1", "b1", "b2"]
    assert m["checkpoint"].tolist() == [str(tmp_path / "sw" / "checkpoints/t1/final"),
                                        str(tmp_path / "sw" / "checkpoints/b1/final"), "/abs/b2"]
    assert m["role"].tolist() == ["trunk", "branch", "branch"]


def test_spec_runs_and_tts_rows_from_a_non_local_filesystem():
    store = Store("bucket/sw", filesystem=pafs._MockFileSystem())
    store.write_bytes("spec.yaml", b"name: sw\nseeds: [0]\n")
    write_view(store, "runs.parquet", RUNS)
    row = {k: 1 for k in TTS_KEY} | {"correct": True}
    RowTable(store, "tts", TTS_KEY).append([row, row | {"correct": False}])
    sd = SweepDir(store)
    assert sd.spec() == {"name": "sw", "seeds": [0]}
    assert len(sd.runs()) == 5 and sd.has_tts()
    tts = sd.tts()
    assert len(tts) == 1 and bool(tts["correct"].iloc[0]) is True     # first written wins
    assert sd.metrics().empty
