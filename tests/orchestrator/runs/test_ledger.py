"""Run ledger: event log, latest status wins, a done is never lost, skip finished runs."""
from __future__ import annotations

import pandas as pd

from orchestrator.runs.ledger import Ledger, read_runs
from orchestrator.runs.store import Store
from orchestrator.spec.run import RunSpec


def _cfg(**kw):
    base = dict(sweep="s", width=32, depth=1, head_dim=32, vocab_size=20, seq_len=64,
                data={"source": "arith"}, lr=3e-3, batch_tokens=2048, tokens=8192)
    base.update(kw)
    return RunSpec(**base)


def test_latest_status_wins_and_view_is_written(tmp_path):
    a, b = _cfg(seed=0), _cfg(seed=1)
    led = Ledger(tmp_path)
    assert led.add_pending([a, b]) == [a, b]
    led.record(a, "running")
    led.record(a, "done", final_val_loss=1.25, checkpoint=tmp_path / "final", D=8192)
    led.record(b, "running")
    led.record(b, "failed", reason="boom")
    led.flush()
    view = pd.read_parquet(tmp_path / "runs.parquet")
    assert len(view) == 2
    rows = view.set_index("run_id")
    assert rows.loc[a.run_id, "status"] == "done" and rows.loc[a.run_id, "final_val_loss"] == 1.25
    assert rows.loc[b.run_id, "status"] == "failed" and rows.loc[b.run_id, "reason"] == "boom"
    for col in ("sweep", "parent_run_id", "N", "N_total", "D", "C", "width", "depth", "lr",
                "batch", "schedule", "seed", "checkpoint", "config_json", "updated_at"):
        assert col in view.columns


def test_done_is_never_lost(tmp_path):
    a = _cfg()
    led = Ledger(tmp_path)
    led.record(a, "done", final_val_loss=1.0)
    led.record(a, "running")          # a stale event after the done
    led.record(a, "pending")
    assert Ledger(tmp_path).status(a.run_id) == "done"
    assert read_runs(tmp_path).status.tolist() == ["done"]


def test_resubmission_skips_finished_runs(tmp_path):
    runs = [_cfg(seed=s) for s in range(4)]
    led = Ledger(tmp_path)
    led.add_pending(runs)
    led.record(runs[0], "done")
    led.record(runs[1], "diverged", reason="nan")
    led.record(runs[2], "failed", reason="oom")
    led.record(runs[3], "running")
    todo = Ledger(tmp_path).add_pending(runs + [_cfg(seed=9)])
    assert [c.seed for c in todo] == [2, 3, 9]      # failed and interrupted runs go again


def test_event_files_are_immutable_parts(tmp_path):
    a = _cfg()
    led = Ledger(tmp_path)
    for status in ("pending", "running", "done"):
        led.record(a, status)
    parts = Store(tmp_path).listdir("runs")
    assert len(parts) == 3 and all(p.endswith(".parquet") for p in parts)
    (tmp_path / "runs" / ".tmp-crash").write_bytes(b"half")   # a crash mid-write
    assert Ledger(tmp_path).status(a.run_id) == "done"


def test_role_of_runs():
    trunk = _cfg(schedule="constant", save_at_tokens=(4096, 8192))
    branch = _cfg(schedule="wsd", parent_run_id=trunk.run_id, branch_from_tokens=4096)
    from orchestrator.runs.ledger import role_of
    assert (role_of(trunk), role_of(branch), role_of(_cfg())) == ("trunk", "branch", "run")


def test_queued_ledger_answers_at_once_and_publishes_on_flush(tmp_path):
    from orchestrator.runs.queue import AppendQueue

    store = Store(tmp_path)
    q = AppendQueue(store, last=("runs",))
    runs = [_cfg(seed=s) for s in range(30)]
    led = Ledger(store, queue=q, compact_every=5, view_every_s=0.0)
    led.add_pending(runs)
    for c in runs:
        led.record(c, "running")
        led.record(c, "done", final_val_loss=1.0 + c.seed)
        assert led.status(c.run_id) == "done"          # in memory before it is on storage
    led.flush()
    q.close()
    again = Ledger(tmp_path)
    assert set(again.statuses().values()) == {"done"} and len(again.statuses()) == 30
    assert len(Store(tmp_path).listdir("runs")) <= 6     # compacted as parts piled up
    view = pd.read_parquet(tmp_path / "runs.parquet").set_index("run_id")
    assert view.loc[runs[7].run_id, "final_val_loss"] == 8.0 and len(view) == 30
