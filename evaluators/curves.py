"""Test-time scaling curves with honest statistics.

Generate once at ``N_max`` samples per problem, then:

* ``pass@k`` by the unbiased estimator ``1 − C(n−c, k)/C(n, k)`` (Chen et al. 2021; 1.0 when
  ``n − c < k``), computed in product form ``1 − Π_{i=n−c+1}^{n} (1 − k/i)`` so that it never
  forms huge binomials;
* ``maj@n``, ``best_of_n@n`` and ``weighted_best_of_n@n`` by drawing many random size-``n``
  subsets (without replacement) of each problem's ``N_max`` candidates — never "the first n
  samples". Each resample draws one subset per problem and takes the accuracy over problems;
  the reported mean and 95 % interval are the mean and the 2.5/97.5 percentiles of that
  accuracy over resamples (the spread due to *which* samples were drawn).

Candidates are given per problem as parallel lists: canonical ``answers`` (None for no
answer), ``correct`` flags and (for best-of-n) reward ``scores``. :func:`curves_from_rows`
takes them from stored test-time rows (their ``cand_*`` list columns).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import pandas as pd

from evaluators.errors import EvaluatorError

__all__ = ["pass_at_k", "pass_at_k_curve", "pick_majority", "pick_best", "pick_weighted",
           "resampled_accuracy", "curves_table", "curves_from_rows", "SELECTORS",
           "INDEPENDENT"]


def pass_at_k(n, c, k):
    """Unbiased pass@k for ``n`` samples of which ``c`` are correct (vectorised over arrays).

    Returns ``1 − C(n−c, k)/C(n, k)``, and 1.0 when ``n − c < k``. Scalars in → float out;
    arrays broadcast. Raises EvaluatorError for ``k < 1``, ``k > n``, ``c < 0`` or ``c > n``.
    """
    n_a, c_a, k_a = (np.asarray(x, dtype=np.int64) for x in (n, c, k))
    n_a, c_a, k_a = np.broadcast_arrays(n_a, c_a, k_a)
    if np.any(k_a < 1) or np.any(k_a > n_a):
        raise EvaluatorError(f"pass_at_k: need 1 <= k <= n, got n={n!r}, k={k!r}")
    if np.any(c_a < 0) or np.any(c_a > n_a):
        raise EvaluatorError(f"pass_at_k: need 0 <= c <= n, got n={n!r}, c={c!r}")
    out = np.ones(n_a.shape, dtype=float)
    flat_n, flat_c, flat_k, flat_o = n_a.ravel(), c_a.ravel(), k_a.ravel(), out.ravel()
    for j in range(flat_n.size):
        nj, cj, kj = int(flat_n[j]), int(flat_c[j]), int(flat_k[j])
        if nj - cj < kj:
            flat_o[j] = 1.0
            continue
        i = np.arange(nj - cj + 1, nj + 1, dtype=float)
        flat_o[j] = 1.0 - float(np.prod(1.0 - kj / i))
    out = flat_o.reshape(n_a.shape)
    return float(out) if out.ndim == 0 else out


def pass_at_k_curve(n: Sequence[int], c: Sequence[int], ks: Sequence[int]) -> dict[int, float]:
    """Mean pass@k over problems for each k (problems with fewer than k samples are skipped)."""
    n_a, c_a = np.asarray(n), np.asarray(c)
    out = {}
    for k in ks:
        ok = n_a >= k
        if ok.any():
            out[int(k)] = float(np.mean(pass_at_k(n_a[ok], c_a[ok], k)))
    return out


def _first_argmax(values, rng) -> int:
    """Index of the maximum; ties broken uniformly at random with ``rng``."""
    v = np.asarray(values, dtype=float)
    best = np.flatnonzero(v == v.max())
    return int(best[0] if len(best) == 1 else rng.choice(best))


def pick_majority(answers, correct, scores, rng) -> bool:
    """Self-consistency: the most frequent non-None answer (ties at random); is it correct?"""
    votes: dict = defaultdict(float)
    for a in answers:
        if a is not None:
            votes[a] += 1.0
    return _pick_by_votes(votes, answers, correct, rng)


def pick_weighted(answers, correct, scores, rng) -> bool:
    """Weighted best-of-n: the answer with the largest summed score; is it correct?"""
    votes: dict = defaultdict(float)
    for a, s in zip(answers, scores):
        if a is not None:
            votes[a] += float(s)
    return _pick_by_votes(votes, answers, correct, rng)


def _pick_by_votes(votes, answers, correct, rng) -> bool:
    if not votes:
        return False
    keys = list(votes)
    winner = keys[_first_argmax([votes[k] for k in keys], rng)]
    return bool(next(c for a, c in zip(answers, correct) if a == winner))


def pick_best(answers, correct, scores, rng) -> bool:
    """Best-of-n: the candidate with the highest score (ties at random); is it correct?"""
    return bool(correct[_first_argmax(scores, rng)])


SELECTORS = {"maj": pick_majority, "bon": pick_best, "wbon": pick_weighted}


def resampled_accuracy(problems: Sequence[dict], n: int, selector: str = "maj",
                       resamples: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95 % interval of ``selector@n`` accuracy over random size-n subsets.

    ``problems``: dicts with ``answers``, ``correct`` and (for ``bon``/``wbon``) ``scores``
    lists. Problems with fewer than ``n`` candidates are skipped. Returns (mean, lo, hi).
    """
    if selector not in SELECTORS:
        raise EvaluatorError(f"curves: selector must be one of {sorted(SELECTORS)}, got {selector!r}")
    pick = SELECTORS[selector]
    usable = [p for p in problems if len(p["correct"]) >= n]
    if not usable:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    accs = np.empty(resamples)
    for r in range(resamples):
        hits = 0
        for p in usable:
            idx = rng.choice(len(p["correct"]), size=n, replace=False)
            ans = [p["answers"][i] for i in idx]
            cor = [p["correct"][i] for i in idx]
            sc = [p["scores"][i] for i in idx] if p.get("scores") is not None else [0.0] * n
            hits += pick(ans, cor, sc, rng)
        accs[r] = hits / len(usable)
    return float(accs.mean()), float(np.percentile(accs, 2.5)), float(np.percentile(accs, 97.5))


