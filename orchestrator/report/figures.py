"""Figures of ``report.html``: each takes the sweep's rows and analysis and returns a Figure or
None. Every figure is drawn by :mod:`laws.plots`; this module only picks the data."""
from __future__ import annotations

from laws import plots
from orchestrator.report import schedules as _schedules
from orchestrator.report.analysis import flops_of, law_data


def loss_curves(data, an):
    """One panel per model size: validation loss vs tokens of every run, the law's L(N, D)."""
    return plots.plot_run_curves(data.metrics, data.runs, an.law)


def law_fit(data, an):
    """Final loss vs tokens per model size with the fitted L(N, D) and its 95 % CI band."""
    return None if an.law is None else plots.plot_law_by_size(an.law, law_data(data))


def backtest(data, an):
    """Held-out runs' actual loss vs each refitted form's prediction (the audit's backtest)."""
    return None if an.audit is None else plots.plot_backtest(an.audit.backtest, chosen=an.audit.chosen)


def frontier(data, an):
    """IsoFLOP curves of the law with runs, and N*(C), D*(C) with CI bands at exact FLOPs."""
    if an.frontier is None:
        return None
    pts = law_data(data)
    pts = pts.assign(C=flops_of(an, pts))
    return plots.plot_compute_optimal(an.law, an.frontier, pts, isoflop=an.isoflop, compute=an.compute)


def tts(data, an):
    """Test-time accuracy vs inference FLOPs per (model, method), with the Pareto frontier."""
    return None if an.tts is None else plots.plot_tts_scaling(an.tts)


FIGURES = {"loss_curves": loss_curves, "schedules": _schedules.figure, "law_fit": law_fit,
           "backtest": backtest, "frontier": frontier, "tts": tts}
