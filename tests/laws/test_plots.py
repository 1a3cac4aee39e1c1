"""Plots render to non-empty PNGs with labelled axes (real fits, Agg backend)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import laws
from laws import plots

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def _png(fig, path):
    plots.save(fig, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    return data


@pytest.fixture(scope="module")
def chinchilla_data():
    rng = np.random.default_rng(0)
    rows = []
    for C in np.logspace(17, 19, 4):
        for N in np.logspace(6.5, 8.5, 5):
            D = C / (6 * N)
            L = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
            rows.append({"N": N, "D": D, "loss": L * np.exp(rng.normal(0, 0.003))})
    return pd.DataFrame(rows)


def test_plot_fit_with_ci_band(tmp_path):
    x = np.geomspace(1, 1e3, 15)
    y = (0.5 + 3 * x ** -0.4) * np.exp(np.random.default_rng(1).normal(0, 0.01, 15))
    df = pd.DataFrame({"x": x, "y": y})
    fit = laws.fit("power_law", df, bootstrap=30, workers=1)
    fig = plots.plot_fit(fit, df)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
    assert ax.collections  # scatter + CI band
    _png(fig, tmp_path / "fit.png")


def test_plot_fit_groups_by_second_input(tmp_path, chinchilla_data):
    fit = laws.fit("chinchilla", chinchilla_data)
    fig = plots.plot_fit(fit, chinchilla_data)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "D" and ax.get_ylabel() == "loss"
    assert len(ax.get_legend().get_texts()) == 5
    _png(fig, tmp_path / "chinchilla.png")


def test_plot_frontier_with_cis(tmp_path, chinchilla_data):
    iso = laws.frontier_isoflop(chinchilla_data, bootstrap=100)
    closed = laws.frontier_closed_form(TRUE)
    fig = plots.plot_frontier([iso, closed])
    assert [a.get_xlabel() for a in fig.axes] == ["training FLOPs C"] * 2
    assert "parameters" in fig.axes[0].get_ylabel() and "tokens" in fig.axes[1].get_ylabel()
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    _png(fig, tmp_path / "frontier.png")


def test_plot_loss_curves_with_predictions(tmp_path):
    rows = []
    for run, peak in (("const", 1e-3), ("cooldown", 1e-3)):
        for s in range(1, 61):
            lr = peak if run == "const" or s <= 40 else peak * (60 - s) / 20 + 1e-5
            rows.append({"run": run, "step": s * 10, "lr": lr, "loss": 3.0 + 5.0 / s ** 0.5})
    curves = pd.DataFrame(rows)
    fit = laws.fit("lr_annealing", curves)
    fig = plots.plot_loss_curves(fit, curves)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
    assert len(ax.lines) == 2
    _png(fig, tmp_path / "curves.png")


def test_plot_tts_frontier(tmp_path):
    rows = []
    for N in (1e6, 4e6, 1.6e7):
        for method, cost in (("majority", 1.0), ("best_of_n", 1.5)):
            for n in (1, 2, 4, 8, 16, 32):
                acc = 1 / (1 + np.exp(-0.8 * (np.log(N * n) - np.log(3e7)))) * (0.9 if cost > 1 else 1)
                rows.append({"model_id": f"N={N:.0e}", "method": method, "budget": n,
                             "flops": 2 * N * 100 * n * cost, "accuracy": acc})
    r = laws.tts_frontier(pd.DataFrame(rows), forms=("sigmoid",))
    fig = plots.plot_tts(r)
    ax = fig.axes[0]
    assert "FLOPs" in ax.get_xlabel() and ax.get_ylabel() == "accuracy"
    assert any(t.get_text() == "Pareto frontier" for t in ax.get_legend().get_texts())
    _png(fig, tmp_path / "tts.png")


def test_plot_backtest_and_compute_optimal_under_exact_flops(tmp_path, chinchilla_data):
    df = chinchilla_data.copy()
    a = laws.audit(df, forms=["chinchilla", "overtrain"], bootstrap=20)
    fig = plots.plot_backtest(a.backtest, chosen=a.chosen)
    left = fig.axes[0]
    assert left.get_xlabel() == "actual final loss" and "held-out" in left.get_title()
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert any(f"{a.chosen} (chosen)" in t for t in labels) and any("±3 %" in t for t in labels)
    _png(fig, tmp_path / "bt.png")
    assert plots.plot_backtest(a.backtest.iloc[0:0]) is None
    df["C"] = 1.2 * 6 * df["N"] * df["D"]
    fit = a.fits["chinchilla"]
    cm = laws.ComputeModel.fit(df["N"], df["D"], df["C"])
    fig = plots.plot_compute_optimal(fit, laws.frontier_closed_form(fit, compute=cm), df, compute=cm)
    assert fig.axes[1].get_xlabel() == "training FLOPs C (exact)"
    _png(fig, tmp_path / "co.png")
