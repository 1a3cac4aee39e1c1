"""Specs: what to run, validated strictly before anything runs.

* :class:`SweepSpec` (:mod:`orchestrator.spec.sweep`) — a ladder of training runs; it expands
  into :class:`RunSpec` objects (:mod:`orchestrator.spec.run`), one per training run.
* :class:`TTSSpec` (:mod:`orchestrator.spec.tts`) — a test-time scaling run.

Both derive from :class:`~orchestrator.spec.base.StrictSpec`: the same one-line
:class:`SpecError` format, name/storage/seed rules and ``from_yaml`` / ``from_dict`` loaders.
"""
from __future__ import annotations

from orchestrator.errors import SpecError
from orchestrator.spec.run import RunSpec
from orchestrator.spec.sweep import SweepSpec
from orchestrator.spec.tts import TTSSpec

__all__ = ["SpecError", "RunSpec", "SweepSpec", "TTSSpec"]
