"""orchestrator: everything that schedules, stores and presents — specs (``spec/``), the model
family and trainer (``train/``), Ray Tune runs of both kinds with the ledger and the one store
(``runs/``), the report (``report/``), the CLI (``cli/``) and the demo.

``import orchestrator`` stays light: the public names below are imported on first use.

    from orchestrator import Sweep, SweepSpec
    result = Sweep(SweepSpec.from_yaml("examples/quickstart.yaml")).run()
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Sweep", "SweepSpec", "SweepResult", "SpecError", "TTSSpec", "TTSRun", "OrchestratorError"]

_LAZY = {"Sweep": "orchestrator.runs.sweep", "SweepResult": "orchestrator.runs.sweep",
         "SweepSpec": "orchestrator.spec.sweep", "SpecError": "orchestrator.errors",
         "TTSSpec": "orchestrator.spec.tts", "TTSRun": "orchestrator.runs.tts",
         "OrchestratorError": "orchestrator.errors"}


def __getattr__(name: str) -> Any:
    """Resolve the public names lazily."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
