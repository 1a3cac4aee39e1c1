"""laws: robust scaling-law fitting, bootstrap CIs, frontiers, live refits, plots.

Pure numpy/scipy/pandas (matplotlib only lazily, in :mod:`laws.plots`); imports nothing else
of scalelab.

    import laws
    fit = laws.fit("chinchilla", df, bootstrap=1000)
    fit.params, fit.ci, fit.predict(df)
    a = laws.audit(df, target_C=1e21)       # backtest, choice of form, verdict, next runs
"""
from __future__ import annotations

from typing import Any

from laws.errors import LawFitError
from laws.fit import LawFit, fit
from laws.forms import Form, get_form, register
from laws.forms import forms as _forms

forms = _forms

__all__ = ["LawFitError", "LawFit", "fit", "forms", "Form", "get_form", "register",
           "compute_optimal", "extrapolation_error", "frontier_envelope", "frontier_isoflop",
           "frontier_closed_form", "LiveFitter", "tts_frontier", "aggregate_tts", "plan",
           "Registry", "atomic_write", "audit", "Audit", "frontier_table", "ComputeModel"]

# Heavier parts load on first use, so ``import laws`` stays quick.
_LAZY = {
    "compute_optimal": "laws.frontier",
    "extrapolation_error": "laws.frontier",
    "frontier_envelope": "laws.frontier",
    "frontier_isoflop": "laws.frontier",
    "frontier_closed_form": "laws.frontier",
    "LiveFitter": "laws.live",
    "tts_frontier": "laws.tts",
    "aggregate_tts": "laws.tts",
    "plan": "laws.planner",
    "Registry": "laws.registry",
    "atomic_write": "laws.atomic",
    "Audit": "laws.audit.core",
    "frontier_table": "laws.frontier",
    "ComputeModel": "laws.frontier",
}


def __getattr__(name: str) -> Any:
    """Resolve the lazily loaded names and the ``plots`` submodule (matplotlib loads on demand)."""
    import importlib

    if name in ("plots", "audit"):     # laws.audit is a package that is also callable
        return importlib.import_module(f"laws.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'laws' has no attribute {name!r}")
