"""Exact training FLOPs: the ComputeModel fitted to runs' recorded C, and frontiers under it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import laws
from laws.forms import get_form
from laws.frontier import ComputeModel, as_compute, compute_optimal, frontier_table, optimum

TRUE = dict(E=1.82, A=482.0, B=2085.0, alpha=0.3478, beta=0.3658)


def _per_token(N, V=22, T=64):
    """Exact FLOPs per token of width-w, depth-1 Llama-like blocks (6·N plus output layer and
    attention), written out here independently of the library: fwd = 2·(12 w²) + 2 w V + 4 T w."""
    w = np.sqrt(N / 12.0)
    return 3 * (24 * w * w + 2 * w * V + 4 * T * w)


def test_fit_to_exact_flops_tends_to_6N_and_is_exact_at_the_runs():
    N = np.repeat([1e4, 3e4, 1e5, 3e5], 3)
    D = np.tile([2e5, 4e5, 8e5], 4)
    C = _per_token(N) * D
    cm = ComputeModel.fit(N, D, C)
    assert cm.exact and cm.k == 6.0 and 0 < cm.s <= 1.5
    assert cm.max_rel_error < 0.03
    np.testing.assert_allclose(cm.flops(N, D), C, rtol=0.03)
    # the excess over 6·N shrinks with N: a 1000x bigger model is within 3 % of 6·N·D
    assert cm.per_token(3e8) / (6 * 3e8) < 1.03 < cm.per_token(1e4) / (6 * 1e4)
    again = ComputeModel.from_dict(cm.to_dict())
    assert again == cm


def test_constant_cost_when_C_is_not_above_6ND_and_plain_6ND_without_C():
    N, D = np.array([1e6, 2e6, 4e6]), np.array([1e8, 1e8, 1e8])
    cm = ComputeModel.fit(N, D, 6 * N * D)
    assert cm.rho == 0 and cm.k == pytest.approx(6.0) and cm.exact and "constant" in cm.source
    plain = ComputeModel.fit(N, D, None)
    assert not plain.exact and plain.flops(2e6, 1e8) == pytest.approx(1.2e15)
    assert as_compute(8.0).k == 8.0 and as_compute(None).k == 6.0
    with pytest.raises(laws.LawFitError, match="compute"):
        as_compute("x")


def test_numeric_optimum_matches_closed_form_under_6ND():
    form = get_form("chinchilla")
    th = form.from_params(TRUE)[None, :]
    C = np.array([1e19, 1e23])
    opt = optimum(form, th, C, ComputeModel())
    closed = compute_optimal(TRUE, C)
    np.testing.assert_allclose(opt["N"][0], closed["N"], rtol=1e-6)
    np.testing.assert_allclose(opt["loss"][0], closed["loss"], rtol=1e-10)
    assert not opt["edge"].any()


def test_optimum_under_exact_flops_spends_exactly_C_and_is_a_minimum():
    cm = ComputeModel(rho=0.3, s=0.5, N0=1e6, exact=True)
    fit = laws.LawFit(form="chinchilla", params=TRUE)
    C = 1e20
    out = compute_optimal(fit, C, compute=cm)
    assert cm.flops(out["N"], out["D"]) == pytest.approx(C, rel=1e-9)
    def loss(N):
        D = C / cm.per_token(N)
        return TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
    assert out["loss"] == pytest.approx(loss(out["N"]), rel=1e-12)
    for s in (0.9, 1.1):
        assert loss(out["N"] * s) > out["loss"]
    # extra per-token cost makes a given C buy fewer tokens than 6·N·D says: D* / N* drops
    plain = compute_optimal(fit, C)
    assert out["D"] / out["N"] < plain["D"] / plain["N"]


def test_frontier_table_bands_and_6nd_beside_exact():
    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(1e6), np.log(1e9), 80))
    D = np.exp(rng.uniform(np.log(1e8), np.log(1e11), 80))
    L = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
    fit = laws.fit("chinchilla", pd.DataFrame({"N": N, "D": D, "loss": L * np.exp(0.01 * rng.standard_normal(80))}),
                   bootstrap=40, seed=0)
    cm = ComputeModel(rho=0.2, s=0.4, N0=1e7, exact=True)
    t = frontier_table(fit, [1e19, 1e21], compute=cm)
    assert list(t["C"]) == [1e19, 1e21]
    np.testing.assert_allclose(t["C_6nd"], 6 * t["N"] * t["D"])
    assert (t["C_6nd"] < t["C"]).all()         # 6·N·D undercounts the exact FLOPs
    assert ((t["N_lo"] <= t["N"]) & (t["N"] <= t["N_hi"])).all() and (t["replicates_ok"] == 40).all()
    fr = laws.frontier_closed_form(fit, compute=cm)
    assert fr.approach == "law" and fr.ci["a"][0] <= fr.a <= fr.ci["a"][1]
    assert fr.a == pytest.approx(TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"]), abs=0.05)


def test_isoflop_uses_exact_flops_for_D_star():
    rows = []
    for C in (1e17, 1e18, 1e19):
        for N in np.geomspace(1e6, 1e9, 9):
            D = C / _per_token(N)
            rows.append({"N": N, "D": D, "C": C,
                         "loss": TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]})
    f = laws.frontier_isoflop(pd.DataFrame(rows))
    cm = ComputeModel.fit(pd.DataFrame(rows)["N"], pd.DataFrame(rows)["D"], pd.DataFrame(rows)["C"])
    for r in f.points.itertuples():
        assert cm.flops(r.N, r.D) == pytest.approx(r.C, rel=1e-9)
