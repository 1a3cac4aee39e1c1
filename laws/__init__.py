"""laws: robust scaling-law fitting, bootstrap CIs, frontiers, live refits, plots.

Pure numpy/scipy/pandas (matplotlib only lazily, in :mod:`laws.plots`); imports nothing else
of scalelab.

    import laws
    fit = laws.fit("chinchilla", df, bootstrap=1000)
    fit.params, fit.ci, fit.predict(df)
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
           "frontier_closed_form", "LiveFitter", "tts_frontier", "plan"]

# Names provided by sibling modules that may not exist yet (frontier, live, tts, planner).
_OPTIONAL = {
    "compute_optimal": "laws.frontier",
    "extrapolation_error": "laws.frontier",
    "frontier_envelope": "laws.frontier",
    "frontier_isoflop": "laws.frontier",
    "frontier_closed_form": "laws.frontier",
    "LiveFitter": "laws.live",
    "tts_frontier": "laws.tts",
    "plan": "laws.planner",
}


def __getattr__(name: str) -> Any:
    """Lazily resolve optional names and the ``plots`` submodule (matplotlib loads on demand)."""
    import importlib

    if name == "plots":
        return importlib.import_module("laws.plots")
    if name in _OPTIONAL:
        mod = _OPTIONAL[name]
        try:
            value = getattr(importlib.import_module(mod), name)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
            raise AttributeError(f"laws.{name} is not available ({mod} is not installed yet)") from None
        globals()[name] = value
        return value
    raise AttributeError(f"module 'laws' has no attribute {name!r}")
