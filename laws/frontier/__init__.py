"""Compute-optimal frontiers: N*(C) and D*(C) three ways, each with bootstrap CIs.

* Approach 1 (:func:`frontier_envelope`): the lower envelope of loss vs FLOPs across runs.
* Approach 2 (:func:`frontier_isoflop`): per FLOP level a parabola of loss in log N.
* Approach 3 (:func:`frontier_closed_form`, :func:`compute_optimal`, :func:`frontier_table`):
  the optimum of a fitted law — closed form for ``chinchilla`` under ``C = k·N·D``, numeric
  under the exact FLOPs of a :class:`ComputeModel` or for any other (N, D) form.

All return or use a :class:`Frontier` (``N* = kN C^a``, ``D* = kD C^b``) or a table.  FLOPs are
the exact training FLOPs the runs record (column ``C``; :class:`ComputeModel` carries them to
sizes nobody ran), with 6·N·D beside them.
"""
from __future__ import annotations

from laws.frontier.base import Frontier
from laws.frontier.compute import ComputeModel, as_compute
from laws.frontier.empirical import frontier_envelope, frontier_isoflop, isoflop_levels
from laws.frontier.law import (
    compute_optimal,
    extrapolation_error,
    frontier_closed_form,
    frontier_table,
    optimum,
)

__all__ = ["Frontier", "ComputeModel", "as_compute", "frontier_envelope", "frontier_isoflop",
           "isoflop_levels", "frontier_closed_form", "compute_optimal", "frontier_table",
           "optimum", "extrapolation_error"]
