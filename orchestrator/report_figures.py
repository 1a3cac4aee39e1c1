"""Figures of ``report.html`` (matplotlib, Agg): each function returns a Figure or None.

``laws.plots`` is used where it provides the figure; the report-specific layouts (one panel
per model size, the three-panel frontier) are drawn here with the same data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from orchestrator.report_analysis import FLOPS_PER_TOKEN, law_data  # noqa: E402


def law_band(fit, N, D):
    """(lo, hi) 95 % bootstrap band of the law's L(N, D) along (N, D), or None."""
    return fit.predict_band(pd.DataFrame({"N": N, "D": D}))


def _colors(n: int):
    cmap = plt.get_cmap("viridis")
    return [cmap(x) for x in np.linspace(0.05, 0.85, max(n, 1))]


def loss_curves(data, an):
    """One panel per model size: validation loss vs tokens of every run, the law's L(N, D)."""
    m = data.metrics
    if m.empty or "val_loss" not in m.columns:
        return None
    m = m[np.isfinite(pd.to_numeric(m["val_loss"], errors="coerce"))]
    if m.empty:
        return None
    runs = data.runs.set_index("run_id") if "run_id" in data.runs.columns else pd.DataFrame()
    sizes = sorted(runs["N"].unique()) if len(runs) else [None]
    ncol = min(4, len(sizes))
    nrow = int(np.ceil(len(sizes) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.9 * nrow), squeeze=False, sharey=True)
    for ax in axes.ravel()[len(sizes):]:
        ax.set_visible(False)
    tmax = float(m["tokens"].max())
    for ax, N in zip(axes.ravel(), sizes):
        ids = runs.index[runs["N"] == N] if N is not None else m["run_id"].unique()
        for rid in ids:
            g = m[m["run_id"] == rid].sort_values("tokens")
            if g.empty:
                continue
            line, = ax.plot(g["tokens"], g["val_loss"], lw=1.2)
            r = runs.loc[rid] if rid in runs.index else None
            if r is not None and np.isfinite(r.get("final_val_loss", np.nan)):
                ax.plot([r["D"]], [r["final_val_loss"]], "o", color=line.get_color(), ms=4)
        if an.law is not None and N is not None:
            D = np.geomspace(max(float(m["tokens"][m["tokens"] > 0].min()), 1.0), tmax * 4, 100)
            ax.plot(D, an.law.predict(pd.DataFrame({"N": np.full_like(D, N), "D": D})), "k--", lw=1,
                    label="law L(N, D)")
            band = law_band(an.law, np.full_like(D, N), D)
            if band is not None:
                ax.fill_between(D, band[0], band[1], color="k", alpha=0.12, lw=0)
            ax.legend(fontsize=7)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())   # narrow panels: minor labels collide
        ax.set_title(f"N = {N:,.0f}" if N is not None else "all runs", fontsize=9)
        ax.set_xlabel("tokens D")
    axes[0, 0].set_ylabel("validation loss")
    fig.suptitle("Loss curves per run (dots: final loss; dashed: fitted law, band: 95% CI)", fontsize=10)
    fig.tight_layout()
    return fig