def _powers_of_two(n_max: int) -> list[int]:
    ks, k = [], 1
    while k <= n_max:
        ks.append(k)
        k *= 2
    if ks[-1] != n_max:
        ks.append(n_max)
    return ks


def curves_table(problems: Sequence[dict], resamples: int = 200, seed: int = 0,
                 ns: Sequence[int] | None = None) -> list[dict]:
    """Rows ``{n, pass@n, maj@n, maj_lo, maj_hi, bon@n …, wbon@n …}`` for n = 1, 2, 4 … N_max.

    ``bon``/``wbon`` columns appear when every problem has non-None ``scores``.
    """
    if not problems:
        return []
    n_max = min(len(p["correct"]) for p in problems)
    ns = list(ns) if ns else _powers_of_two(n_max)
    has_scores = all(p.get("scores") is not None and None not in p["scores"] for p in problems)
    n_arr = [len(p["correct"]) for p in problems]
    c_arr = [int(sum(bool(x) for x in p["correct"])) for p in problems]
    rows = []
    for n in ns:
        row = {"n": n, "pass@n": pass_at_k_curve(n_arr, c_arr, [n]).get(n, float("nan"))}
        for sel in ("maj",) + (("bon", "wbon") if has_scores else ()):
            m, lo, hi = resampled_accuracy(problems, n, sel, resamples, seed)
            row.update({f"{sel}@n": m, f"{sel}_lo": lo, f"{sel}_hi": hi})
        rows.append(row)
    return rows


# Strategies whose candidates are independent samples (what generate-once-resample needs).
INDEPENDENT = ("sample", "majority", "best_of_n", "weighted_best_of_n")


def curves_from_rows(df: pd.DataFrame, resamples: int = 200, seed: int = 0) -> pd.DataFrame:
    """pass@n, maj@n, bon@n, wbon@n curves (mean, 95 % CI) from stored test-time rows.

    For each (model, reward model, max_tokens, seed) it takes, per problem, the candidates of
    the largest-budget row of an independent-sampling strategy (:data:`INDEPENDENT`) and runs
    :func:`curves_table` on them.
    """
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
