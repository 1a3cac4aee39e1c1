"""Exact expectations over all size-n subsets of each problem's candidates (no resampling).

A problem has ``N`` candidates; a size-``n`` subset is drawn uniformly without replacement and a
selector picks one answer from it. Both selectors below return, per problem and per ``n``, the
probability that the pick is correct — the mean over *all* ``C(N, n)`` subsets — with ties
broken as :mod:`evaluators.curves`' reference pickers break them (uniformly at random).

* **best-of-n** (order statistics): sort the candidates by score; the subset's best candidate is
  the one at sorted position ``k`` (1-based) with probability ``C(k−1, n−1)/C(N, n)``. Equal
  scores form a class; the pick is uniform within the class of the maximum, so position ``k``
  carries the class's mean correctness. One matrix product per distinct ``N``.
* **majority** (hypergeometric answer counts): answer ``a`` (``K_a`` candidates, a fraction
  ``q_a`` of them correct) wins with probability ``W_a = E[1{X_a = M} / #{b: X_b = M}]``, where
  ``X`` are the answers' counts in the subset (multivariate hypergeometric), ``M`` their maximum
  over non-None answers and the division is the uniform tie break; maj@n = ``Σ_a q_a W_a`` (the
  reference picker takes the correctness of a uniformly random drawn candidate of the winning
  answer, whose mean is ``q_a``). It is computed as follows. ``1/(t+1) = ∫₀¹ y^t dy`` turns the
  tie break into an integral of a product over the other answers, ``Π_b (1{X_b<j} + y·1{X_b=j})``,
  exact by Gauss–Legendre in ``y``. The multivariate hypergeometric is the law of independent
  ``X_b ~ Binomial(K_b, p)`` conditioned on ``Σ X = n`` (any ``p``; ``p = n/N`` here); the
  conditioning is a discrete Fourier sum over the total, so the product over answers becomes a
  pointwise product of per-answer partial characteristic functions. Answers with equal ``K``
  enter as one factor raised to their multiplicity.

Truncation (the only approximation): binomial terms below ``TAU = 1e-14`` are dropped; a level
``(winner, j)`` is skipped when a bound on its term (``θ = 0, y = 1``) is below ``1e-13 ·
P(Σ X = n)``; the Fourier length makes aliasing a binomial tail below ``1e-17 · P(Σ X = n)``, and
the Gauss rule integrates exactly every tie count whose Chernoff bound is above ``1e-13 ·
P(Σ X = n)``. Levels with at most one rival answer are summed in closed form (hypergeometric)
instead. Each per-problem value is thus exact to about 1e-9 in the worst case (the tests compare
with brute-force enumeration of every subset at 1e-10 and see ~1e-15).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Sequence

import numpy as np
import pandas as pd
from numpy.polynomial.legendre import leggauss
from scipy.special import gammaln

TAU = 1e-14                 # binomial terms below this are dropped
_LOG_EPS = float(np.log(1e-13))   # per-level error budget, relative to P(Σ X = n)
_LOG_TAU = float(np.log(TAU))
_LBLOCK = 1 << 17           # complex entries per block of the level loop (cache-sized)
_BLOCK = 1 << 21            # complex entries per Fourier block (memory bound, ~32 MiB)


@dataclass
class Encoded:
    """Candidates of many problems as flat arrays (problem-major order)."""

    size: np.ndarray          # (P,) candidates per problem
    start: np.ndarray         # (P,) offset of each problem's first candidate
    answer: np.ndarray        # (C,) index into the answer table, -1 for None
    correct: np.ndarray       # (C,) 0.0 / 1.0
    scores: np.ndarray | None  # (C,) float, None when some problem lacks scores
    ans_problem: np.ndarray   # (A,) problem of each distinct (problem, answer)
    ans_count: np.ndarray     # (A,) K_a
    ans_q: np.ndarray         # (A,) fraction of its candidates that are correct


def _is_missing(x) -> bool:
    return x is None or (isinstance(x, float) and x != x)


def encode(problems: Sequence[dict]) -> Encoded:
    """Flatten ``problems`` (dicts of ``answers``, ``correct``, optional ``scores``)."""
    size = np.array([len(p["correct"]) for p in problems], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    P = len(problems)
    flat = pd.Series(list(chain.from_iterable(p["answers"] for p in problems)), dtype=object)
    codes, uniq = pd.factorize(flat)                       # None / NaN -> -1
    prob = np.repeat(np.arange(P), size)
    correct = np.fromiter(chain.from_iterable(p["correct"] for p in problems), dtype=float,
                          count=int(size.sum()))
    key = np.where(codes >= 0, prob * (len(uniq) + 1) + codes, -1)
    valid = key >= 0
    ukeys, inv = np.unique(key[valid], return_inverse=True)
    answer = np.full(len(key), -1, dtype=np.int64)
    answer[valid] = inv
    count = np.bincount(inv, minlength=len(ukeys))
    q = np.bincount(inv, weights=correct[valid], minlength=len(ukeys)) / np.maximum(count, 1)
    scores = None
    if all(p.get("scores") is not None for p in problems):
        raw = list(chain.from_iterable(p["scores"] for p in problems))
        if not any(_is_missing(s) for s in raw):
            scores = np.asarray(raw, dtype=float)
    return Encoded(size, start, answer, correct, scores, ukeys // (len(uniq) + 1), count, q)


# ----------------------------------------------------------------------------- best-of-n
def best_of_n_exact(enc: Encoded, ns: Sequence[int]) -> np.ndarray:
    """``(P, len(ns))`` exact best-of-n@n per problem (NaN where a problem has < n candidates)."""
    if enc.scores is None:
        raise ValueError("best_of_n_exact: needs scores for every candidate")
    P, ns = len(enc.size), np.asarray(ns, dtype=np.int64)
    prob = np.repeat(np.arange(P), enc.size)
    order = np.lexsort((enc.scores, prob))                 # by problem, then score ascending
    s, c, pr = enc.scores[order], enc.correct[order], prob[order]
    new = np.ones(len(s), dtype=bool)
    new[1:] = (s[1:] != s[:-1]) | (pr[1:] != pr[:-1])
    cls = np.cumsum(new) - 1
    qbar = (np.bincount(cls, weights=c) / np.bincount(cls))[cls]   # class mean, per position
    out = np.full((P, len(ns)), np.nan)
    for N in np.unique(enc.size):
        rows = np.flatnonzero(enc.size == N)
        k = np.arange(1, N + 1)[:, None]
        ok = ns[None, :] <= N
        nn = np.where(ok, ns[None, :], 1)
        logw = (gammaln(k) - gammaln(nn) - gammaln(np.maximum(k - nn + 1, 1))
                - gammaln(N + 1) + gammaln(nn + 1) + gammaln(N - nn + 1))
        w = np.where((k >= nn) & ok, np.exp(logw), 0.0)    # (N, K): C(k-1, n-1) / C(N, n)
        # sorting kept problems contiguous: problem r's sorted block starts at start[r]
        blocks = qbar[enc.start[rows][:, None] + np.arange(N)[None, :]]
        vals = blocks @ w
        out[rows] = np.where(ok, vals, np.nan)
    return out


# ------------------------------------------------------------------------------ majority
@dataclass
class _Groups:
    """Answers of each problem grouped by count: one factor per (problem, K)."""

    prob: np.ndarray      # (G,) sorted by problem
    kappa: np.ndarray     # (G,) K shared by the group's answers
    r: np.ndarray         # (G,) number of answers with that K
    qsum: np.ndarray      # (G,) sum of their q
    start: np.ndarray     # (P,) first group of each problem
    count: np.ndarray     # (P,) groups per problem
    none: np.ndarray      # (P,) None candidates per problem


def _groups(enc: Encoded) -> _Groups:
    P = len(enc.size)
    span = int(enc.size.max(initial=0)) + 1
    key = enc.ans_problem * span + enc.ans_count
    uk, inv = np.unique(key, return_inverse=True)
    r = np.bincount(inv, minlength=len(uk))
    qsum = np.bincount(inv, weights=enc.ans_q, minlength=len(uk))
    prob, kappa = uk // span, uk % span
    count = np.bincount(prob, minlength=P)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    voted = np.bincount(enc.ans_problem, weights=enc.ans_count, minlength=P)
    return _Groups(prob, kappa, r, qsum, start, count, enc.size - voted.astype(np.int64))


def majority_exact(enc: Encoded, ns: Sequence[int]) -> np.ndarray:
    """``(P, len(ns))`` exact maj@n per problem (NaN where a problem has < n candidates)."""
    g = _groups(enc)
    P = len(enc.size)
    out = np.full((P, len(ns)), np.nan)
    for col, n in enumerate(int(x) for x in ns):
        full = np.flatnonzero(enc.size == n)
        out[full, col] = _majority_all(g, full)
        part = np.flatnonzero(enc.size > n)
        if not len(part):
            continue
        h = {int(m): _half_width(n, int(m)) for m in np.unique(enc.size[part])}
        # chunk problems so that the per-group Fourier tables stay small (~4M complex)
        pp = n / enc.size[g.prob]
        win = np.minimum(g.kappa + 1, 20 * np.sqrt(np.clip(g.kappa * pp * (1 - pp), 0, None)) + 40)
        est = np.bincount(g.prob, weights=win, minlength=P)[part] \
            * np.array([h[int(m)] + 1 for m in enc.size[part]])
        cuts = np.searchsorted(np.cumsum(est), np.arange(1, int(est.sum() // 4e6) + 1) * 4e6)
        for rows in np.split(part, np.unique(cuts[(cuts > 0) & (cuts < len(part))])):
            hh = max(h[int(m)] for m in enc.size[rows])
            out[rows, col] = _majority_fourier(g, rows, n, enc.size[rows], hh)
    return out


def _majority_all(g: _Groups, rows: np.ndarray) -> np.ndarray:
    """n = N: the answers with the largest count tie; uniform pick among them."""
    out = np.zeros(len(rows))
    has = g.count[rows] > 0
    if has.any():
        seg, i = _segments(g.count[rows][has])
        gi = g.start[rows][has][seg] + i
        top = np.zeros(int(has.sum()), dtype=np.int64)
        np.maximum.at(top, seg, g.kappa[gi])
        pick = gi[g.kappa[gi] == top[seg]]            # one group per problem holds the max
        out[has] = (g.qsum[pick] / g.r[pick])
    return out


def _half_width(n: int, N: int) -> int:
    """Smallest h with P(|T − n| ≥ h) ≤ 1e-17 · P(T = n) for T ~ Binomial(N, n/N)."""
    p = n / N
    t = np.arange(N + 1)
    logpmf = gammaln(N + 1) - gammaln(t + 1) - gammaln(N - t + 1) + t * np.log(p) \
        + (N - t) * np.log1p(-p)
    pmf = np.exp(logpmf - logpmf[n])                      # relative to P(T = n)
    up = np.cumsum(pmf[::-1])[::-1]                       # up[t] = Σ_{s ≥ t}
    down = np.cumsum(pmf)                                 # down[t] = Σ_{s ≤ t}
    for h in range(1, max(n, N - n) + 2):
        tail = (up[n + h] if n + h <= N else 0.0) + (down[n - h] if n - h >= 0 else 0.0)
        if tail <= 1e-17:
            return h
    return max(n, N - n) + 1


@lru_cache(maxsize=8)
def _gauss_table(qmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes/weights on [0, 1] for Q = 1..qmax, padded: ``[Q, k]``."""
    y = np.zeros((qmax + 1, qmax))
    w = np.zeros((qmax + 1, qmax))
    for q in range(1, qmax + 1):
        x, wt = leggauss(q)
        y[q, :q], w[q, :q] = (x + 1) / 2, wt / 2
    return y, w


