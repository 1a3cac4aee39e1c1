"""Generation engines (a registry): ``make_engine(name, **options)`` builds one.

Built in:

* ``vllm`` — offline ``vllm.LLM`` (in process, or owned by a Ray actor with ``actor=True``):
  :class:`evaluators.engines.vllm_engine.VLLMEngine` / ``VLLMActorEngine``.
* ``openai`` — any OpenAI-compatible ``/v1/completions`` server:
  :class:`evaluators.engines.openai_engine.OpenAIEngine`.

Every engine follows :class:`evaluators.types.Engine`: ``generate(prompts, sampling)``,
``tokenize``, ``detokenize``, ``model_id``, ``n_params`` and ``shape``
(:class:`evaluators.accounting.ModelShape`), plus ``shutdown()``.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from evaluators.errors import EvaluatorError

ENGINES: dict[str, Callable[..., Any]] = {}

_BUILTIN = {"vllm": "evaluators.engines.vllm_engine", "openai": "evaluators.engines.openai_engine"}


def register_engine(name: str):
    """Decorator: register an engine factory (a class or function taking options) as ``name``."""

    def deco(obj):
        ENGINES[name] = obj
        return obj

    return deco


def make_engine(name: str, **options):
    """Build the engine ``name`` with ``options``; unknown names raise EvaluatorError.

    Built-in modules are imported on first use, so ``import evaluators.engines`` stays cheap.
    """
    if name not in ENGINES and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in ENGINES:
        raise EvaluatorError(f"engine: unknown engine {name!r}; known: {sorted(set(ENGINES) | set(_BUILTIN))}")
    return ENGINES[name](**options)


__all__ = ["ENGINES", "register_engine", "make_engine"]
