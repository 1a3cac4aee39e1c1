"""Test-time scaling curves from generate-once candidates, exact where mathematics allows.

Generate once at ``N`` samples per problem, then for every ``n`` (1, 2, 4 … N):

* ``pass@n`` — the unbiased estimator ``1 − C(N−c, n)/C(N, n)`` (Chen et al. 2021; 1.0 when
  ``N − c < n``), for all ``n`` at once as cumulative sums of ``log1p(−c/(N−i))`` (never a
  huge binomial, no loop over problems);
* ``maj@n`` and ``bon@n`` — **exact** expectations over all ``C(N, n)`` size-``n`` subsets
  (:mod:`evaluators.subsets`: answer counts with hypergeometric probabilities for majority,
  order statistics of the scores for best-of-n), ties broken uniformly at random as the
  reference pickers below break them;
* ``wbon@n`` (weighted best-of-n: the answer with the largest summed score) — **resampled**:
  ``resamples`` random size-``n`` subsets per problem (the first ``n`` of a random
  permutation), vectorised in numpy; each resample scores the winning answer by the fraction
  of its candidates that are correct (the expectation of the reference picker's choice).

Every curve value is the mean over problems of a per-problem value; its interval (``*_lo``,
``*_hi``) is a 95 % percentile bootstrap over problems (``bootstrap`` replicates): the spread
due to *which problems* were asked, which is what a second benchmark of the same size would
show. (The resampled ``wbon`` per-problem values also carry Monte-Carlo noise; with 200
resamples it is small next to that spread.)

Candidates are given per problem as parallel lists: canonical ``answers`` (None for no
answer), ``correct`` flags and (for best-of-n) reward ``scores``. :func:`curves_from_rows`
takes them from stored test-time rows (their ``cand_*`` list columns).
:func:`resampled_accuracy` and the ``pick_*`` functions are the plain reference (one subset at a
time, Python); the exact values are tested against them and against brute-force enumeration.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import pandas as pd

from evaluators.errors import EvaluatorError
from evaluators.subsets import Encoded, best_of_n_exact, encode, majority_exact

__all__ = ["pass_at_k", "pass_at_k_curve", "pass_at_k_matrix", "pick_majority", "pick_best",
           "pick_weighted", "resampled_accuracy", "per_problem_curves", "curves_table",
           "curves_from_rows", "SELECTORS", "INDEPENDENT"]

_CHUNK = 1 << 22          # float64 entries per block of the vectorised computations
_WBLOCK = 1 << 21         # permutation entries per block of the weighted resampling


def pass_at_k(n, c, k):
    """Unbiased pass@k for ``n`` samples of which ``c`` are correct (vectorised over arrays).

    Returns ``1 − C(n−c, k)/C(n, k)``, and 1.0 when ``n − c < k``. Scalars in → float out;
    arrays broadcast. Raises EvaluatorError for ``k < 1``, ``k > n``, ``c < 0`` or ``c > n``.
    Computed as ``−expm1(Σ log1p(·))`` over ``min(k, c)`` factors (``C(n−c,k)/C(n,k) =
    Π_{i<k} (n−c−i)/(n−i) = Π_{i<c} (n−k−i)/(n−i)``), padded and summed without a loop.
    """
    n_a, c_a, k_a = (np.asarray(x, dtype=np.int64) for x in (n, c, k))
    n_a, c_a, k_a = np.broadcast_arrays(n_a, c_a, k_a)
    if np.any(k_a < 1) or np.any(k_a > n_a):
        raise EvaluatorError(f"pass_at_k: need 1 <= k <= n, got n={n!r}, k={k!r}")
    if np.any(c_a < 0) or np.any(c_a > n_a):
        raise EvaluatorError(f"pass_at_k: need 0 <= c <= n, got n={n!r}, c={c!r}")
    fn, fc, fk = n_a.ravel(), c_a.ravel(), k_a.ravel()
    out = np.ones(fn.size)
    live = np.flatnonzero(fn - fc >= fk)                 # else some sample is surely correct
    m = np.minimum(fk[live], fc[live])                   # factors in the shorter product
    other = np.where(fk[live] <= fc[live], fc[live], fk[live])   # the other of (k, c)
    step = max(1, _CHUNK // max(1, int(m.max(initial=1))))
    for lo in range(0, len(live), step):
        sl = slice(lo, lo + step)
        i = np.arange(int(m[sl].max(initial=0)))[None, :]
        nn = fn[live[sl]][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(i < m[sl][:, None], np.log1p(-other[sl][:, None] / (nn - i)), 0.0)
        out[live[sl]] = -np.expm1(terms.sum(axis=1))
    out = out.reshape(n_a.shape)
    return float(out) if out.ndim == 0 else out


def pass_at_k_matrix(n: Sequence[int], c: Sequence[int], ks: Sequence[int]) -> np.ndarray:
    """``(P, len(ks))`` pass@k for every problem and every k at once (NaN where ``k > n``).

    One cumulative sum per problem of ``log1p(−c/(n−i))``, i = 0 … max(ks) − 1 (−inf once
    ``i ≥ n − c``, where pass@k is 1), in blocks of problems; no loop over problems or k.
    """
    n_a, c_a = np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64)
    ks = np.asarray(ks, dtype=np.int64)
    if np.any(ks < 1):
        raise EvaluatorError(f"pass_at_k: need k >= 1, got {ks.tolist()}")
    if np.any(c_a < 0) or np.any(c_a > n_a):
        raise EvaluatorError("pass_at_k: need 0 <= c <= n for every problem")
    out = np.full((len(n_a), len(ks)), np.nan)
    kmax = int(ks.max(initial=0))
    if not len(n_a) or not kmax:
        return out
    step = max(1, _CHUNK // kmax)
    i = np.arange(kmax)[None, :]
    for lo in range(0, len(n_a), step):
        nn, cc = n_a[lo:lo + step, None], c_a[lo:lo + step, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(i < nn - cc, np.log1p(-cc / (nn - i)), -np.inf)
        vals = -np.expm1(np.cumsum(terms, axis=1)[:, ks - 1])
        out[lo:lo + step] = np.where(ks[None, :] <= nn, vals, np.nan)
    return out


def pass_at_k_curve(n: Sequence[int], c: Sequence[int], ks: Sequence[int]) -> dict[int, float]:
    """Mean pass@k over problems for each k (problems with fewer than k samples are skipped)."""
    m = pass_at_k_matrix(n, c, ks)
    out = {}
    for j, k in enumerate(ks):
        col = m[:, j]
        if np.isfinite(col).any():
            out[int(k)] = float(np.nanmean(col))
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


def _weighted_resampled(enc: Encoded, ns: Sequence[int], resamples: int,
                        rng: np.random.Generator) -> np.ndarray:
    """``(P, len(ns))`` weighted best-of-n@n per problem, the mean over ``resamples`` random
    subsets (nested: the first ``n`` of one random permutation per resample), in numpy.

    Rows are (problem, resample), problems ordered by their number of distinct answers so a
    block's table is narrow. Per block: per-answer running sums of scores by ``bincount``
    over each stretch of the permutation, the winner the answer with the largest sum among
    drawn answers (ties at random), scored by its ``q``.
    """
    P = len(enc.size)
    out = np.full((P, len(ns)), np.nan)
    a_start = np.searchsorted(enc.ans_problem, np.arange(P))
    m_p = np.bincount(enc.ans_problem, minlength=P)
    prob_of = np.repeat(np.arange(P), enc.size)
    local = np.where(enc.answer >= 0, enc.answer - a_start[prob_of], -1)
    qpad = np.append(enc.ans_q, 0.0)
    for N in np.unique(enc.size):
        probs = np.flatnonzero(enc.size == N)
        whole = [j for j, n in enumerate(ns) if n == N]
        if whole:
            out[np.ix_(probs, whole)] = _weighted_all(enc)[probs, None]
        cols = [j for j, n in enumerate(ns) if n < N]
        if not cols:
            continue
        kmax = int(ns[cols[-1]])
        # rows (problem, resample), problems by distinct-answer count so a block's table is narrow
        probs = probs[np.argsort(m_p[probs], kind="stable")]
        total = resamples * len(probs)
        acc = np.zeros((total, len(cols)))
        step = max(1, _WBLOCK // int(N))
        for r0 in range(0, total, step):
            blk = probs[np.arange(r0, min(total, r0 + step)) // resamples]
            R = len(blk)
            m = max(1, int(m_p[blk].max()))
            perm = _partial_shuffle(R, int(N), kmax, rng)
            idx = enc.start[blk][:, None] + perm
            code, sc = local[idx], enc.scores[idx]
            key = np.where(code >= 0, np.arange(R)[:, None] * m + code, R * m)
            sums = np.zeros(R * m + 1)
            seen = np.zeros(R * m + 1, dtype=bool)
            prev = 0
            rows = np.arange(R)
            for j, col in enumerate(cols):
                n = int(ns[col])
                kk = key[:, prev:n].ravel()
                sums += np.bincount(kk, weights=sc[:, prev:n].ravel(), minlength=R * m + 1)
                seen[kk] = True
                prev = n
                s2 = np.where(seen[:-1].reshape(R, m), sums[:-1].reshape(R, m), -np.inf)
                pick = np.argmax(s2, axis=1)
                best = s2[rows, pick]
                many = np.flatnonzero((s2 == best[:, None]).sum(axis=1) > 1)
                if len(many):
                    tie = s2[many] == best[many, None]
                    pick[many] = np.argmax(np.where(tie, rng.random((len(many), m)), -1.0), axis=1)
                ok = best > -np.inf
                acc[r0:r0 + R, j] = np.where(ok, qpad[np.where(ok, a_start[blk] + pick, -1)], 0.0)
        vals = acc.reshape(len(probs), resamples, len(cols)).mean(axis=1)
        out[np.ix_(probs, cols)] = vals
    return out


def _partial_shuffle(R: int, N: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``(R, k)``: the first ``k`` positions of ``R`` independent uniform permutations of
    ``range(N)`` (Fisher–Yates stopped after ``k`` swaps, vectorised over rows; int16
    positions when they fit, to halve the memory traffic)."""
    flat = np.repeat(np.arange(N, dtype=np.int16 if N < 1 << 15 else np.int32), R)
    rows = np.arange(R)
    for t in range(min(k, N - 1)):
        j = (t + (rng.random(R) * (N - t)).astype(np.int64)) * R + rows
        head = flat[t * R:(t + 1) * R].copy()
        flat[t * R:(t + 1) * R] = flat[j]
        flat[j] = head
    return flat[:k * R].reshape(k, R).T


