"""Compute-optimal frontiers (approaches 1-3), compute_optimal and extrapolation_error.

Ground truth is a Chinchilla law with the published Hoffmann et al. parameters; the optimal
exponents and coefficients are derived here by hand (Lagrange on C = 6ND), independently of
the code under test.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import laws
from laws.frontier import frontier_closed_form, frontier_envelope, frontier_isoflop

E, A, B, AL, BE = 1.69, 406.4, 410.7, 0.34, 0.28
TRUE = {"E": E, "A": A, "B": B, "alpha": AL, "beta": BE}
A_TRUE = BE / (AL + BE)  # N* ∝ C^a
B_TRUE = AL / (AL + BE)  # D* ∝ C^b


def loss(N, D):
    return E + A / N ** AL + B / D ** BE


def n_opt(C):
    """Hand-derived optimum: dL/dN = 0 on D = C/(6N) -> alpha A N^-alpha = beta B D^-beta."""
    G = (AL * A / (BE * B)) ** (1 / (AL + BE))
    return G * (C / 6) ** A_TRUE


def isoflop_table(noise=0.002, seed=0, n_per_level=9):
    rng = np.random.default_rng(seed)
    rows = []
    for C in np.logspace(18, 21, 7):
        for N in n_opt(C) * np.logspace(-0.6, 0.6, n_per_level):
            D = C / (6 * N)
            rows.append({"N": N, "D": D, "loss": loss(N, D) * np.exp(rng.normal(0, noise))})
    return pd.DataFrame(rows)


def curves_table():
    rows = []
    for N in np.logspace(7, 10, 16):
        for D in np.logspace(8, 12, 40):
            rows.append({"run": f"r{N:.3g}", "N": N, "D": D, "loss": loss(N, D)})
    return pd.DataFrame(rows)


def test_isoflop_recovers_exponents_and_optimum():
    f = frontier_isoflop(isoflop_table(), bootstrap=400, seed=1)
    assert f.approach == "isoflop"
    assert abs(f.a - A_TRUE) < 0.01 and abs(f.b - B_TRUE) < 0.01
    assert f.N_opt(1e20) == pytest.approx(n_opt(1e20), rel=0.05)
    lo, hi = f.ci["a"]
    assert lo < f.a < hi and lo < A_TRUE < hi
    band = f.predict([1e20])
    assert band["N_lo"][0] < band["N"][0] < band["N_hi"][0]
    assert len(f.points) == 7
    json.dumps(f.to_dict())


def test_isoflop_skips_thin_levels_and_rejects_too_few():
    df = isoflop_table()
    extra = pd.DataFrame({"N": [1e8, 2e8], "D": [1e13, 5e12], "loss": [2.0, 2.0]})  # C = 6e21, 2 points
    f = frontier_isoflop(pd.concat([df, extra]))
    assert any("skipped" in n and "distinct N" in n for n in f.notes)
    one_level = df[np.isclose(6 * df["N"] * df["D"], 1e18, rtol=1e-6)]
    with pytest.raises(laws.LawFitError, match="FLOP levels"):
        frontier_isoflop(one_level)
    with pytest.raises(laws.LawFitError, match="missing column 'loss'"):
        frontier_isoflop(df.drop(columns="loss"))


def test_envelope_recovers_exponents_from_loss_curves():
    f = frontier_envelope(curves_table(), bootstrap=200, seed=0)
    assert abs(f.a - A_TRUE) < 0.02 and abs(f.b - B_TRUE) < 0.02
    lo, hi = f.ci["a"]
    assert lo <= f.a <= hi
    # every envelope point is at least as good as any run at that FLOP budget (spot check)
    pts = f.points.iloc[::50]
    for C, Lmin in zip(pts["C"], pts["loss"]):
        Ns = np.logspace(7, 10, 16)
        Ds = C / (6 * Ns)
        inside = (Ds >= 1e8) & (Ds <= 1e12)
        if inside.any():
            assert Lmin <= loss(Ns[inside], Ds[inside]).min() * 1.002


def test_envelope_without_run_column_groups_by_N_and_rejects_single_run():
    df = curves_table().drop(columns="run")
    f = frontier_envelope(df)
    assert abs(f.a - A_TRUE) < 0.02
    with pytest.raises(laws.LawFitError, match="at least 2 runs"):
        frontier_envelope(df[df["N"] == df["N"].iloc[0]])


def test_closed_form_from_params_matches_hand_derivation():
    f = frontier_closed_form(TRUE)
    assert f.a == pytest.approx(A_TRUE) and f.b == pytest.approx(B_TRUE)
    for C in (1e19, 1e23):
        assert f.N_opt(C) == pytest.approx(n_opt(C), rel=1e-9)
        assert f.N_opt(C) * f.D_opt(C) * 6 == pytest.approx(C, rel=1e-9)
    assert any("bootstrap" in n for n in f.notes)


def test_closed_form_cis_from_fit_bootstrap():
    fit = laws.fit("chinchilla", isoflop_table(noise=0.005, n_per_level=5), bootstrap=40, seed=0, workers=1)
    f = laws.frontier_closed_form(fit)
    assert f.n_boot == 40 and f.boot is not None
    lo, hi = f.ci["a"]
    assert lo <= f.a <= hi
    assert abs(f.a - A_TRUE) < 0.05
    assert f.N_opt(1e20) == pytest.approx(laws.compute_optimal(fit, 1e20)["N"], rel=1e-9)


def test_compute_optimal_chinchilla_is_a_minimum_on_the_isoflop():
    out = laws.compute_optimal(TRUE, 1e21)
    assert 6 * out["N"] * out["D"] == pytest.approx(1e21)
    assert out["loss"] == pytest.approx(loss(out["N"], out["D"]))
    for s in (0.8, 1.25):
        N = out["N"] * s
        assert loss(N, 1e21 / (6 * N)) > out["loss"]
    arr = laws.compute_optimal(TRUE, np.array([1e19, 1e21]), flops_per_token=8.0)
    assert arr["N"].shape == (2,)
    assert 8 * arr["N"][1] * arr["D"][1] == pytest.approx(1e21)
    with pytest.raises(laws.LawFitError, match="C must be positive"):
        laws.compute_optimal(TRUE, -1.0)


def test_compute_optimal_numeric_path_for_kaplan():
    p = {"Nc": 8.8e13, "Dc": 5.4e13, "alphaN": 0.076, "alphaD": 0.095}
    fit = laws.LawFit(form="kaplan", params=p)
    C = 1e20
    out = laws.compute_optimal(fit, C)
    Ns = np.logspace(3, 12, 20001)
    Ds = C / (6 * Ns)
    kap = ((p["Nc"] / Ns) ** (p["alphaN"] / p["alphaD"]) + p["Dc"] / Ds) ** p["alphaD"]
    assert out["N"] == pytest.approx(Ns[kap.argmin()], rel=0.01)
    assert out["loss"] == pytest.approx(kap.min(), rel=1e-6)


def test_extrapolation_error_small_to_large():
    rows = [{"N": N, "D": D, "loss": loss(N, D)} for N in np.logspace(6, 8, 5) for D in np.logspace(8, 10, 5)]
    test = pd.DataFrame([{"N": N, "D": 20 * N, "loss": loss(N, 20 * N)} for N in (1e9, 1e10)])
    errs = laws.extrapolation_error("chinchilla", pd.DataFrame(rows), test)
    assert errs.shape == (2,)
    assert np.all(errs < 0.01)
