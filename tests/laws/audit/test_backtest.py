"""Backtest bookkeeping: size groups, the hold-out split, tie-breaking, calibrated intervals."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import laws
from laws.audit import backtest as bt
from laws.audit.parallel import fit_job, pmap

TRUE = dict(E=1.82, A=482.0, B=2085.0, alpha=0.3478, beta=0.3658)


def test_groups_merge_close_values_and_cap_the_number_of_folds():
    x = np.array([1e6, 1.02e6, 2e6, 4e6, 4.1e6, 8e6])
    assert bt.groups(x).tolist() == [0, 0, 1, 2, 2, 3]
    many = np.geomspace(1e6, 1e9, 245)
    lab = bt.groups(many)
    assert lab.max() + 1 == bt.MAX_GROUPS
    assert np.all(np.diff(lab) >= 0)                                  # contiguous in N
    counts = np.bincount(lab)
    assert counts.max() <= 1.2 * counts.min()                         # folds of similar size


def test_holdout_split_and_its_sentence():
    df = pd.DataFrame({"N": np.repeat([1e6, 2e6, 4e6], 2), "D": np.tile([1e8, 2e8], 3),
                       "C": 6 * np.repeat([1e6, 2e6, 4e6], 2) * np.tile([1e8, 2e8], 3), "loss": 1.0})
    mask, what = bt.holdout_split(df, "largest_N")
    assert mask.tolist() == [False] * 4 + [True] * 2 and "fitted on the 2 smaller" in what
    mask, _ = bt.holdout_split(df, "largest_C")
    assert mask.tolist() == [False] * 5 + [True]
    assert bt.holdout_split(df.iloc[:4], "largest_N")[0] is None
    with pytest.raises(laws.LawFitError, match="holdout"):
        bt.holdout_split(df, "median")


def test_choose_prefers_lower_error_and_breaks_ties_by_fewer_parameters():
    n = {"chinchilla": 5, "overtrain": 4, "farseer": 9}
    sc = {"chinchilla": {"score": 0.010}, "overtrain": {"score": 0.0115}, "farseer": {"score": 0.005}}
    assert bt.choose(list(n), sc, n)[0] == "farseer"                   # clearly lower: wins
    sc["farseer"]["score"] = 0.0105
    best, why = bt.choose(list(n), sc, n)                              # all within 0.2 points
    assert best == "overtrain" and "fewer parameters" in why
    sc["overtrain"]["score"] = 0.013
    assert bt.choose(list(n), sc, n)[0] == "chinchilla"
    best, why = bt.choose(list(n), {}, n)
    assert best == "overtrain" and "no backtest" in why


def test_leave_one_size_out_intervals_cover_most_runs_of_a_true_law():
    """At 1 % noise the 95 % prediction intervals (bootstrap band + one run's noise) of a law
    that is right should hold most held-out runs, and be about as wide as that noise."""
    rng = np.random.default_rng(0)
    Ns, Ds = np.geomspace(1e6, 1e9, 6), np.geomspace(1e8, 1e11, 6)
    df = pd.DataFrame([{"N": a, "D": b} for a in Ns for b in Ds])
    df["loss"] = (TRUE["E"] + TRUE["A"] / df.N ** TRUE["alpha"] + TRUE["B"] / df.D ** TRUE["beta"]) \
        * np.exp(0.01 * rng.standard_normal(len(df)))
    df["C"] = 6 * df.N * df.D
    folds, notes = bt.plan(df, "largest_N")
    assert [f["kind"] for f in folds] == ["holdout"] + ["loso"] * 6 and "loso" not in notes
    jobs = bt.jobs(df, ["chinchilla"], folds, 50, 0, {"loss": "huber", "delta": 1e-3})
    table = bt.assemble(df, ["chinchilla"], folds, pmap(fit_job, jobs, 1), 0.95, notes)
    loso = table[table["kind"] == "loso"]
    assert len(loso) == len(df) and loso["inside"].mean() >= 0.8
    assert loso["rel_error"].abs().mean() < 0.02
    half = np.log(loso["hi"] / loso["lo"]) / 2
    assert (half > 0.005).all() and half.median() < 1.96 * 0.03
    sc = bt.scores(table)["chinchilla"]
    assert sc["score"] == pytest.approx(np.mean([sc["holdout_error"], sc["loso_error"]]))


def test_noise_sigma_is_robust_and_floored():
    r = np.r_[np.random.default_rng(1).normal(0, 0.02, 200), [5.0, -5.0]]
    assert bt.noise_sigma(r) == pytest.approx(0.02, rel=0.15)
    assert bt.noise_sigma(np.zeros(10)) == 1e-3
