"""evaluators: test-time scaling on vLLM — engines, tasks, verifiers, reward models, strategies,
compute accounting and curves.

Heavy modules load lazily: ``import evaluators`` imports no vllm, torch or ray.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "pass_at_k": "evaluators.curves",
    "make_engine": "evaluators.engines",
    "register_engine": "evaluators.engines",
    "ENGINES": "evaluators.engines",
    "get_task": "evaluators.tasks",
    "register_task": "evaluators.tasks",
    "TASKS": "evaluators.tasks",
    "Problem": "evaluators.tasks",
    "get_verifier": "evaluators.tasks.verifiers",
    "register_verifier": "evaluators.tasks.verifiers",
    "VERIFIERS": "evaluators.tasks.verifiers",
    "make_reward_model": "evaluators.rewards",
    "register_reward_model": "evaluators.rewards",
    "REWARD_MODELS": "evaluators.rewards",
    "ModelShape": "evaluators.accounting",
    "generation_cost": "evaluators.accounting",
    "score_cost": "evaluators.accounting",
    "EvaluatorError": "evaluators.errors",
    "SamplingSpec": "evaluators.types",
    "Sample": "evaluators.types",
    "Score": "evaluators.types",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    """Import a public name from its module on first access."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'evaluators' has no attribute {name!r}")
