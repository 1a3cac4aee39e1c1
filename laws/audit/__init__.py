"""Audit a scaling-law fit: backtest it, choose the form, say how sure the answer is.

    import laws
    a = laws.audit(runs, target_C=1e18)     # runs: N, D, loss (+ C exact FLOPs, run_id)
    a.verdict, a.reasons                    # "sound" | "weak" | "unidentifiable", sentences
    a.answer                                # N*, D*, loss at target_C with 95 % intervals
    a.next_runs                             # N, D, C, gain: what to run next
    a.summary(); a.to_dict()

Modules: :mod:`~laws.audit.core` (:func:`audit`, :class:`Audit`),
:mod:`~laws.audit.backtest` (hold-out and leave-one-size-out refits, the choice of form),
:mod:`~laws.audit.diagnostics` (bounds, intervals, basins, Huber delta, frontier exponent),
:mod:`~laws.audit.answer` (the answer per bootstrap replicate), :mod:`~laws.audit.proposals`
(next runs) and :mod:`~laws.audit.verdict` (the rules, written there, and the reasons).

``laws.audit`` is this package and is also callable: ``laws.audit(data, ...)`` is
:func:`laws.audit.core.audit`, however the package was first imported.
"""
from __future__ import annotations

import sys
import types

from laws.audit.core import VERDICTS, Audit, audit, default_forms

__all__ = ["Audit", "audit", "default_forms", "VERDICTS"]


class _CallableModule(types.ModuleType):
    """This package as a module object that can be called like :func:`audit`."""

    def __call__(self, *args, **kwargs):
        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
