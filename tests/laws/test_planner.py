"""Joint training + test-time planner: maps, cost arithmetic, modes, extrapolation flags."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import laws
from laws.planner import fit_accuracy_maps

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
TOKENS = 200  # generated tokens per sample
TRAIN = {"N": [1e7, 1e8], "D": [2e8, 2e9]}


def loss(N, D):
    return TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]


def c0_true(n):
    return 12 + 0.5 * np.log(n)


def tts_table():
    """Three models (D = 20 N), best-of-n with n = 1, 4, 16: acc = σ(c0(n) − 4·loss)."""
    rows = []
    for N in (1e7, 3e7, 1e8):
        lo = loss(N, 20 * N)
        for n in (1, 4, 16):
            acc = 1 / (1 + np.exp(-(c0_true(n) - 4 * lo)))
            rows.append({"model_id": f"m{N:.0e}", "N": N, "loss": lo, "method": "bon", "budget": n,
                         "accuracy": acc, "flops": 2 * N * TOKENS * n, "n_problems": 200})
    return pd.DataFrame(rows)


def test_accuracy_maps_recover_the_logistic_and_cost_model():
    m = fit_accuracy_maps(tts_table()).set_index("budget")
    for n in (1, 4, 16):
        assert m.loc[n, "c1"] == pytest.approx(4.0, rel=1e-3)
        assert m.loc[n, "c0"] == pytest.approx(c0_true(n), rel=1e-3)
        assert m.loc[n, "k"] == pytest.approx(2 * TOKENS * n)
        assert m.loc[n, "r"] == 0.0


def test_target_mode_returns_the_cheapest_feasible_plan():
    Q = 1e6
    p = laws.plan(TRUE, tts_table(), queries=Q, target_accuracy=0.3, train_data=TRAIN)
    best = p.best
    assert best["accuracy"] >= 0.3
    # arithmetic checked by hand
    assert best["loss"] == pytest.approx(loss(best["N"], best["D"]))
    assert best["total_flops"] == pytest.approx(6 * best["N"] * best["D"] + Q * 2 * TOKENS * best["budget"] * best["N"])
    acc = 1 / (1 + np.exp(-(c0_true(best["budget"]) - 4 * best["loss"])))
    assert best["accuracy"] == pytest.approx(acc, rel=1e-3)
    feasible = p.candidates[p.candidates.accuracy >= 0.3]
    assert best["total_flops"] == pytest.approx(feasible.total_flops.min())
    assert list(p.table.total_flops) == sorted(p.table.total_flops)
    json.dumps(p.to_dict(), default=str)


def test_more_queries_favour_smaller_overtrained_models():
    few = laws.plan(TRUE, tts_table(), queries=0, target_accuracy=0.3, train_data=TRAIN).best
    many = laws.plan(TRUE, tts_table(), queries=1e10, target_accuracy=0.3, train_data=TRAIN).best
    assert many["N"] < few["N"]
    assert many["tokens_per_param"] > few["tokens_per_param"]


def test_budget_mode_returns_the_most_accurate_plan_within_budget():
    p = laws.plan(TRUE, tts_table(), queries=1e6, budget=1e19, train_data=TRAIN)
    assert p.best["total_flops"] <= 1e19
    within = p.candidates[p.candidates.total_flops <= 1e19]
    assert p.best["accuracy"] == pytest.approx(within.accuracy.max())
    none = laws.plan(TRUE, tts_table(), queries=1e6, budget=1.0, train_data=TRAIN)
    assert none.best is None and any("no candidate fits" in n for n in none.notes)


def test_every_row_says_where_it_extrapolates():
    p = laws.plan(TRUE, tts_table(), queries=1.0, target_accuracy=0.2, train_data=TRAIN,
                  N=[3e7, 1e9], tokens_per_param=[20.0])
    c = p.candidates.set_index(["N", "budget"])
    inside = c.loc[(3e7, 1)]
    assert not inside.extrapolated and inside.extrapolation == ""
    far = c.loc[(1e9, 1)]
    assert far.extrapolated
    assert "N ×10 beyond largest run" in far.extrapolation
    assert "D ×10 beyond most tokens of any run" in far.extrapolation
    assert "loss" in far.extrapolation and "inference N ×10 beyond largest evaluated model" in far.extrapolation
    unknown = laws.plan(TRUE, tts_table(), queries=1.0, target_accuracy=0.2)
    assert any("training ranges unknown" in n for n in unknown.notes)


def test_unreachable_target_and_bad_input():
    p = laws.plan(TRUE, tts_table(), queries=1.0, target_accuracy=0.999999, N=[1e7], tokens_per_param=[20.0])
    assert p.best is None and any("no candidate reaches" in n for n in p.notes)
    with pytest.raises(laws.LawFitError, match="exactly one"):
        laws.plan(TRUE, tts_table(), queries=1.0, target_accuracy=0.5, budget=1e20)
    with pytest.raises(laws.LawFitError, match="'loss' column"):
        laws.plan(TRUE, tts_table().drop(columns="loss"), queries=1.0, target_accuracy=0.5)
    one_model = tts_table()[lambda d: d.N == 1e7]
    with pytest.raises(laws.LawFitError, match="distinct losses"):
        laws.plan(TRUE, one_model, queries=1.0, target_accuracy=0.5)


def test_losses_joined_from_run_rows_and_fit_object():
    t = tts_table()
    runs = pd.DataFrame({"run_id": t.model_id.unique(), "final_val_loss": t.drop_duplicates("model_id").loss})
    fit = laws.LawFit(form="chinchilla", params=TRUE)
    a = laws.plan(fit, t.drop(columns="loss"), runs=runs, queries=1e3, target_accuracy=0.3)
    b = laws.plan(TRUE, t, queries=1e3, target_accuracy=0.3)
    assert a.best["N"] == b.best["N"] and a.best["total_flops"] == pytest.approx(b.best["total_flops"])
