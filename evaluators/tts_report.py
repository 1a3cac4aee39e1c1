"""Tables from test-time rows: accuracy per method/budget, and resampled scaling curves.

* :func:`accuracy_table`: one row per (model_id, method, reward_model, budget, max_tokens) with
  accuracy, its 95 % Wilson interval over problems, and mean tokens / FLOPs per problem.
* :func:`curves_from_rows`: generate-once-resample curves. For each (model, reward model,
  max_tokens, seed) it takes, per problem, the candidates of the largest-budget row of an
  independent-sampling method (``sample``, ``majority``, ``best_of_n``, ``weighted_best_of_n``)
  and computes pass@n (unbiased) and maj@n / bon@n / wbon@n (resampled subsets, 95 % interval)
  with :func:`evaluators.curves.curves_table`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from evaluators.curves import curves_table

INDEPENDENT = ("sample", "majority", "best_of_n", "weighted_best_of_n")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``k/n``."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def accuracy_table(df: pd.DataFrame) -> pd.DataFrame:
    """Accuracy (with Wilson 95 % CI), tokens and FLOPs per problem for each method/budget."""
    keys = ["model_id", "method", "reward_model", "budget", "max_tokens"]
    rows = []
    for key, g in df.groupby(keys, sort=True):
        k, n = int(g["correct"].sum()), len(g)
        lo, hi = wilson(k, n)
        rows.append(dict(zip(keys, key), accuracy=k / n, lo=lo, hi=hi, n_problems=n,
                         tokens=float((g["prompt_tokens"] + g["completion_tokens"]).mean()),
                         policy_flops=float(g["policy_flops"].mean()),
                         reward_flops=float(g["reward_flops"].mean())))
    return pd.DataFrame(rows)


def curves_from_rows(df: pd.DataFrame, resamples: int = 200, seed: int = 0) -> pd.DataFrame:
    """pass@n, maj@n, bon@n, wbon@n curves (mean, 95 % CI) from the stored candidates."""
    if df.empty or "cand_correct" not in df.columns:
        return pd.DataFrame()
    strat = df["strategy"] if "strategy" in df.columns else df["method"]
    sub = df[strat.isin(INDEPENDENT)]
    out = []
    for key, g in sub.groupby(["model_id", "reward_model", "max_tokens", "seed"], sort=True):
        best = g.sort_values("budget").groupby("problem_id").tail(1)
        probs = []
        for _, r in best.iterrows():
            scores = r["cand_scores"]
            scores = None if scores is None or any(_isnone(x) for x in scores) else list(scores)
            probs.append({"answers": list(r["cand_answers"]), "correct": list(r["cand_correct"]),
                          "scores": scores})
        for row in curves_table(probs, resamples=resamples, seed=seed):
            out.append(dict(zip(["model_id", "reward_model", "max_tokens", "seed"], key), **row))
    return pd.DataFrame(out)


def _isnone(x) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))
