"""Audit plots: :func:`plot_backtest` — predicted vs actual loss of held-out runs, per form."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from laws.plots.base import plt as _plt

__all__ = ["plot_backtest"]


def plot_backtest(backtest: Any, *, chosen: str | None = None, tolerance: float = 0.03):
    """Backtest of an audit (``Audit.backtest`` or its records): every held-out run's actual loss
    (x) against each form's prediction (y) with its 95 % prediction interval; hold-out runs are
    filled circles, leave-one-size-out runs small crosses; the shaded band is ±``tolerance``
    (the audit's 3 % backtest threshold) around y = x.  None when there is nothing to draw."""
    bt = backtest if isinstance(backtest, pd.DataFrame) else pd.DataFrame(list(backtest))
    if bt.empty:
        return None
    plt = _plt()
    forms = list(dict.fromkeys(bt["form"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    colors = plt.cm.tab10(np.arange(len(forms)) % 10)
    lo_all = float(min(bt["actual"].min(), bt["predicted"].min()))
    hi_all = float(max(bt["actual"].max(), bt["predicted"].max()))
    xs = np.geomspace(lo_all * 0.95, hi_all * 1.05, 50)
    for ax, kind, title in ((axes[0], "holdout", "held-out largest runs"),
                            (axes[1], "loso", "each size left out in turn")):
        ax.fill_between(xs, xs * (1 - tolerance), xs * (1 + tolerance), color="0.9", lw=0,
                        label=f"±{100 * tolerance:g} %")
        ax.plot(xs, xs, "k-", lw=0.8)
        sub = bt[bt["kind"] == kind]
        for form, c in zip(forms, colors):
            g = sub[sub["form"] == form]
            if g.empty:
                continue
            err = np.abs(g["rel_error"]).mean() * 100
            lab = f"{form}{' (chosen)' if form == chosen else ''}: {err:.2g} % mean error"
            yerr = np.vstack([g["predicted"] - g["lo"], g["hi"] - g["predicted"]]).clip(min=0)
            ax.errorbar(g["actual"], g["predicted"], yerr=yerr, fmt="o" if kind == "holdout" else "x",
                        ms=5 if kind == "holdout" else 4, color=c, alpha=0.8, lw=0.8, capsize=2,
                        label=lab, mfc=c if form == chosen else "none")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("actual final loss")
        ax.set_ylabel("predicted by the refitted law")
        ax.set_title(title if len(sub) else f"{title}: not possible", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        if len(sub):
            ax.legend(fontsize=7)
    fig.suptitle("Backtest: each law refitted without these runs predicts them (bars: 95 % prediction "
                 "interval)", fontsize=9)
    return fig
