"""Plots (matplotlib, Agg backend): each function returns a :class:`matplotlib.figure.Figure`.

* :func:`plot_fit` — data + fitted law + bootstrap CI band (one curve per value of a second input).
* :func:`plot_frontier` — compute-optimal N*(C) and D*(C) for one or more approaches, with CIs.
* :func:`plot_loss_curves` — loss curves with a schedule-aware law's predictions.
* :func:`plot_tts` — test-time accuracy vs inference FLOPs, the Pareto frontier, per-method fits.
* :func:`save` — write a figure atomically (temp file + os.replace).

matplotlib is imported lazily inside each function so ``import laws`` stays light.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_fit", "plot_frontier", "plot_loss_curves", "plot_tts", "save"]

MAX_BAND_REPLICATES = 200


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _new(ax, figsize=(6.4, 4.4)):
    """(figure, axes): a new figure unless ``ax`` is given."""
    if ax is not None:
        return ax.figure, ax
    plt = _plt()
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def _band(fit, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """95 % percentile band of predictions over (up to 200) bootstrap replicates."""
    band = getattr(fit, "predict_band", None)
    return band(frame, max_replicates=MAX_BAND_REPLICATES) if band else None


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
                     y: str = "loss", ax=None, logx: bool = False):
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
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{fit.form}: loss curves (points) and predictions (lines)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def plot_tts(result: Any, *, ax=None, form: str = "sigmoid"):
    """Accuracy vs inference FLOPs per query: points (colour = method, marker = model), the
    Pareto frontier (black steps) and each method's ``form`` fit (dashed)."""
    plt = _plt()
    fig, ax = _new(ax, figsize=(7, 4.6))
    t = result.table
    methods = sorted(t["method"].unique())
    models = list(dict.fromkeys(t["model_id"])) if "model_id" in t else [None]
    markers = "osD^v<>pP*Xh"
    colors = dict(zip(methods, plt.cm.tab10(np.arange(len(methods)) % 10)))
    for m in methods:
        for j, mid in enumerate(models):
            sub = t[(t["method"] == m) & ((t["model_id"] == mid) if mid is not None else True)]
            if len(sub):
                ax.scatter(sub["flops"], sub["accuracy"], color=colors[m], marker=markers[j % len(markers)],
                           s=24, alpha=0.85, zorder=3)
        fit = result.fits.get(m, {}).get(form)
        if fit is not None:
            g = t[t["method"] == m]
            xs = np.geomspace(g["flops"].min(), g["flops"].max(), 200)
            ax.plot(xs, result.predict(m, xs, form), color=colors[m], ls="--", lw=1.2)
    f = result.frontier
    if len(f):
        ax.step(f["flops"], f["accuracy"], where="post", color="black", lw=1.5, zorder=4)
    handles = [plt.Line2D([], [], color=colors[m], marker="o", ls="--", label=m) for m in methods]
    handles += [plt.Line2D([], [], color="gray", marker=markers[j % len(markers)], ls="", label=str(mid))
                for j, mid in enumerate(models) if mid is not None]
    handles.append(plt.Line2D([], [], color="black", lw=1.5, label="Pareto frontier"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    ax.set_xscale("log")
    ax.set_xlabel("inference FLOPs per query (policy + reward)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Test-time compute frontier (dashed: per-method {form} fit)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    return fig


def save(fig, path: str | os.PathLike, dpi: int = 120) -> str:
    """Save ``fig`` atomically (temp file in the same directory, then os.replace); returns the path."""
    path = os.fspath(path)
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    ext = os.path.splitext(path)[1] or ".png"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=ext, dir=d)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
