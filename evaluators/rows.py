"""Turn strategy results into test-time metric rows (ARCHITECTURE.md schema) with exact accounting.

Columns: ``sweep, model_id, N, task, problem_id, method, budget, seed, reward_model, correct,
answer, prompt_tokens, completion_tokens, reward_tokens, policy_flops, reward_flops, kv_bytes``
plus ``budget_axis`` (which sweep axis the row belongs to: ``parallel`` or ``sequential``),
``max_tokens`` (the sequential budget: new tokens per answer), ``oracle`` (the pick used an
exact checker), ``cached_prompt_tokens``, ``strategy`` (the registry name; ``method`` is the
spec's label) and the candidates as list columns ``cand_answers``, ``cand_correct``,
``cand_scores`` (what ``curves`` resamples).

``budget`` is always the parallel budget ``n``. ``policy_flops`` and ``kv_bytes`` sum
:func:`evaluators.accounting.generation_cost` over every generated sequence, with the cached
prompt prefix of each (see :mod:`evaluators.strategies.base` for the caching rule);
``reward_flops`` is what the reward model reported for the tokens it scored.
"""
from __future__ import annotations

from typing import Sequence

from evaluators.accounting import ModelShape, generation_cost

# One row per (model, task, problem, method, parallel budget n, sequential budget, seed, reward)
KEY = ("model_id", "task", "problem_id", "method", "budget", "max_tokens", "seed",
       "reward_model")

COLUMNS = ("sweep", "model_id", "N", "task", "problem_id", "method", "budget", "seed",
           "reward_model", "correct", "answer", "prompt_tokens", "completion_tokens",
           "reward_tokens", "policy_flops", "reward_flops", "kv_bytes", "budget_axis",
           "max_tokens", "oracle", "cached_prompt_tokens", "strategy", "cand_answers",
           "cand_correct", "cand_scores")


def policy_cost(shape: ModelShape, result) -> tuple[float, float]:
    """(FLOPs, KV-cache bytes read) of every sequence the policy generated for one problem."""
    flops = kv = 0.0
    for c in result.calls:
        cost = generation_cost(shape, c.prompt_tokens, c.completion_tokens, c.cached_prompt_tokens)
        flops += cost["flops"]
        kv += cost["kv_bytes"]
    return flops, kv


def result_rows(results: Sequence, *, shape: ModelShape, sweep: str, model_id: str, N: int,
                task: str, method: str, strategy: str, budget: int, budget_axis: str,
                max_tokens: int, seed: int, reward_model: str, oracle: bool) -> list[dict]:
    """One row per :class:`~evaluators.strategies.base.ProblemResult`."""
    rows = []
    for r in results:
        flops, kv = policy_cost(shape, r)
        rows.append({
            "sweep": sweep, "model_id": model_id, "N": int(N), "task": task,
            "problem_id": r.problem_id, "method": method, "budget": int(budget),
            "seed": int(seed), "reward_model": reward_model, "correct": bool(r.correct),
            "answer": r.answer, "prompt_tokens": int(r.prompt_tokens),
            "completion_tokens": int(r.completion_tokens), "reward_tokens": int(r.reward_tokens),
            "policy_flops": float(flops), "reward_flops": float(r.reward_flops),
            "kv_bytes": float(kv), "budget_axis": budget_axis, "max_tokens": int(max_tokens),
            "oracle": bool(oracle), "cached_prompt_tokens": int(r.cached_prompt_tokens),
            "strategy": strategy,
            "cand_answers": [c.answer for c in r.candidates],
            "cand_correct": [bool(c.correct) for c in r.candidates],
            "cand_scores": [None if c.score is None else float(c.score) for c in r.candidates],
        })
    return rows
