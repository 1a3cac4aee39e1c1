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

from evaluators.errors import EvaluatorError
from laws.registry import Registry

ENGINES = Registry("engine", EvaluatorError,
                   builtin=("evaluators.engines.vllm_engine", "evaluators.engines.openai_engine"))
register_engine = ENGINES.register


def make_engine(name: str, **options):
    """Build the engine ``name`` with ``options``; unknown names raise EvaluatorError.

    Built-in modules are imported on first use, so ``import evaluators.engines`` stays cheap.
    """
    return ENGINES.build(name, **options)


__all__ = ["ENGINES", "register_engine", "make_engine"]
