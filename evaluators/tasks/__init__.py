"""Tasks: problem generators/loaders with their answer and step checkers (a registry).

A task yields :class:`Problem` objects and knows how to check an answer (and, for stepwise
tasks, each reasoning step); answer verifiers live beside them in
:mod:`evaluators.tasks.verifiers`. The training data for the ``arith`` task is produced by the same
module, so the trainer and the evaluator agree on the format.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from evaluators.errors import EvaluatorError
from laws.registry import Registry

TASKS = Registry("task", EvaluatorError, builtin=("evaluators.tasks.arith", "evaluators.tasks.jsonl"))
register_task = TASKS.register


@dataclass(frozen=True)
class Problem:
    """One evaluation problem: a stable id, the prompt text and the reference answer."""

    problem_id: str
    prompt: str
    answer: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)


def get_task(name: str, **options):
    """Build the task ``name`` from the registry; unknown names raise EvaluatorError."""
    return TASKS.build(name, **options)
