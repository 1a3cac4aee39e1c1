"""LiveFitter: rows in any order converge to the batch fit; debounce; never raises; threads."""
from __future__ import annotations

import json
import random
import threading

import numpy as np
import pandas as pd
import pytest

import laws

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def ladder(noise=0.01, seed=0):
    """Run rows of a 5x5 (N, D) ladder plus a few training step rows per run."""
    rng = np.random.default_rng(seed)
    runs, steps = [], []
    for N in np.logspace(7, 9, 5):
        for D in np.logspace(8.5, 10.5, 5):
            L = (TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"])
            rid = f"r{N:.2e}-{D:.2e}"
            runs.append({"sweep": "s", "run_id": rid, "parent_run_id": None, "status": "done", "reason": "",
                         "N": N, "N_total": 1.1 * N, "D": D, "C": 6 * N * D, "lr": 1e-3,
                         "final_val_loss": L * np.exp(rng.normal(0, noise))})
            for step in range(3):
                steps.append({"sweep": "s", "run_id": rid, "step": step, "tokens": 1000 * step,
                              "lr": 1e-3, "train_loss": 5.0, "val_loss": 5.0})
    return runs, steps


def batch_table(runs):
    return pd.DataFrame({"N": [r["N"] for r in runs], "D": [r["D"] for r in runs],
                         "loss": [r["final_val_loss"] for r in runs]})


def test_random_order_converges_to_batch_fit(tmp_path):
    runs, steps = ladder()
    batch = laws.fit("chinchilla", batch_table(runs))
    rows = runs + steps + [dict(r, status="running", final_val_loss=None) for r in runs[:5]]
    random.Random(3).shuffle(rows)
    lf = laws.LiveFitter("chinchilla", out_dir=tmp_path / "fits", min_points=20, min_new_points=20)
    lf.feed(rows)
    lf.flush()
    assert lf.n_points == 25
    assert lf.skipped == len(steps) + 5
    assert all(r.ok for r in lf.history) and len(lf.history) >= 2
    assert [r.n_points for r in lf.history] == sorted(r.n_points for r in lf.history)
    for k, v in batch.params.items():
        assert lf.latest.params[k] == pytest.approx(v, rel=1e-4)
    latest = json.loads((tmp_path / "fits" / "chinchilla_latest.json").read_text())
    assert laws.LawFit.from_dict(latest).params == pytest.approx(lf.latest.params)
    k = lf.history[-1].k
    assert (tmp_path / "fits" / f"chinchilla_{k:04d}.json").exists()
    hist = json.loads((tmp_path / "fits" / "chinchilla_history.json").read_text())
    assert len(hist) == len(lf.history)
    assert not [p for p in (tmp_path / "fits").iterdir() if p.name.startswith(".tmp")]


def power_rows(n=12, x_same=False):
    rows = []
    for i in range(n):
        N, D = 1e6 * 2 ** i, 1e8
        if x_same:
            N = 1e6
        C = 6 * N * D
        rows.append({"run_id": f"p{i}", "status": "done", "N": N, "D": D,
                     "final_val_loss": 1.5 + 40.0 * (C / 1e14) ** -0.3})
    return rows


def test_waits_for_points_and_records_failures_without_raising():
    lf = laws.LiveFitter("power_law", min_points=4)
    for r in power_rows(3):
        assert lf.add(r) is None
    assert lf.history == [] and lf.latest is None
    assert lf.add({"garbage": object()}) is None and lf.skipped == 1
    bad = laws.LiveFitter("power_law", min_points=4)
    bad.feed(power_rows(5, x_same=True))  # every point at the same x: the fit must fail
    assert bad.history and not bad.history[-1].ok
    assert "LawFitError" in bad.history[-1].error and bad.latest is None


def test_debounce_and_replacement_of_rerun_rows():
    rows = power_rows(10)
    lf = laws.LiveFitter("power_law", min_points=4, min_interval_s=3600)
    lf.feed(rows)
    assert len(lf.history) == 1 and lf.history[0].n_points == 4
    lf.add(dict(rows[0], final_val_loss=rows[0]["final_val_loss"]))  # exact duplicate: nothing new
    rec = lf.flush()
    assert rec is not None and rec.n_points == 10 and len(lf.history) == 2
    assert lf.flush() is None  # nothing new since
    p = lf.latest.params
    assert p["alpha"] == pytest.approx(0.3, rel=1e-3) and p["E"] == pytest.approx(1.5, rel=1e-3)


@pytest.mark.parametrize("background", [False, True])
def test_thread_safe_concurrent_feeding(background):
    rows = power_rows(12)
    batch = laws.fit("power_law", pd.DataFrame({"x": [6 * r["N"] * r["D"] for r in rows],
                                                "y": [r["final_val_loss"] for r in rows]}))
    lf = laws.LiveFitter("power_law", min_points=6, min_new_points=6, background=background)
    chunks = [rows[i::4] for i in range(4)]
    threads = [threading.Thread(target=lf.feed, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lf.close()
    assert lf.n_points == 12
    assert [r.k for r in lf.history] == list(range(len(lf.history)))
    for k, v in batch.params.items():
        assert lf.latest.params[k] == pytest.approx(v, rel=1e-4)


def test_curve_form_collects_step_rows():
    rows = []
    for run, peak in (("a", 1e-3), ("b", 6e-4)):
        for s in range(1, 41):
            lr = peak if s <= 30 else peak * (40 - s) / 10 + 1e-5
            rows.append({"run_id": run, "step": s * 10, "lr": lr, "val_loss": 3.0 + 5.0 / s ** 0.5})
    random.Random(0).shuffle(rows)
    lf = laws.LiveFitter("lr_annealing", min_new_points=1000)
    lf.feed(rows)
    lf.add({"run_id": "a", "status": "done", "N": 1e6, "D": 1e8, "final_val_loss": 3.0})  # not a curve point
    assert lf.n_points == 80 and lf.skipped == 1
    data = lf.data()
    assert set(data.columns) == {"run", "step", "lr", "loss"}
    rec = lf.flush()
    assert rec.n_points == 80  # fitted or failed, but recorded and never raised
    assert rec.ok or rec.error