@lru_cache(maxsize=4)
def _phases(jmax: int, L: int) -> np.ndarray:
    """``e^{iθj}`` for ``j = 0 … jmax`` and ``θ = 2πk/L``, ``k = 0 … L//2`` (read-only)."""
    theta = 2 * np.pi * np.arange(L // 2 + 1) / L
    z = np.exp(1j * np.outer(np.arange(jmax + 1), theta))
    z.flags.writeable = False
    return z


def _segments(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ragged segments: (segment id of each item, index of the item within its segment)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    seg = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return seg, np.arange(int(lengths.sum())) - starts[seg]


def _majority_fourier(g: _Groups, rows: np.ndarray, n: int, N: np.ndarray, h: int) -> np.ndarray:
    """Exact maj@n for problems ``rows`` (each with N > n candidates; Fourier half-width
    ``h``, see :func:`_half_width`); see the module doc."""
    p = n / N                                                   # (R,)
    L, lh = 2 * h + 1, h + 1
    theta = 2 * np.pi * np.arange(lh) / L
    cw = np.full(lh, 2.0)
    cw[0] = 1.0
    Z = _phases(int(N.max()), L)                                        # e^{iθj}
    logcf = np.log(1 - p[:, None] + p[:, None] * np.exp(1j * theta)[None, :])
    # the groups of these problems (local problem index 0..R-1)
    lp, gk = _segments(g.count[rows])
    gi = g.start[rows][lp] + gk
    kap, r, qs = g.kappa[gi], g.r[gi], g.qsum[gi]
    G = len(gi)
    gstart = np.concatenate([[0], np.cumsum(g.count[rows])[:-1]]).astype(np.int64)
    # binomial pmf of every group's count, kept where >= TAU (an interval: unimodal)
    seg, i = _segments(kap + 1)
    pp = p[lp[seg]]
    logpmf = gammaln(kap[seg] + 1) - gammaln(i + 1) - gammaln(kap[seg] - i + 1) \
        + i * np.log(pp) + (kap[seg] - i) * np.log1p(-pp)
    keep = logpmf >= _LOG_TAU
    seg, i, pmf = seg[keep], i[keep], np.exp(logpmf[keep])
    wlen = np.bincount(seg, minlength=G)
    woff = np.concatenate([[0], np.cumsum(wlen)[:-1]]).astype(np.int64)
    glo = i[woff]
    ghi = glo + wlen - 1
    cdf = np.cumsum(pmf)
    base = np.where(woff > 0, cdf[np.maximum(woff - 1, 0)], 0.0)
    # levels: (winner group w, level j) with j in w's window, j ≥ 1
    win = np.flatnonzero(qs > 0)
    jlo = np.maximum(glo[win], 1)
    nlev = np.maximum(np.minimum(ghi[win], n) - jlo + 1, 0)     # X_w ≤ n
    lseg, li = _segments(nlev)
    lw = win[lseg]
    lj = jlo[lseg] + li
    lprob = lp[lw]
    # pairs (level, group of the same problem)
    pseg, pi = _segments(g.count[rows][lprob])
    pg = gstart[lprob[pseg]] + pi
    pj = lj[pseg]
    cons = ghi[pg] >= pj
    e = r[pg] - (pg == lw[pseg])
    act = cons & (e > 0)
    dead = act & (glo[pg] > pj)                          # that answer must exceed j: weight 0
    # P(Σ X = n) for each problem; errors below are budgeted relative to it
    logpn = gammaln(N + 1) - gammaln(n + 1) - gammaln(N - n + 1) + n * np.log(p) \
        + (N - n) * np.log1p(-p)
    # |level term| ≤ π_w(j) Π_active (P(X_g < j) + Y·P(X_g = j))^e for Y = 1 (every θ, y);
    # for Y > 1, Y^-(d+1) times it bounds the ties beyond degree d (Chernoff on the y-poly)
    nl = len(lj)
    jo = np.clip(pj - glo[pg], 0, wlen[pg] - 1)
    below = np.where(pj > glo[pg], cdf[woff[pg] + np.clip(pj - glo[pg] - 1, 0, wlen[pg] - 1)]
                     - base[pg], 0.0)
    at = np.where((pj >= glo[pg]) & (pj <= ghi[pg]), pmf[woff[pg] + jo], 0.0)
    use = act & ~dead
    pmf_w = pmf[woff[lw] + (lj - glo[lw])]
    lead = np.log(pmf_w) - logpn[lprob]
    alive = np.bincount(pseg, weights=dead, minlength=nl) == 0
    deg = np.bincount(pseg, weights=np.where(act, e, 0), minlength=nl).astype(np.int64)
    d = np.clip(np.minimum(deg, (n + h) // lj - 1), 0, None)
    for Y in (1.0, 4.0, 64.0):
        logb = lead + np.bincount(pseg, weights=np.where(
            use, e * np.log(np.maximum(below + Y * at, 1e-300)), 0.0), minlength=nl)
        if Y == 1.0:
            alive &= logb > _LOG_EPS
        else:
            d = np.minimum(d, np.clip(np.ceil((logb - _LOG_EPS) / np.log(Y)) - 1, 0, None)
                           .astype(np.int64))
    ucons = np.bincount(pseg, weights=np.where(cons, r[pg] * kap[pg], 0), minlength=nl)
    tot = np.bincount(lp, weights=r * kap, minlength=len(rows)) + g.none[rows]
    U = np.rint(tot[lprob] - ucons).astype(np.int64)    # candidates outside constrained ones
    # levels with at most one rival answer need no Fourier sum: hypergeometric in closed form
    direct_val, alive = _direct_levels(n, N, lprob, lj, lw, kap, qs, pseg, pg, act, alive, e)
    Q = np.where(alive, d // 2 + 1, 0)
    gy, gw = _gauss_table(int(Q.max(initial=1)))
    # active pairs, level-major (already), of the levels left for the Fourier sum
    keep_p = act & alive[pseg]
    ap_level, ap_g = pseg[keep_p], pg[keep_p]
    A = np.bincount(ap_level, minlength=nl)
    # S_g(j) = Σ_{lo ≤ i < j} π_g(i) e^{iθi} for j = lo … (the largest j an active pair asks),
    # one flat table, group g's rows from soff[g]; only what the alive levels use is built
    jtop = glo.copy()
    np.maximum.at(jtop, ap_g, lj[ap_level])
    use_w = i < jtop[seg]
    sseg, spmf, si = seg[use_w], pmf[use_w], i[use_w]
    slen = np.bincount(sseg, minlength=G)
    soff = np.concatenate([[0], np.cumsum(slen)[:-1]]).astype(np.int64)
    # one global exclusive cumulative sum over the groups' rows (they are group-contiguous):
    # S_g(j) = C[soff_g + j − lo_g] − C[soff_g]
    stab = np.zeros((len(spmf) + 1, lh), dtype=complex)
    for c0 in range(0, len(spmf), max(1, _BLOCK // lh)):
        sl = slice(c0, c0 + max(1, _BLOCK // lh))
        np.multiply(spmf[sl, None], Z[si[sl]], out=stab[1 + c0:1 + c0 + len(spmf[sl])])
    np.cumsum(stab, axis=0, out=stab)
    astart = np.concatenate([[0], np.cumsum(A)[:-1]]).astype(np.int64)
    lvals = np.zeros(nl)
    levels = np.flatnonzero(alive)
    levels = levels[np.argsort(Q[levels], kind="stable")]    # blocks of one Gauss rule
    lq = Q[levels]
    cc = np.cumsum((Q * (A + 1) * lh)[levels])
    ph = np.conj(Z[n]) * cw                                  # e^{-iθn}, both θ and −θ
    umax = int(U.max(initial=0)) + 1
    b0 = 0
    while b0 < len(levels):
        q = int(lq[b0])
        done = cc[b0 - 1] if b0 else 0
        b1 = max(b0 + 1, int(np.searchsorted(cc, done + _LBLOCK, side="right")))
        b1 = min(b1, int(np.searchsorted(lq, q, side="right")))
        lv = levels[b0:b1]
        b0 = b1
        # cf^U: U takes few values per problem, so exponentiate each (problem, U) once
        ukey, uinv = np.unique(lprob[lv] * umax + U[lv], return_inverse=True)
        cfu = np.exp((ukey % umax)[:, None] * logcf[ukey // umax])
        lbase = (qs[lw[lv]] * pmf_w[lv])[:, None] * Z[lj[lv]] * ph[None, :] * cfu[uinv]
        na = A[lv]
        eseg, ek = _segments(na)                             # (level, active pair)
        lvl = lv[eseg]
        gg = ap_g[astart[lvl] + ek]
        jj = lj[lvl]
        # φ_g(θ, y) = S_g(j) + y·π_g(j)·e^{iθj} at the q Gauss nodes: (q, pairs, θ)
        below_j = stab[soff[gg] + (jj - glo[gg])] - stab[soff[gg]]
        at_j = pmf[woff[gg] + (jj - glo[gg])][:, None] * Z[jj]
        phi = np.multiply(gy[q, :q, None, None], at_j[None])
        phi += below_j[None]
        ee = r[gg] - (gg == lw[lvl])
        big = np.flatnonzero(ee > 1)
        if len(big):
            phi[:, big] = _int_power(phi[:, big], ee[big])
        starts = np.concatenate([[0], np.cumsum(na)[:-1]])
        prod = np.multiply.reduceat(phi, starts, axis=1)     # (q, levels, θ)
        m = np.tensordot(gw[q, :q], prod, axes=(0, 0))       # ∫ dy by Gauss–Legendre
        lvals[lv] = np.einsum("ij,ij->i", m, lbase).real
    res = np.bincount(lprob, weights=lvals, minlength=len(rows)) / L / np.exp(logpn) \
        + np.bincount(lprob, weights=direct_val, minlength=len(rows))
    return np.clip(res, 0.0, 1.0)


def _int_power(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``x ** e`` for complex ``x`` of shape ``(q, k, m)`` and integer exponents ``e`` (k,) ≥ 1,
    by repeated squaring (a few products; a complex ``pow`` is a log and an exp)."""
    out = x.copy()
    base = x
    e = e - 1
    while e.any():
        odd = (e & 1).astype(bool)
        e = e >> 1
        if odd.any():
            np.multiply(out, base, out=out, where=odd[None, :, None])
        if e.any():
            base = base * base
    return out


def _log_comb(a, b):
    return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)


def _hyp_below_half(j, M, K, d) -> np.ndarray:
    """``P(X < j) + ½·P(X = j)`` for ``X ~ Hypergeometric(M, K, d)``, elementwise: the pmf summed
    over the side of ``j`` away from the mean, within 12 sd + 30 (beyond is below 1e-20)."""
    j = j.astype(float)
    mu = d * K / np.maximum(M, 1)
    sd = np.sqrt(np.maximum(d * (K / np.maximum(M, 1)) * (1 - K / np.maximum(M, 1))
                            * (M - d) / np.maximum(M - 1, 1), 0))
    W = int(np.ceil(12 * sd.max(initial=0) + 30))
    lo_side = j - 1 < mu                                 # sum below j, else 1 − sum from j up
    t = np.arange(W + 1)[None, :]
    i = np.where(lo_side[:, None], j[:, None] - 1 - t, j[:, None] + t)
    ok = (i >= np.maximum(0, d + K - M)[:, None]) & (i <= np.minimum(K, d)[:, None])
    ii = np.where(ok, i, 0)
    with np.errstate(invalid="ignore"):
        logpmf = _log_comb(K[:, None], ii) + _log_comb((M - K)[:, None], d[:, None] - ii) \
            - _log_comb(M, d)[:, None]
        pmf = np.where(ok, np.exp(logpmf), 0.0)
        okj = (j >= np.maximum(0, d + K - M)) & (j <= np.minimum(K, d))
        jj = np.where(okj, j, 0)
        pj = np.where(okj, np.exp(_log_comb(K, jj) + _log_comb(M - K, d - jj) - _log_comb(M, d)),
                      0.0)
    side = pmf.sum(axis=1)
    return np.where(lo_side, side, 1.0 - side) + 0.5 * pj


def _direct_levels(n, N, lprob, lj, lw, kap, qs, pseg, pg, act, alive, e):
    """Exact terms of the levels that have no rival (one winner answer, the rest cannot reach
    j) or exactly one rival answer (exponent 1): ``q·P(X_w = j)`` and ``q·P(X_w = j)·(P(X_g < j |
    X_w = j) + ½·P(X_g = j | X_w = j))``, hypergeometric. Returns (value per level, the alive
    levels still needing the Fourier sum)."""
    nl = len(lj)
    A = np.bincount(pseg, weights=act & alive[pseg], minlength=nl)
    esum = np.bincount(pseg, weights=np.where(act & alive[pseg], e, 0), minlength=nl)
    one = alive & (A <= 1) & (esum <= 1)
    val = np.zeros(nl)
    if not one.any():
        return val, alive
    lv = np.flatnonzero(one)
    Nl = N[lprob[lv]].astype(float)
    kw = kap[lw[lv]].astype(float)
    j = lj[lv].astype(float)
    ok = (j <= kw) & (n - j <= Nl - kw)
    with np.errstate(invalid="ignore"):
        logp = _log_comb(kw, j) + _log_comb(Nl - kw, n - j) - _log_comb(Nl, float(n))
    pw = np.where(ok, np.exp(np.where(ok, logp, -np.inf)), 0.0)
    rival = np.full(nl, -1)
    sel = act & alive[pseg]
    rival[pseg[sel]] = pg[sel]
    rv = rival[lv]
    cond = np.ones(len(lv))
    has = rv >= 0
    if has.any():
        lh_ = lv[has]
        kg = kap[rv[has]].astype(float)
        M, draws = (N[lprob[lh_]] - kap[lw[lh_]]).astype(float), (n - lj[lh_]).astype(float)
        cond[has] = _hyp_below_half(lj[lh_], M, kg, draws)
    val[lv] = np.where(pw > 0, qs[lw[lv]] * pw * np.nan_to_num(cond), 0.0)
    return val, alive & ~one
