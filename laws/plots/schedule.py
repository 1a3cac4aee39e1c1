"""Schedule-law plots: measured loss curves of one run's many budgets (a WSD trunk and its
cooldown branches) against a schedule law's predictions, the held-out branch marked.

* :func:`plot_schedule_holdout` — one panel per trunk: measured validation loss (points) of the
  trunk and every branch, each fitted form's curve (lines), the held-out branch drawn thick.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from laws.plots.base import plt as _plt

__all__ = ["plot_schedule_holdout"]

_STYLES = ("-", "--", ":", "-.")


def plot_schedule_holdout(panels: Sequence[dict[str, Any]], *, x: str = "tokens"):
    """One panel per entry of ``panels``, each a dict with

    - ``title``: the panel title (e.g. ``N = 26,624``);
    - ``curves``: a DataFrame ``run, <x>, loss, kind`` (kind: ``trunk | fitted | held out``),
      the measured points;
    - ``predictions``: ``{form: DataFrame run, <x>, loss}``, each form's predicted curves
      (fitted without the held-out run).

    Returns a Figure (None when no panel has a measured point)."""
    panels = [p for p in panels if len(p.get("curves", ())) > 0]
    if not panels:
        return None
    plt = _plt()
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 3.4 * nrow), squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax, p in zip(axes.ravel(), panels):
        cur: pd.DataFrame = p["curves"]
        runs = list(dict.fromkeys(cur["run"]))
        kinds = {r: str(cur.loc[cur["run"] == r, "kind"].iloc[0]) for r in runs}
        others = [r for r in runs if kinds[r] == "fitted"]
        cmap = plt.get_cmap("viridis")
        color = {r: cmap(v) for r, v in zip(others, np.linspace(0.15, 0.75, max(len(others), 1)))}
        for r in runs:
            color.setdefault(r, "0.35" if kinds[r] == "trunk" else "C3")
        for r in runs:
            g = cur[cur["run"] == r]
            held = kinds[r] == "held out"
            ax.plot(g[x], g["loss"], "o", ms=3.5 if held else 2.5, color=color[r], alpha=0.9,
                    label=f"measured ({kinds[r]})" if held or r == runs[0] else None, zorder=3)
        for (form, pred), ls in zip(p.get("predictions", {}).items(), _STYLES):
            for r in runs:
                g = pred[pred["run"] == r]
                if g.empty:
                    continue
                held = kinds[r] == "held out"
                ax.plot(g[x], g["loss"], ls, color=color[r], lw=1.8 if held else 0.9,
                        alpha=0.95 if held else 0.7,
                        label=(f"{form}: predicted (held out)" if held else
                               f"{form}: fitted" if r == runs[0] else None))
        ax.set_xlabel(x)
        ax.set_title(p.get("title", ""), fontsize=9)
        ax.grid(alpha=0.3)
        lo = float(np.nanmin(cur["loss"]))
        hi = float(np.nanpercentile(cur["loss"], 95))
        if hi > lo:
            ax.set_ylim(lo - 0.15 * (hi - lo), hi + 0.05 * (hi - lo))
        ax.legend(fontsize=6.5)
    axes[0, 0].set_ylabel("validation loss")
    fig.suptitle("One run, many budgets: schedule laws fitted on the trunk and the other branches "
                 "predict the held-out cooldown (red)", fontsize=10)
    fig.tight_layout()
    return fig
