"""Test-time strategies (a registry): one verb, ``Strategy.run``, for every algorithm.

``STRATEGIES`` maps a name to a :class:`~evaluators.strategies.base.Strategy` subclass; build
one with :func:`get_strategy` (its options are validated, bad ones raise EvaluatorError naming
the option). See :mod:`evaluators.strategies.base` for the verb and the accounting rules.
"""
from __future__ import annotations

from evaluators.errors import EvaluatorError
from laws.registry import Registry

STRATEGIES = Registry("strategy", EvaluatorError, stamp="name",
                      builtin=("evaluators.strategies.sampling",
                               "evaluators.strategies.particle_filtering",
                               "evaluators.strategies.beam_search"))
register_strategy = STRATEGIES.register


def get_strategy(name: str, **options):
    """Build the strategy ``name`` with ``options``; unknown names raise EvaluatorError."""
    return STRATEGIES.build(name, **options)


def strategy_class(name: str) -> type:
    """The registered class for ``name`` (for checking ``needs_reward`` without building)."""
    return STRATEGIES.get(name)