def _weighted_all(enc: Encoded) -> np.ndarray:
    """wbon@N per problem: the answer with the largest summed score over all candidates
    (the mean ``q`` of the tied answers); 0 where no candidate has an answer."""
    P = len(enc.size)
    ok = enc.answer >= 0
    total = np.bincount(enc.answer[ok], weights=enc.scores[ok], minlength=len(enc.ans_q))
    top = np.full(P, -np.inf)
    np.maximum.at(top, enc.ans_problem, total)
    tie = total == top[enc.ans_problem]
    n_tie = np.bincount(enc.ans_problem, weights=tie, minlength=P)
    q_tie = np.bincount(enc.ans_problem, weights=tie * enc.ans_q, minlength=P)
    return np.where(n_tie > 0, q_tie / np.maximum(n_tie, 1), 0.0)


def per_problem_curves(problems: Sequence[dict], ns: Sequence[int], resamples: int = 200,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Per-problem values ``(P, len(ns))`` of ``pass``, ``maj``, ``bon`` and ``wbon`` (the last
    two only when every candidate has a score); NaN where a problem has fewer than n."""
    enc = encode(problems)
    c = np.bincount(np.repeat(np.arange(len(enc.size)), enc.size), weights=enc.correct,
                    minlength=len(enc.size)).round().astype(np.int64)
    out = {"pass": pass_at_k_matrix(enc.size, c, ns), "maj": majority_exact(enc, ns)}
    if enc.scores is not None:
        out["bon"] = best_of_n_exact(enc, ns)
        out["wbon"] = _weighted_resampled(enc, ns, resamples, np.random.default_rng(seed))
    return out


def _bootstrap(values: np.ndarray, replicates: int, rng: np.random.Generator):
    """Mean over problems and its 95 % percentile bootstrap interval, per column (NaN-aware)."""
    ok = np.isfinite(values)
    v = np.where(ok, values, 0.0)
    P = len(values)
    w = rng.multinomial(P, np.full(P, 1.0 / P), size=replicates).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (w @ v) / (w @ ok)
        mean = v.sum(0) / ok.sum(0)
    lo, hi = np.nanpercentile(means, [2.5, 97.5], axis=0) if replicates else (mean, mean)
    return mean, lo, hi


def curves_table(problems: Sequence[dict], resamples: int = 200, seed: int = 0,
                 ns: Sequence[int] | None = None, bootstrap: int = 1000) -> list[dict]:
    """Rows ``{n, problems, pass@n, pass_lo, pass_hi, maj@n …, bon@n …, wbon@n …}``.

    ``n`` = 1, 2, 4 … N_max (the fewest candidates of any problem) unless ``ns`` is given.
    ``pass``, ``maj``, ``bon`` are exact per problem; ``wbon`` is the mean over ``resamples``
    random subsets; ``*_lo``/``*_hi`` is the 95 % bootstrap interval over problems. ``bon``
    and ``wbon`` appear when every candidate has a score.
    """
    if not problems:
        return []
    if resamples < 1 or bootstrap < 0:
        raise EvaluatorError(f"curves: need resamples >= 1 and bootstrap >= 0, got "
                             f"{resamples}, {bootstrap}")
    n_max = min(len(p["correct"]) for p in problems)
    ns = [int(n) for n in ns] if ns else _powers_of_two(n_max)
    per = per_problem_curves(problems, ns, resamples, seed)
    rng = np.random.default_rng(seed)
    stats = {k: _bootstrap(v, bootstrap, rng) for k, v in per.items()}
    counts = np.isfinite(per["pass"]).sum(0)
    rows = []
    for j, n in enumerate(ns):
        row = {"n": n, "problems": int(counts[j])}
        for k, (m, lo, hi) in stats.items():
            row.update({f"{k}@n": float(m[j]), f"{k}_lo": float(lo[j]), f"{k}_hi": float(hi[j])})
        rows.append(row)
    return rows


# Strategies whose candidates are independent samples (what generate-once-resample needs).
INDEPENDENT = ("sample", "majority", "best_of_n", "weighted_best_of_n")


def curves_from_rows(df: pd.DataFrame, resamples: int = 200, seed: int = 0,
                     bootstrap: int = 1000) -> pd.DataFrame:
    """pass@n, maj@n, bon@n (exact), wbon@n (resampled) with 95 % bootstrap intervals over
    problems, from stored test-time rows.

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
        for row in curves_table(probs, resamples=resamples, seed=seed, bootstrap=bootstrap):
            out.append(dict(zip(["model_id", "reward_model", "max_tokens", "seed"], key), **row))
    return pd.DataFrame(out)


def _isnone(x) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))
