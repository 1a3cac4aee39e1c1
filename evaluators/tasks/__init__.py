"""Tasks: problem generators/loaders with their answer and step checkers (a registry).

A task yields :class:`Problem` objects and knows how to check an answer (and, for stepwise
tasks, each reasoning step). The training data for the ``arith`` task is produced by the same
module, so the trainer and the evaluator agree on the format.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from evaluators.errors import EvaluatorError

TASKS: dict[str, Callable[..., Any]] = {}


def register_task(name: str):
    """Decorator: register a task factory under ``name``."""

    def deco(obj):
        TASKS[name] = obj
        return obj

    return deco


@dataclass(frozen=True)
class Problem:
    """One evaluation problem: a stable id, the prompt text and the reference answer."""

    problem_id: str
    prompt: str
    answer: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)


_BUILTIN = ("evaluators.tasks.arith", "evaluators.tasks.jsonl")


def _load_builtin_tasks() -> None:
    """Import the built-in task modules so that they register themselves."""
    import importlib

    for mod in _BUILTIN:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # a task module not built yet
            if exc.name != mod:
                raise


def get_task(name: str, **options):
    """Build the task ``name`` from the registry; unknown names raise EvaluatorError."""
    _load_builtin_tasks()
    if name not in TASKS:
        raise EvaluatorError(f"task: unknown task {name!r}; known: {sorted(TASKS)}")
    return TASKS[name](**options)
