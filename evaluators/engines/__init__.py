"""Generation engines (a registry): ``make_engine(name, **options)`` builds one.

Built in:

* ``vllm`` — offline ``vllm.LLM`` (in process, or owned by a Ray actor with ``actor=True``):
  :class:`evaluators.engines.vllm_engine.VLLMEngine` / ``VLLMActorEngine``.
* ``openai`` — any OpenAI-compatible ``/v1/completions`` server:
  :class:`evaluators.engines.openai_engine.OpenAIEngine`.

Every engine follows :class:`evaluators.types.Engine`: ``generate(prompts, sampling)``,
``tokenize``, ``detokenize``, ``model_id``, ``n_params`` and ``shape``
(:class:`evaluators.accounting.ModelShape`), plus ``shutdown()``. The built-in engines'
``generate`` also takes ``n_per_prompt`` and ``seeds`` (a request seed per prompt); the
in-process vLLM engine also has ``pipeline`` (see :mod:`evaluators.engines.vllm_engine`).
"""
from __future__ import annotations

from typing import Sequence

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


def request_seeds(sampling, n_prompts: int, n_per_prompt: Sequence[int] | None = None,
                  seeds: Sequence[int] | None = None) -> list[int | None]:
    """Per-prompt request seeds: ``seeds`` when the caller gives them (one int per prompt),
    else ``seed`` plus the samples of the prompts before (``i·n`` for a uniform ``n``); None
    when the spec has no seed."""
    if seeds is not None:
        out = [int(s) for s in seeds]
        if len(out) != n_prompts:
            raise EvaluatorError(f"engine: seeds needs one integer per prompt, got {len(out)} "
                                 f"for {n_prompts} prompts")
        return out
    if sampling.seed is None:
        return [None] * n_prompts
    ns = list(n_per_prompt) if n_per_prompt is not None else [max(1, sampling.n)] * n_prompts
    offsets = [0] * n_prompts
    for i in range(1, n_prompts):
        offsets[i] = offsets[i - 1] + ns[i - 1]
    return [int(sampling.seed) + o for o in offsets]


def check_n_per_prompt(n_per_prompt, n_prompts: int) -> list[int] | None:
    """Validate ``n_per_prompt`` (one integer ≥ 1 per prompt); None stays None."""
    if n_per_prompt is None:
        return None
    ns = [int(k) for k in n_per_prompt]
    if len(ns) != n_prompts or any(k < 1 for k in ns):
        raise EvaluatorError(f"engine: n_per_prompt needs one integer >= 1 per prompt, got {ns!r}")
    return ns


__all__ = ["ENGINES", "register_engine", "make_engine", "request_seeds", "check_n_per_prompt"]
