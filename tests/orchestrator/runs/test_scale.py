"""The bookkeeping of a 2,000-run sweep: the ledger folds thousands of events without slowing
down (its event parts are compacted as they pile up), and the readers — ``scalelab sweep
status``, ``sweep runs`` and the report — read all of it. Timings are measured by
bench/ledger_scale.py (never asserted here); this test checks the results at that size."""
from __future__ import annotations

import io
import json
import time

import numpy as np
import pandas as pd
import pytest

from orchestrator.cli import main
from orchestrator.runs.ledger import Ledger, read_runs, run_row
from orchestrator.runs.store import Store, append_rows, compact_metrics
from orchestrator.spec.run import RunSpec

pytestmark = pytest.mark.slow      # ~40 s: 2,000 runs written, read and reported
N_RUNS = 2000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale") / "big"
    store = Store(root)
    widths = [32, 64, 96, 128]
    cfgs = [RunSpec(sweep="big", width=widths[i % 4], depth=1 + (i // 4) % 5, head_dim=32,
                    vocab_size=22, seq_len=32, data={"source": "arith"}, lr=3e-3, batch_tokens=1024,
                    tokens=1024 * (2 + (i // 20) % 10), seed=i) for i in range(N_RUNS)]
    led = Ledger(store, compact_every=100)
    assert led.add_pending(cfgs) == cfgs
    rows, t0 = [], time.perf_counter()
    for i in range(0, N_RUNS, 4):                 # finals land a few at a time, as trials end
        batch = []
        for c in cfgs[i:i + 4]:
            n = 12 * c.width ** 2 * c.depth
            loss = 1.7 + 400 / n ** 0.34 + 600 / c.tokens ** 0.28
            batch.append(dict(status="done", N=n, D=c.tokens, final_val_loss=loss, steps=2,
                              checkpoint=f"checkpoints/{c.run_id}/final"))
            rows += [{"sweep": "big", "run_id": c.run_id, "step": s, "tokens": s * 1024,
                      "train_loss": loss + 1 / s, "val_loss": loss + 0.5 / s} for s in (1, 2)]
        led.record_many([run_row(c, r["status"], **{k: v for k, v in r.items() if k != "status"})
                         for c, r in zip(cfgs[i:i + 4], batch)])
    led.flush()
    for i in range(0, len(rows), 400):
        append_rows(store, "metrics", rows[i:i + 400], tag="bulk")
    compact_metrics(store)
    return {"dir": root, "cfgs": cfgs, "record_s": time.perf_counter() - t0}


def test_ledger_holds_every_run_and_keeps_few_parts(big):
    runs = read_runs(big["dir"])
    assert len(runs) == N_RUNS and set(runs.status) == {"done"}
    assert runs.run_id.is_unique
    parts = Store(big["dir"]).listdir("runs")
    assert len(parts) <= 100 + 2, len(parts)        # compacted as it grew (500 event parts written)
    view = pd.read_parquet(big["dir"] / "runs.parquet")
    assert len(view) == N_RUNS and set(view.status) == {"done"}
    # a new ledger on the same directory sees the same table
    again = Ledger(big["dir"]).table().set_index("run_id").sort_index()
    assert again.final_val_loss.equals(runs.set_index("run_id").sort_index().final_val_loss)


def test_sweep_status_and_runs_read_all_2000(big, capsys):
    assert main(["sweep", "status", str(big["dir"])]) == 0
    out = capsys.readouterr().out
    assert f"done: {N_RUNS}" in out
    assert main(["sweep", "runs", str(big["dir"])]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(df) == N_RUNS and set(df.run_id) == {c.run_id for c in big["cfgs"]}


def test_report_builds_on_2000_runs(big):
    from orchestrator.report import build_report

    path = build_report(big["dir"], bootstrap=0)
    html = path.read_text()
    assert "<html" in html.lower() and str(N_RUNS) in html
    fit = json.loads((big["dir"] / "fits" / "report-law.json").read_text())
    assert fit["n_points"] == N_RUNS and all(np.isfinite(v) for v in fit["params"].values())
