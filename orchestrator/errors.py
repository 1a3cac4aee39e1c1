"""The exception root of :mod:`orchestrator`: every error a user can cause derives from it.

The CLI prints any :class:`OrchestratorError` (like ``laws.LawFitError`` and
``evaluators.EvaluatorError``, the roots of the other two packages) as one line and exits 2.
"""
from __future__ import annotations


class OrchestratorError(ValueError):
    """Bad input to a sweep, test-time run, report or command: one line, CLI exit code 2."""

    exit_code = 2


class SpecError(OrchestratorError):
    """An invalid spec (sweep or test-time): one line naming the field."""


class UsageError(OrchestratorError):
    """A bad command-line argument or a missing input file/directory."""


class ReportError(OrchestratorError):
    """A directory that holds no sweep tables, or tables the report cannot read."""
