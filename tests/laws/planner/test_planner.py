"""Joint training + test-time planner v2: downstream maps (chance floor, verifier ceiling,
backtest on the largest model), eFLOPs with tokens per query measured per model, exact training
FLOPs, modes, extrapolation flags and the training law's verdict on every row."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import laws
from laws.frontier import ComputeModel
from laws.planner import fit_accuracy_maps

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
TRAIN = {"N": [1e7, 1e8], "D": [2e8, 2e9]}
SIZES = (1e7, 2e7, 4e7, 1e8)
EPS, GAMMA = 0.95, 2.0


def loss(N, D):
    return TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]


def k_true(n):
    return 80.0 * n ** 0.3


def acc_true(L, n):
    """1 − Err(L) with Err = eps − k(n)·exp(−gamma·L) (Gadre et al.'s downstream law)."""
    return 1 - (EPS - k_true(n) * np.exp(-GAMMA * L))


def tokens(N, n):
    """Tokens per query: bigger models answer in fewer tokens here (t ∝ N^-0.2)."""
    return 200.0 * n * (N / 1e7) ** -0.2


def kv(N, n):
    return 1e4 * (N / 1e7) ** 0.5 * tokens(N, n)          # KV bytes per query


def tts_table():
    """Four models (D = 20 N), best-of-n with n = 1, 4, 16."""
    rows = []
    for N in SIZES:
        lo = loss(N, 20 * N)
        for n in (1, 4, 16):
            t = tokens(N, n)
            rows.append({"model_id": f"m{N:.0e}", "N": N, "loss": lo, "method": "bon", "budget": n,
                         "accuracy": acc_true(lo, n), "flops": 2 * N * t, "policy_flops": 2 * N * t,
                         "reward_flops": 0.0, "tokens": t, "kv_bytes": kv(N, n), "n_problems": 400})
    return pd.DataFrame(rows)


def test_downstream_maps_recover_the_law_and_backtest_on_the_largest_model():
    m = fit_accuracy_maps(tts_table()).set_index("budget")
    for n in (1, 4, 16):
        assert m.loc[n, "kind"] == "downstream"
        assert m.loc[n, "eps"] == pytest.approx(EPS, rel=1e-3)
        assert m.loc[n, "k"] == pytest.approx(k_true(n), rel=1e-2)
        assert m.loc[n, "gamma"] == pytest.approx(GAMMA, rel=1e-2)
        assert m.loc[n, "backtest_model"] == "m1e+08"
        assert abs(m.loc[n, "backtest_error"]) < 0.01 and m.loc[n, "backtest_inside"]
        assert m.loc[n, "t_exp"] == pytest.approx(-0.2) and m.loc[n, "f"] == pytest.approx(2.0)
        assert m.loc[n, "b_exp"] == pytest.approx(0.5)


def test_cost_is_exact_training_flops_plus_queries_times_eflops():
    Q, I = 1e6, 100.0
    cm = ComputeModel(rho=0.25, s=0.3, N0=1e7, exact=True)
    p = laws.plan(TRUE, tts_table(), queries=Q, target_accuracy=0.5, train_data=TRAIN, compute=cm,
                  intensity=I)
    b = p.best
    n = b["budget"]
    assert b["accuracy"] >= 0.5
    assert b["loss"] == pytest.approx(loss(b["N"], b["D"]))
    assert b["accuracy"] == pytest.approx(acc_true(b["loss"], n), abs=2e-3)
    t = tokens(b["N"], n)
    assert b["tokens"] == pytest.approx(t, rel=1e-6)
    eflops = 2 * b["N"] * t + I * kv(b["N"], n)
    assert b["inference_eflops"] == pytest.approx(eflops, rel=1e-6)
    assert b["train_flops"] == pytest.approx(6 * b["N"] * b["D"] * (1 + 0.25 * (b["N"] / 1e7) ** -0.3))
    assert b["train_flops_6nd"] == pytest.approx(6 * b["N"] * b["D"])
    assert b["total_flops"] == pytest.approx(b["train_flops"] + Q * eflops, rel=1e-6)
    feasible = p.candidates[p.candidates.accuracy >= 0.5]
    assert b["total_flops"] == pytest.approx(feasible.total_flops.min())
    assert list(p.table.total_flops) == sorted(p.table.total_flops)
    assert any("eFLOPs = FLOPs + 100·KV bytes" in x for x in p.notes)
    json.dumps(p.to_dict(), default=str)
    # memory traffic counts: with I = 0 the same plan costs less per query
    p0 = laws.plan(TRUE, tts_table(), queries=Q, target_accuracy=0.5, train_data=TRAIN, compute=cm, intensity=0)
    assert (p0.candidates.inference_eflops < p.candidates.inference_eflops).all()


def test_more_queries_favour_smaller_overtrained_models_at_a_fixed_method():
    t = tts_table()[lambda d: d.budget == 4]        # per-query cost grows with N (as N^0.8 here)
    few = laws.plan(TRUE, t, queries=0, target_accuracy=0.5, train_data=TRAIN).best
    many = laws.plan(TRUE, t, queries=1e10, target_accuracy=0.5, train_data=TRAIN).best
    assert many["N"] < few["N"]
    assert many["tokens_per_param"] > few["tokens_per_param"]
    # across methods, many queries buy a bigger model with fewer samples instead
    alln = laws.plan(TRUE, tts_table(), queries=1e10, target_accuracy=0.5, train_data=TRAIN).best
    assert alln["budget"] <= laws.plan(TRUE, tts_table(), queries=0, target_accuracy=0.5, train_data=TRAIN).best["budget"]


def test_budget_mode_returns_the_most_accurate_plan_within_budget():
    p = laws.plan(TRUE, tts_table(), queries=1e6, budget=1e19, train_data=TRAIN)
    assert p.best["total_flops"] <= 1e19
    within = p.candidates[p.candidates.total_flops <= 1e19]
    assert p.best["accuracy"] == pytest.approx(within.accuracy.max())
    none = laws.plan(TRUE, tts_table(), queries=1e6, budget=1.0, train_data=TRAIN)
    assert none.best is None and any("no candidate fits" in n for n in none.notes)


def test_floor_at_chance_and_ceiling_from_the_verifier():
    p = laws.plan(TRUE, tts_table(), queries=1.0, target_accuracy=0.5, train_data=TRAIN,
                  chance_accuracy=0.25, ceilings={"bon": 0.8})
    c = p.candidates
    assert c.accuracy.min() >= 0.25 - 1e-12 and c.accuracy.max() <= 0.8 + 1e-12
    assert (p.maps["eps"] <= 0.75 + 1e-12).all()
    # measured from raw rows: a verifier scoring 1 on a quarter of the wrong candidates
    raw = []
    for N in (1e7, 4e7):
        for prob in range(8):
            raw.append({"model_id": f"m{N:.0e}", "N": N, "method": "bon", "budget": 4, "correct": prob % 2 == 0,
                        "policy_flops": 1e9, "reward_flops": 0.0, "reward_model": "v", "oracle": False,
                        "cand_correct": [True, False, False, False, False],
                        "cand_scores": [1.0, 1.0 if prob % 2 else 0.0, 0.0, 0.0, 0.0]})
    from laws.planner.maps import verifier_ceilings

    assert verifier_ceilings(pd.DataFrame(raw)) == {"bon[v]": pytest.approx(1 - 4 / 32)}
    raw[0]["cand_scores"] = [0.3, 0.9, 0.1, 0.2, 0.5]         # a graded score is no verifier
    assert verifier_ceilings(pd.DataFrame(raw)) == {}


def test_two_models_fall_back_to_the_logistic_and_say_so():
    two = tts_table()[lambda d: d.N.isin([1e7, 1e8])]
    p = laws.plan(TRUE, two, queries=1.0, target_accuracy=0.5, train_data=TRAIN)
    assert set(p.maps["kind"]) == {"logistic"}
    assert any("downstream needs models of 3 distinct losses" in n for n in p.notes)
    assert p.maps["backtest_note"].str.contains("backtest needs").all()


def test_every_row_says_where_it_extrapolates():
    p = laws.plan(TRUE, tts_table(), queries=1.0, target_accuracy=0.2, train_data=TRAIN,
                  N=[3e7, 1e9], tokens_per_param=[20.0])
    c = p.candidates.set_index(["N", "budget"])
    inside = c.loc[(3e7, 1)]
    assert not inside.extrapolated and inside.extrapolation == "" and inside.law_verdict == ""
    far = c.loc[(1e9, 1)]
    assert far.extrapolated
    assert "N ×10 beyond largest run" in far.extrapolation
    assert "D ×10 beyond most tokens of any run" in far.extrapolation
    assert "loss" in far.extrapolation and "inference N ×10 beyond largest evaluated model" in far.extrapolation
    unknown = laws.plan(TRUE, tts_table(), queries=1.0, target_accuracy=0.2)
    assert any("training ranges unknown" in n for n in unknown.notes)


def test_an_audit_that_is_not_sound_is_never_extrapolated_silently():
    rng = np.random.default_rng(0)
    runs = pd.DataFrame([{"N": n, "D": d} for n in (1e7, 2e7) for d in (2e8, 4e8, 8e8)])   # 2 sizes
    runs["loss"] = loss(runs.N, runs.D) * np.exp(0.01 * rng.standard_normal(len(runs)))
    a = laws.audit(runs, forms=["chinchilla"], bootstrap=20)
    assert a.verdict == "unidentifiable"
    p = laws.plan(a, tts_table(), queries=1.0, target_accuracy=0.2, N=[1.5e7, 1e9], tokens_per_param=[20.0])
    c = p.candidates.set_index(["N", "budget"])
    assert (p.candidates.law_verdict == "unidentifiable").all()
    assert "training law is unidentifiable" in c.loc[(1e9, 1)].extrapolation
    assert any("audit says 'unidentifiable'" in n for n in p.notes)


def test_unreachable_target_and_bad_input():
    p = laws.plan(TRUE, tts_table(), queries=1.0, target_accuracy=0.999999, N=[1e7], tokens_per_param=[20.0])
    assert p.best is None and any("no candidate reaches" in n for n in p.notes)
    with pytest.raises(laws.LawFitError, match="exactly one"):
        laws.plan(TRUE, tts_table(), queries=1.0, target_accuracy=0.5, budget=1e20)
    with pytest.raises(laws.LawFitError, match="'loss' column"):
        laws.plan(TRUE, tts_table().drop(columns="loss"), queries=1.0, target_accuracy=0.5)
    with pytest.raises(laws.LawFitError, match="intensity"):
        laws.plan(TRUE, tts_table(), queries=1.0, target_accuracy=0.5, intensity=-1)
    one_model = tts_table()[lambda d: d.N == 1e7]
    with pytest.raises(laws.LawFitError, match="distinct losses"):
        laws.plan(TRUE, one_model, queries=1.0, target_accuracy=0.5)


def test_losses_joined_from_run_rows_and_fit_object():
    t = tts_table()
    runs = pd.DataFrame({"run_id": t.model_id.unique(), "final_val_loss": t.drop_duplicates("model_id").loss})
    fit = laws.LawFit(form="chinchilla", params=TRUE)
    a = laws.plan(fit, t.drop(columns="loss"), runs=runs, queries=1e3, target_accuracy=0.5)
    b = laws.plan(TRUE, t, queries=1e3, target_accuracy=0.5)
    assert a.best["N"] == b.best["N"] and a.best["total_flops"] == pytest.approx(b.best["total_flops"])