def law_fit(data, an):
    """Final loss vs tokens per model size with the fitted L(N, D) and its 95 % CI band."""
    if an.law is None:
        return None
    pts = law_data(data)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    sizes = sorted(pts["N"].unique())
    D = np.geomspace(pts["D"].min() / 2, pts["D"].max() * 8, 120)
    for c, N in zip(_colors(len(sizes)), sizes):
        g = pts[pts["N"] == N]
        ax.plot(g["D"], g["loss"], "o", color=c, label=f"N={N:,.0f}")
        ax.plot(D, an.law.predict(pd.DataFrame({"N": np.full_like(D, N), "D": D})), "-", color=c, lw=1)
        band = law_band(an.law, np.full_like(D, N), D)
        if band is not None:
            ax.fill_between(D, band[0], band[1], color=c, alpha=0.18, lw=0)
    ax.axvspan(pts["D"].max(), D.max(), color="0.9", zorder=0, label="extrapolated in D")
    ax.set_xscale("log")
    ax.set_xlabel("training tokens D")
    ax.set_ylabel("final validation loss")
    ax.set_title(f"Fitted {an.law.formula} (bands: 95% bootstrap CI)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def frontier(data, an):
    """IsoFLOP curves of the law with runs, and N*(C), D*(C) with CI bands (3 panels)."""
    if an.frontier is None:
        return None
    pts = law_data(data)
    C_obs = FLOPS_PER_TOKEN * pts["N"] * pts["D"]
    lo, hi = float(C_obs.min()), float(C_obs.max())
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.0))
    ax = axes[0]
    levels = np.geomspace(lo, hi, 4)
    Ns = np.geomspace(pts["N"].min() / 4, pts["N"].max() * 4, 120)
    for c, C in zip(_colors(len(levels)), levels):
        ax.plot(Ns, an.law.predict(pd.DataFrame({"N": Ns, "D": C / (FLOPS_PER_TOKEN * Ns)})), color=c,
                lw=1, label=f"C={C:.2g}")
        n_opt = float(an.frontier.N_opt(C))
        ax.plot([n_opt], an.law.predict(pd.DataFrame({"N": [n_opt], "D": [C / (FLOPS_PER_TOKEN * n_opt)]})),
                "*", color=c, ms=10)
    sc = ax.scatter(pts["N"], pts["loss"], c=np.log10(C_obs), cmap="viridis", s=18, edgecolor="k", lw=0.3)
    fig.colorbar(sc, ax=ax, label="log10 C of run")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss")
    ax.set_title("IsoFLOP curves of the law (★ optimum)", fontsize=9)
    ax.legend(fontsize=7)
    C = np.geomspace(lo / 10, hi * 1000, 120)
    pred = an.frontier.predict(C)
    for ax, col, label in ((axes[1], "N", "N*(C) parameters"), (axes[2], "D", "D*(C) tokens")):
        ax.plot(C, pred[col], "k-", lw=1.2, label="closed form from law")
        if f"{col}_lo" in pred.columns:
            ax.fill_between(C, pred[f"{col}_lo"], pred[f"{col}_hi"], color="C0", alpha=0.25, lw=0,
                            label="95% CI")
        if an.isoflop is not None and an.isoflop.points is not None and len(an.isoflop.points):
            ax.plot(an.isoflop.points["C"], an.isoflop.points[col], "s", color="C3", ms=5,
                    label="IsoFLOP minima")
        ax.plot(C_obs, pts[col], "o", color="0.4", ms=3, label="runs")
        ax.axvspan(hi, C.max(), color="0.9", zorder=0, label="extrapolated")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training FLOPs C")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def tts(data, an):
    """Test-time accuracy vs inference FLOPs per (model, method), with the Pareto frontier."""
    if an.tts is None:
        return None
    t = an.tts.table
    models = list(dict.fromkeys(t["model_id"]))
    colors = dict(zip(models, _colors(len(models))))
    series = t["series"] if "series" in t.columns else t["method"]
    axis = t["budget_axis"] if "budget_axis" in t.columns else pd.Series("parallel", index=t.index)
    markers = {m: "osD^vP*Xh<>"[i % 11] for i, m in enumerate(sorted(series.unique()))}
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for (mid, ser, ax_kind), g in t.groupby([t["model_id"], series, axis], sort=False):
        g = g.sort_values("flops")
        ax.plot(g["flops"], g["accuracy"], "-" if ax_kind != "sequential" else ":",
                marker=markers[ser], color=colors[mid], ms=5, lw=0.8, alpha=0.85)
    f = an.tts.frontier.sort_values("flops")
    ax.step(f["flops"], f["accuracy"], where="post", color="k", lw=1.6, label="Pareto frontier")
    if (axis == "sequential").any():
        ax.plot([], [], ":", color="0.4", label="sequential budget (max tokens)")
    for meth, mk in markers.items():
        ax.plot([], [], mk, color="0.4", label=meth)
    for mid, c in colors.items():
        n = t.loc[t["model_id"] == mid, "N"].iloc[0] if "N" in t.columns else None
        ax.plot([], [], "-", color=c, label=f"{mid}" + (f" (N={n:,.0f})" if n is not None else ""))
    ax.set_xscale("log")
    ax.set_xlabel("inference FLOPs per query (policy + reward model)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title("Test-time scaling: accuracy vs inference compute", fontsize=9)
    fig.tight_layout()
    return fig


FIGURES = {"loss_curves": loss_curves, "law_fit": law_fit, "frontier": frontier, "tts": tts}
