"""orchestrator: training sweeps on Ray Tune (spec, model family, data, trainer, ledger, store, CLI).

``import orchestrator`` stays light: ``Sweep``, ``SweepSpec`` and ``SweepResult`` are imported
on first use.

    from orchestrator import Sweep, SweepSpec
    result = Sweep(SweepSpec.from_yaml("examples/quickstart.yaml")).run()
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Sweep", "SweepSpec", "SweepResult", "SpecError"]

_LAZY = {"Sweep": "orchestrator.sweep", "SweepResult": "orchestrator.sweep",
         "SweepSpec": "orchestrator.spec", "SpecError": "orchestrator.spec"}


def __getattr__(name: str) -> Any:
    """Resolve the public names lazily."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
