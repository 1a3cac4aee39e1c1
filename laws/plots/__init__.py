"""Plots (matplotlib, Agg backend): each function returns a :class:`matplotlib.figure.Figure`.

Audits (:mod:`laws.plots.audit`): :func:`plot_backtest`.  Training laws (:mod:`laws.plots.training`): :func:`plot_fit`, :func:`plot_law_by_size`,
:func:`plot_frontier`, :func:`plot_compute_optimal`, :func:`plot_loss_curves`,
:func:`plot_run_curves`. Test time (:mod:`laws.plots.tts`): :func:`plot_tts`,
:func:`plot_tts_scaling`. Schedules (:mod:`laws.plots.schedule`): :func:`plot_schedule_holdout`.
:func:`save` writes a figure atomically. The report draws every
figure through these functions.

matplotlib is imported lazily inside each function so ``import laws`` stays light.
"""
from __future__ import annotations

from laws.plots.audit import plot_backtest
from laws.plots.base import save
from laws.plots.schedule import plot_schedule_holdout
from laws.plots.training import (
                                 plot_compute_optimal,
                                 plot_fit,
                                 plot_frontier,
                                 plot_law_by_size,
                                 plot_loss_curves,
                                 plot_run_curves,
)
from laws.plots.tts import plot_tts, plot_tts_scaling

__all__ = ["plot_backtest", "plot_fit", "plot_law_by_size", "plot_frontier", "plot_compute_optimal",
           "plot_loss_curves", "plot_run_curves", "plot_schedule_holdout", "plot_tts", "plot_tts_scaling",
           "save"]
