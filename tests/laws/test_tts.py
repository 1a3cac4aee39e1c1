"""Test-time frontier: aggregation of raw rows, Pareto frontier, per-method fits."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import laws
from laws.tts import aggregate_tts, pareto_frontier


def raw_rows(n_problems=40, seed=0):
    """Raw test-time rows: 3 models x 2 methods x 6 budgets; accuracy rises with log(N·n)."""
    rng = np.random.default_rng(seed)
    rows = []
    for mi, N in enumerate([1e6, 4e6, 1.6e7]):
        for method, cost in (("majority", 1.0), ("best_of_n", 1.5)):
            for n in (1, 2, 4, 8, 16, 32):
                p = 1 / (1 + np.exp(-0.8 * (np.log(N * n) - np.log(3e7))))
                for pid in range(n_problems):
                    rows.append({"sweep": "s", "model_id": f"m{mi}", "N": N, "task": "arith",
                                 "problem_id": pid, "method": method, "budget": n, "seed": 0,
                                 "correct": bool(rng.random() < p),
                                 "policy_flops": 2 * N * 100 * n, "reward_flops": 2e6 * n * (cost - 1)})
    return pd.DataFrame(rows)


def test_aggregate_raw_rows():
    df = raw_rows()
    t = aggregate_tts(df)
    assert len(t) == 3 * 2 * 6
    cell = df[(df.model_id == "m1") & (df.method == "best_of_n") & (df.budget == 8)]
    row = t[(t.model_id == "m1") & (t.method == "best_of_n") & (t.budget == 8)].iloc[0]
    assert row.accuracy == pytest.approx(cell.correct.sum() / len(cell))
    assert row.flops == pytest.approx(2 * 4e6 * 100 * 8 + 2e6 * 8 * 0.5)
    assert row.n_problems == 40


def test_pareto_frontier_keeps_only_undominated_points():
    t = pd.DataFrame({"model_id": list("abcdef"), "method": "m",
                      "flops": [1, 2, 2, 3, 4, 5], "accuracy": [0.2, 0.1, 0.4, 0.3, 0.4, 0.6]})
    f = pareto_frontier(t)
    assert list(f.model_id) == ["a", "c", "f"]
    assert np.all(np.diff(f.accuracy) > 0) and np.all(np.diff(f.flops) > 0)


def test_tts_frontier_fits_each_method_and_is_monotone():
    r = laws.tts_frontier(raw_rows(n_problems=60))
    assert np.all(np.diff(r.frontier["accuracy"]) >= 0)
    assert np.all(np.diff(r.frontier["flops"]) >= 0)
    # no table point is above the frontier at or below its cost
    for x, y in zip(r.table.flops, r.table.accuracy):
        assert y <= r.frontier[r.frontier.flops <= x].accuracy.max() + 1e-12
    assert set(r.fits) == {"majority", "best_of_n"}
    fit = r.fits["majority"]["sigmoid"]
    assert fit.r2 > 0.8
    pred = r.predict("majority", r.table[r.table.method == "majority"].flops)
    obs = r.table[r.table.method == "majority"].accuracy.to_numpy()
    assert np.mean(np.abs(pred - obs)) < 0.06
    assert "power_law" in r.fits["majority"] or "power_law" in r.fit_errors["majority"]
    json.dumps(r.to_dict(), default=float)


def test_sigmoid_recovers_known_parameters_from_aggregated_table():
    flops = np.geomspace(1e9, 1e13, 12)
    lo, hi, s, x0 = 0.05, 0.9, 1.2, 3.0  # in x = flops / 1e9
    acc = lo + (hi - lo) / (1 + np.exp(-s * (np.log(flops / 1e9) - x0)))
    r = laws.tts_frontier(pd.DataFrame({"method": "bon", "model_id": "m", "flops": flops, "accuracy": acc}))
    p = r.fits["bon"]["sigmoid"].params
    assert r.x_scale["bon"] == pytest.approx(1e9)
    for k, v in {"lo": lo, "hi": hi, "s": s, "x0": x0}.items():
        assert p[k] == pytest.approx(v, rel=0.02, abs=0.005)


def test_too_few_points_are_reported_not_raised():
    t = pd.DataFrame({"method": ["a", "a", "a", "b"], "model_id": "m",
                      "flops": [1e9, 2e9, 4e9, 1e9], "accuracy": [0.1, 0.2, 0.3, 0.5]})
    r = laws.tts_frontier(t)
    assert "a" not in r.fits
    assert "3 points for 4 parameters" in r.fit_errors["a"]["sigmoid"]
    assert "1 points" in r.fit_errors["b"]["power_law"]
    with pytest.raises(laws.LawFitError, match="no sigmoid fit for method 'a'"):
        r.predict("a", 1e9)


def test_bad_input_names_the_problem():
    df = raw_rows(n_problems=2)
    mixed = pd.concat([df, df.assign(task="other")])
    with pytest.raises(laws.LawFitError, match="mix tasks"):
        laws.tts_frontier(mixed)
    assert len(aggregate_tts(mixed, task="other")) == 36
    with pytest.raises(laws.LawFitError, match="policy_flops"):
        aggregate_tts(df.drop(columns=["policy_flops", "reward_flops"]))
    with pytest.raises(laws.LawFitError, match="accuracy"):
        aggregate_tts(pd.DataFrame({"flops": [1.0], "accuracy": [1.5]}))
    labelled = aggregate_tts(df.assign(reward_model="orm"))
    assert set(labelled.method) == {"majority[orm]", "best_of_n[orm]"}
