"""The background append queue (orchestrator/runs/queue.py): batching, ordering (the ledger's
part last), publishing on wait, and the writer's error surfacing in the caller."""
from __future__ import annotations

import pytest

from orchestrator.runs.queue import AppendQueue
from orchestrator.runs.store import Store, StoreError, read_metrics


def _row(run, step, loss):
    return {"run_id": run, "step": step, "train_loss": loss}


def test_append_queue_batches_orders_and_publishes_on_wait(tmp_path):
    store = Store(tmp_path)
    seen = []
    q = AppendQueue(store, last=("runs",))
    q.on_part(lambda d, name, rows: seen.append((d, name, len(rows))))
    with q._cv:              # hold the writer (re-entrant lock) so the puts land in one batch
        q.put("runs", [{"run_id": "a", "status": "done"}], tag="ev")
        q.put("metrics", [_row("a", 1, 2.0)], tag="rec")
        q.put("metrics", [_row("a", 2, 1.0)], tag="rec")
        q.put("metrics", [_row("b", 1, 3.0)], tag="rec")
        assert not seen and not store.listdir("metrics")    # nothing written while held
    q.wait()
    assert [d for d, _, _ in seen] == ["metrics", "runs"]   # the ledger's part goes last
    assert seen[0][2] == 3 and seen[1][2] == 1      # one part per directory per batch
    m = read_metrics(store)
    assert list(zip(m.run_id, m.step)) == [("a", 1), ("a", 2), ("b", 1)]
    runs_name = seen[1][1]
    assert runs_name > seen[0][1]                    # its sequence is later too
    q.close()
    with pytest.raises(Exception, match="closed"):
        q.put("metrics", [_row("c", 1, 1.0)])


def test_append_queue_raises_the_writers_error(tmp_path):
    store = Store(tmp_path / "s")
    q = AppendQueue(store)
    (tmp_path / "s").write_text("a file where the directory should be")
    q.put("metrics", [_row("a", 1, 1.0)])
    with pytest.raises((StoreError, OSError)):
        q.wait()
    with pytest.raises((StoreError, OSError)):
        q.put("metrics", [_row("a", 2, 1.0)])
    q.close(raise_error=False)
