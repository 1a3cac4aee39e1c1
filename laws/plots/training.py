"""Training-law plots: fits with CI bands, frontiers, loss curves (schedule laws and runs).

* :func:`plot_fit` — data + fitted law + bootstrap CI band (one curve per value of a second input).
* :func:`plot_law_by_size` — final loss vs D per model size with the law and its band.
* :func:`plot_frontier` — compute-optimal N*(C) and D*(C) for one or more approaches, with CIs.
* :func:`plot_compute_optimal` — IsoFLOP curves of a law beside N*(C), D*(C) (three panels).
* :func:`plot_loss_curves` — loss curves with a schedule-aware law's predictions.
* :func:`plot_run_curves` — validation-loss curves of a sweep's runs, one panel per size.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from laws.plots.base import band as _band
from laws.plots.base import colors as _colors
from laws.plots.base import new as _new
from laws.plots.base import plt as _plt

__all__ = ["plot_fit", "plot_law_by_size", "plot_frontier", "plot_compute_optimal",
           "plot_loss_curves", "plot_run_curves"]


def plot_fit(fit: Any, data: Any, *, x: str | None = None, ax=None, logx: bool = True,
             max_groups: int = 8):
    """Data points, the fitted law and its bootstrap CI band (when the fit has replicates).

    ``x`` defaults to the form's last input; with a second input (e.g. chinchilla's N) one
    curve is drawn per distinct value of it (at most ``max_groups``, spread over the range).
    """
    import laws

    form = laws.forms()[fit.form]
    df = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
    x = x or form.inputs[-1]
    others = [c for c in form.inputs if c != x]
    if len(others) > 1:
        raise laws.LawFitError(f"plot_fit: form {fit.form!r} has inputs {list(form.inputs)}; "
                               "use plot_loss_curves for curve forms")
    fig, ax = _new(ax)
    plt = _plt()
    if others:
        g = others[0]
        vals = np.sort(df[g].unique())
        if len(vals) > max_groups:
            vals = vals[np.unique(np.linspace(0, len(vals) - 1, max_groups).round().astype(int))]
    else:
        g, vals = None, [None]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(vals)))
    xs_all = df[x].to_numpy(float)
    lo, hi = xs_all.min(), xs_all.max()
    for v, c in zip(vals, colors):
        sub = df if g is None else df[np.isclose(df[g], v)]
        xs = np.geomspace(lo, hi, 200) if logx and lo > 0 else np.linspace(lo, hi, 200)
        frame = pd.DataFrame({x: xs})
        if g is not None:
            frame[g] = v
        label = None if g is None else f"{g}={v:.3g}"
        ax.scatter(sub[x], sub[form.target], s=18, color=c, alpha=0.8, zorder=3)
        ax.plot(xs, fit.predict(frame), color=c, lw=1.6, label=label)
        band = _band(fit, frame)
        if band is not None:
            ax.fill_between(xs, band[0], band[1], color=c, alpha=0.2, lw=0)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(form.target)
    r2 = getattr(fit, "r2", float("nan"))
    ci = " (band: 95 % bootstrap CI)" if getattr(fit, "boot_params", None) is not None else ""
    ax.set_title(f"{fit.form}: {form.formula}\nR² = {r2:.4f}, {getattr(fit, 'n_points', len(df))} points{ci}",
                 fontsize=9)
    if g is not None:
        ax.legend(fontsize=7, title=g, title_fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return fig


def plot_frontier(frontiers: Any, *, C: Any = None):
    """Compute-optimal N*(C) (left) and D*(C) (right), log-log, one colour per approach.

    Solid inside the FLOPs covered by the data, dashed outside (extrapolation); shaded band
    = bootstrap CI; markers = the optimal points each approach fitted.
    """
    plt = _plt()
    frontiers = [frontiers] if not isinstance(frontiers, (list, tuple)) else list(frontiers)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    ranges = [f.flops_range for f in frontiers if f.flops_range]
    if C is None:
        lo = min(r[0] for r in ranges) if ranges else 1e18
        hi = max(r[1] for r in ranges) if ranges else 1e22
        C = np.geomspace(lo / 10, hi * 100, 200)
    C = np.asarray(C, float)
    colors = plt.cm.tab10(np.arange(len(frontiers)))
    for f, c in zip(frontiers, colors):
        tab = f.predict(C)
        inside = np.ones(len(C), bool) if not f.flops_range else \
            (C >= f.flops_range[0]) & (C <= f.flops_range[1])
        for ax, q, exp_name in ((axes[0], "N", "a"), (axes[1], "D", "b")):
            ci = f.ci.get(exp_name)
            lab = f"{f.approach}: {q}* ∝ C^{getattr(f, exp_name):.3f}"
            if ci:
                lab += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
            ax.plot(C, np.where(inside, tab[q], np.nan), color=c, lw=1.8, label=lab)
            ax.plot(C, tab[q], color=c, lw=1.0, ls="--")
            if f"{q}_lo" in tab:
                ax.fill_between(C, tab[f"{q}_lo"], tab[f"{q}_hi"], color=c, alpha=0.18, lw=0)
            if f.points is not None and len(f.points):
                ax.scatter(f.points["C"], f.points[q], color=c, s=10, alpha=0.6, zorder=3)
    for ax, q, what in ((axes[0], "N", "parameters N*"), (axes[1], "D", "tokens D*")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training FLOPs C")
        ax.set_ylabel(f"compute-optimal {what}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle("Compute-optimal frontier (dashed: outside the data's FLOPs; band: 95 % CI)", fontsize=9)
    return fig


def plot_loss_curves(fit: Any, curves: pd.DataFrame, *, run: str = "run", x: str = "step",
                     y: str = "loss", ax=None):
    """Observed loss curves (points) and the fit's predicted curves (lines), one colour per run.

    ``curves`` has the fit's input columns (e.g. ``run, step, lr``) plus ``loss`` where observed;
    predictions are drawn for every row, so a schedule the law never saw can be added.
    """
    plt = _plt()
    fig, ax = _new(ax)
    runs = list(dict.fromkeys(curves[run]))
    colors = plt.cm.tab10(np.arange(len(runs)) % 10)
    pred = np.asarray(fit.predict(curves), float)
    for r, c in zip(runs, colors):
        m = (curves[run] == r).to_numpy()
        sub = curves[m]
        if y in sub and sub[y].notna().any():
            ax.scatter(sub[x], sub[y], s=6, color=c, alpha=0.5)
        ax.plot(sub[x], pred[m], color=c, lw=1.6, label=f"{r} (fit)")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{fit.form}: loss curves (points) and predictions (lines)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def plot_run_curves(metrics: pd.DataFrame, runs: pd.DataFrame, fit: Any = None):
    """One panel per model size: validation loss vs tokens of every run (``metrics``: ``run_id,
    tokens, val_loss``), each run's final loss (``runs``: ``run_id, N, D, final_val_loss``) and,
    with a ``fit`` of L(N, D), the law with its 95 % band. None when no validation loss exists."""
    if metrics.empty or "val_loss" not in metrics.columns:
        return None
    m = metrics[np.isfinite(pd.to_numeric(metrics["val_loss"], errors="coerce"))]
    if m.empty:
        return None
    plt = _plt()
    from matplotlib.ticker import NullFormatter

    runs = runs.set_index("run_id") if "run_id" in runs.columns else pd.DataFrame()
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
        if fit is not None and N is not None:
            D = np.geomspace(max(float(m["tokens"][m["tokens"] > 0].min()), 1.0), tmax * 4, 100)
            frame = pd.DataFrame({"N": np.full_like(D, N), "D": D})
            ax.plot(D, fit.predict(frame), "k--", lw=1, label="law L(N, D)")
            band = _band(fit, frame)
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


def plot_law_by_size(fit: Any, pts: pd.DataFrame):
    """Final loss vs tokens per model size (``pts``: ``N, D, loss``) with the fitted L(N, D),
    its 95 % CI band, and the region beyond the data's D shaded as extrapolation."""
    fig, ax = _plt().subplots(figsize=(6.4, 4.2))
    sizes = sorted(pts["N"].unique())
    D = np.geomspace(pts["D"].min() / 2, pts["D"].max() * 8, 120)
    for c, N in zip(_colors(len(sizes)), sizes):
        g = pts[pts["N"] == N]
        ax.plot(g["D"], g["loss"], "o", color=c, label=f"N={N:,.0f}")
        frame = pd.DataFrame({"N": np.full_like(D, N), "D": D})
        ax.plot(D, fit.predict(frame), "-", color=c, lw=1)
        band = _band(fit, frame)
        if band is not None:
            ax.fill_between(D, band[0], band[1], color=c, alpha=0.18, lw=0)
    ax.axvspan(pts["D"].max(), D.max(), color="0.9", zorder=0, label="extrapolated in D")
    ax.set_xscale("log")
    ax.set_xlabel("training tokens D")
    ax.set_ylabel("final validation loss")
    ax.set_title(f"Fitted {fit.formula} (bands: 95% bootstrap CI)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_compute_optimal(fit: Any, frontier: Any, pts: pd.DataFrame, *,
                         flops_per_token: float = 6.0, isoflop: Any = None, compute: Any = None):
    """Three panels: IsoFLOP curves of the law ``fit`` with the runs (``pts``: ``N, D, loss``,
    optionally ``C``) and each level's optimum, then N*(C) and D*(C) of ``frontier`` with its CI
    band and the IsoFLOP minima of ``isoflop`` (approach 2) where given; beyond the runs' C is
    shaded.  With ``compute`` (a :class:`laws.ComputeModel`) C is the exact training FLOPs and
    the optimum and its band are the law's own at each C (:func:`laws.frontier_table`)."""
    import laws

    cm = laws.frontier.as_compute(compute, flops_per_token)
    C_obs = pts["C"].to_numpy(float) if "C" in pts.columns else cm.flops(pts["N"], pts["D"])
    lo, hi = float(np.min(C_obs)), float(np.max(C_obs))
    fig, axes = _plt().subplots(1, 3, figsize=(13.5, 4.0))
    ax = axes[0]
    levels = np.geomspace(lo, hi, 4)
    Ns = np.geomspace(pts["N"].min() / 4, pts["N"].max() * 4, 120)
    for c, C in zip(_colors(len(levels)), levels):
        ax.plot(Ns, fit.predict(pd.DataFrame({"N": Ns, "D": cm.tokens(Ns, C)})), color=c, lw=1,
                label=f"C={C:.2g}")
        opt = laws.compute_optimal(fit, C, compute=cm)
        ax.plot([opt["N"]], [opt["loss"]], "*", color=c, ms=10)
    sc = ax.scatter(pts["N"], pts["loss"], c=np.log10(C_obs), cmap="viridis", s=18, edgecolor="k", lw=0.3)
    fig.colorbar(sc, ax=ax, label="log10 C of run")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss")
    ax.set_title("IsoFLOP curves of the law (★ optimum)", fontsize=9)
    ax.legend(fontsize=7)
    C = np.geomspace(lo / 10, hi * 1000, 40)
    pred = laws.frontier_table(fit, C, compute=cm) if compute is not None else frontier.predict(C)
    what = "law's optimum at exact C" if compute is not None else "closed form from law"
    for ax, col, label in ((axes[1], "N", "N*(C) parameters"), (axes[2], "D", "D*(C) tokens")):
        ax.plot(C, pred[col], "k-", lw=1.2, label=what)
        if f"{col}_lo" in pred.columns:
            ax.fill_between(C, pred[f"{col}_lo"], pred[f"{col}_hi"], color="C0", alpha=0.25, lw=0,
                            label="95% CI")
        if isoflop is not None and isoflop.points is not None and len(isoflop.points):
            ax.plot(isoflop.points["C"], isoflop.points[col], "s", color="C3", ms=5,
                    label="IsoFLOP minima")
        ax.plot(C_obs, pts[col], "o", color="0.4", ms=3, label="runs")
        ax.axvspan(hi, C.max(), color="0.9", zorder=0, label="extrapolated")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training FLOPs C" + (" (exact)" if cm.exact else ""))
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
