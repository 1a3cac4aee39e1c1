"""Test-time plots: accuracy vs inference FLOPs per query, with the Pareto frontier."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from laws.plots.base import colors as series_colors
from laws.plots.base import new, plt

__all__ = ["plot_tts", "plot_tts_scaling"]


def plot_tts(result: Any, *, ax=None, form: str = "sigmoid"):
    """Accuracy vs inference FLOPs per query: points (colour = method, marker = model), the
    Pareto frontier (black steps) and each method's ``form`` fit (dashed)."""
    plt_ = plt()
    fig, ax = new(ax, figsize=(7, 4.6))
    t = result.table
    methods = sorted(t["method"].unique())
    models = list(dict.fromkeys(t["model_id"])) if "model_id" in t else [None]
    markers = "osD^v<>pP*Xh"
    colors = dict(zip(methods, plt_.cm.tab10(np.arange(len(methods)) % 10)))
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
    handles = [plt_.Line2D([], [], color=colors[m], marker="o", ls="--", label=m) for m in methods]
    handles += [plt_.Line2D([], [], color="gray", marker=markers[j % len(markers)], ls="", label=str(mid))
                for j, mid in enumerate(models) if mid is not None]
    handles.append(plt_.Line2D([], [], color="black", lw=1.5, label="Pareto frontier"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    ax.set_xscale("log")
    ax.set_xlabel("inference FLOPs per query (policy + reward)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Test-time compute frontier (dashed: per-method {form} fit)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    return fig


def plot_tts_scaling(result: Any):
    """Accuracy vs inference FLOPs of every (model, method) curve — colour = model, marker =
    method, dotted = a sequential (max-token) budget — with the Pareto frontier (black steps).

    ``result`` is a :class:`laws.tts.TTSFrontier` (its ``table`` from :func:`laws.aggregate_tts`).
    """
    t = result.table
    models = list(dict.fromkeys(t["model_id"]))
    colors = dict(zip(models, series_colors(len(models))))
    series = t["series"] if "series" in t.columns else t["method"]
    axis = t["budget_axis"] if "budget_axis" in t.columns else pd.Series("parallel", index=t.index)
    markers = {m: "osD^vP*Xh<>"[i % 11] for i, m in enumerate(sorted(series.unique()))}
    fig, ax = plt().subplots(figsize=(7.5, 4.6))
    for (mid, ser, ax_kind), g in t.groupby([t["model_id"], series, axis], sort=False):
        g = g.sort_values("flops")
        ax.plot(g["flops"], g["accuracy"], "-" if ax_kind != "sequential" else ":",
                marker=markers[ser], color=colors[mid], ms=5, lw=0.8, alpha=0.85)
    f = result.frontier.sort_values("flops")
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
