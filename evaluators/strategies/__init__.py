"""Test-time strategies (a registry): one verb, ``Strategy.run``, for every algorithm.

``STRATEGIES`` maps a name to a :class:`~evaluators.strategies.base.Strategy` subclass; build
one with :func:`get_strategy` (its options are validated, bad ones raise EvaluatorError naming
the option). See :mod:`evaluators.strategies.base` for the verb and the accounting rules.
"""
from __future__ import annotations

import importlib

from evaluators.errors import EvaluatorError

STRATEGIES: dict[str, type] = {}

_BUILTIN = ("evaluators.strategies.sampling", "evaluators.strategies.particle_filtering",
            "evaluators.strategies.beam_search")


def register_strategy(name: str):
    """Decorator: register a strategy class under ``name``."""

    def deco(cls):
        STRATEGIES[name] = cls
        return cls

    return deco


def _load_builtin() -> None:
    for mod in _BUILTIN:
        importlib.import_module(mod)


def get_strategy(name: str, **options):
    """Build the strategy ``name`` with ``options``; unknown names raise EvaluatorError."""
    _load_builtin()
    if name not in STRATEGIES:
        raise EvaluatorError(f"strategy: unknown strategy {name!r}; known: {sorted(STRATEGIES)}")
    return STRATEGIES[name](**options)


def strategy_class(name: str) -> type:
    """The registered class for ``name`` (for checking ``needs_reward`` without building)."""
    _load_builtin()
    if name not in STRATEGIES:
        raise EvaluatorError(f"strategy: unknown strategy {name!r}; known: {sorted(STRATEGIES)}")
    return STRATEGIES[name]
