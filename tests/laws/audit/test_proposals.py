"""The audit's next runs: the candidate grid, and a simulated follow-up in which the proposed
runs (drawn from the ground truth) narrow the answer's interval more than random grid runs of
the same FLOPs."""
from __future__ import annotations

import numpy as np
import pandas as pd

import laws
from laws.audit.answer import replicates
from laws.audit.proposals import candidates
from laws.frontier import ComputeModel

TRUE = dict(E=1.8, A=400.0, B=1500.0, alpha=0.34, beta=0.32)
CM = ComputeModel(rho=0.3, s=0.4, N0=1e7, exact=True)     # exact FLOPs: 6ND plus a shrinking excess


def loss(N, D):
    return TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]


def ladder(seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame([{"N": n, "D": d} for n in (1e6, 2e6, 4e6, 8e6) for d in (2e7, 4e7, 8e7)])
    df["loss"] = loss(df.N, df.D) * np.exp(0.01 * rng.standard_normal(len(df)))
    df["C"] = CM.flops(df.N, df.D)
    return df


def test_candidates_extend_the_grid_and_skip_runs_already_made():
    df = ladder(0)
    c = candidates(df, CM)
    assert np.allclose(sorted(c["N"].unique()), [5e5, 1e6, 2e6, 4e6, 8e6, 1.6e7, 3.2e7])
    assert np.allclose(sorted(c["D"].unique()), [1e7, 2e7, 4e7, 8e7, 1.6e8, 3.2e8])
    assert len(c) == 7 * 6 - len(df)
    np.testing.assert_allclose(c["C"], CM.flops(c["N"], c["D"]))
    np.testing.assert_allclose(c["C_6nd"], 6 * c["N"] * c["D"])


def _width(df, target):
    """log-width of the 95 % interval of N*(target) after refitting (chinchilla, 200 replicates)."""
    fit = laws.fit("chinchilla", df[["N", "D", "loss"]], bootstrap=200, seed=0)
    r = replicates(fit, df, target, CM)
    v = r["values"][1:][r["ok"][1:]]
    lo, hi = np.percentile(v, [2.5, 97.5])
    return hi - lo


def _add(df, runs, seed):
    new = runs[["N", "D"]].copy()
    new["loss"] = loss(new.N, new.D) * np.exp(0.01 * np.random.default_rng(seed).standard_normal(len(new)))
    return pd.concat([df, new], ignore_index=True)


def test_proposed_runs_narrow_the_answer_more_than_random_runs_of_the_same_flops():
    """Five ladders (noise seeds); for each, the 3 proposed runs vs 6 random sets of grid runs
    costing at most as much, every outcome averaged over 4 noise draws of the new runs."""
    prop_w, rand_w = [], []
    for seed in range(5):
        df = ladder(seed)
        target = 100 * float(df["C"].max())
        a = laws.audit(df, forms=["chinchilla"], bootstrap=100, target_C=target, compute=CM, seed=seed)
        prop = a.next_runs.head(3)
        budget = float(prop["C"].sum())
        cand = candidates(df, CM)
        sets = []
        for r in range(6):
            perm = cand.sample(frac=1, random_state=1000 * seed + r)
            keep = (perm["C"].cumsum() <= budget * (1 + 1e-9)).to_numpy()
            pick = perm[keep] if keep.any() else perm.nsmallest(1, "C")
            sets.append(pick)
        prop_w.append(np.mean([_width(_add(df, prop, 50 + m), target) for m in range(4)]))
        rand_w.append(np.mean([_width(_add(df, s, 50 + m), target) for s in sets for m in range(4)]))
    prop_w, rand_w = np.array(prop_w), np.array(rand_w)
    assert prop_w.mean() < rand_w.mean(), (prop_w, rand_w)
    assert (prop_w < rand_w).sum() >= 4, (prop_w, rand_w)
