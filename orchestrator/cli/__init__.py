"""The ``scalelab`` command line: :func:`main` (the dispatcher, :mod:`orchestrator.cli.app`) and
one module per command group (``sweep``, ``fit``, ``tts``, ``demo`` + ``report``)."""
from __future__ import annotations

from orchestrator.cli.app import main

__all__ = ["main"]
