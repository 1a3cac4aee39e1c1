"""Approaches 1 and 2 to the compute-optimal frontier, from the runs themselves.

* :func:`frontier_envelope` (approach 1): the lower envelope of loss vs FLOPs across runs (or
  loss curves); the run that wins at each FLOP value gives (N*, D*), then power laws in C.
* :func:`frontier_isoflop` (approach 2): per FLOP level a parabola of loss in log N; its
  minimum gives N*, then power laws in C.

Both read the exact FLOPs from column ``C`` when the data has it (else ``flops_per_token·N·D``).
Bootstrap resampling is vectorised: a replicate is a vector of multinomial counts over points.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from laws.frontier.base import Frontier, _make
from laws.frontier.compute import ComputeModel, as_compute
from laws.validate import as_frame, err, flops_column, weighted_line


# ----------------------------------------------------------------------------- approach 1
def frontier_envelope(data: Any, *, flops_per_token: float = 6.0, run: str | None = None,
                      n_grid: int = 200, bootstrap: int = 0, seed: int = 0,
                      level: float = 0.95) -> Frontier:
    """Approach 1: lower envelope of loss vs FLOPs across runs → power laws N*(C), D*(C).

    ``data`` has columns ``N, D, loss`` and optionally ``C`` (else ``C = flops_per_token·N·D``)
    and a run column (``run``, ``run_id`` or the name given as ``run``): rows of one run form a
    loss-vs-FLOPs curve (interpolated linearly in log C). Without a run column the rows of each
    distinct N form one curve (``D`` is the tokens seen at that point). At each of ``n_grid``
    log-spaced FLOP values (plus every observed C when there are few) the curve with the lowest loss wins; the winners' (C, N, D) are fitted with
    ``log N = log kN + a log C`` (and likewise D). Bootstrap replicates resample whole runs.
    """
    df = as_frame(data, ("N", "D", "loss"), "frontier_envelope")
    df["C"] = flops_column(df, flops_per_token, "frontier_envelope")
    run = run or next((c for c in ("run", "run_id") if c in df.columns), None)
    key = df[run] if run else df["N"]
    groups = [g.sort_values("C") for _, g in df.groupby(key, sort=True)]
    lc_all = np.log(df["C"].to_numpy())
    grid = np.linspace(lc_all.min(), lc_all.max(), n_grid)
    if np.unique(lc_all).size <= 4 * n_grid:  # few points: evaluate at every observed C too
        grid = np.union1d(grid, lc_all)
    G = len(groups)
    if G < 2:
        raise err("frontier_envelope: need at least 2 runs (or 2 distinct N), got %d" % G)
    loss = np.full((len(grid), G), np.inf)
    logn = np.zeros((len(grid), G))
    logd = np.zeros((len(grid), G))
    for j, g in enumerate(groups):
        x = np.log(g["C"].to_numpy())
        inside = (grid >= x[0] - 1e-12) & (grid <= x[-1] + 1e-12)
        gx = grid[inside]
        loss[inside, j] = np.interp(gx, x, g["loss"].to_numpy())
        logn[inside, j] = np.interp(gx, x, np.log(g["N"].to_numpy()))
        logd[inside, j] = np.interp(gx, x, np.log(g["D"].to_numpy()))

    def solve(present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fits for a (B, G) mask of present runs → ((B, 4) estimates, (B,) ok)."""
        masked = np.where(present[:, None, :], loss[None], np.inf)  # (B, P, G)
        win = masked.argmin(axis=2)
        ok = np.isfinite(np.take_along_axis(masked, win[..., None], 2)[..., 0])
        ln = logn[np.arange(len(grid))[None, :], win]
        ld = logd[np.arange(len(grid))[None, :], win]
        w = ok.astype(float)
        a, ka, good_a = weighted_line(grid, ln, w)
        b, kb, good_b = weighted_line(grid, ld, w)
        srt = np.sort(np.where(ok, win, -1), axis=1)
        distinct = (np.diff(srt, axis=1) > 0).sum(1) + 1 - (srt[:, 0] < 0)
        return np.stack([a, ka, b, kb], axis=1), good_a & good_b & (distinct >= 2)

    est, good = solve(np.ones((1, G), bool))
    if not good[0]:
        raise err("frontier_envelope: a single run is optimal at every FLOP value; need runs of "
                  "different sizes whose loss curves cross")
    win = np.where(np.isfinite(loss), loss, np.inf).argmin(axis=1)
    P = np.arange(len(grid))
    points = pd.DataFrame({"C": np.exp(grid), "N": np.exp(logn[P, win]), "D": np.exp(logd[P, win]),
                           "loss": loss[P, win]})
    boot = None
    if bootstrap:
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(G, np.full(G, 1 / G), size=bootstrap)
        parts = []
        chunk = max(1, int(2e7 // (len(grid) * G)))  # bound memory: (chunk, P, G) floats
        for s in range(0, bootstrap, chunk):
            e, ok = solve(counts[s:s + chunk] > 0)
            parts.append(e[ok])
        boot = np.concatenate(parts)
    return _make("envelope", est[0], boot, bootstrap, points,
                 (float(np.exp(lc_all.min())), float(np.exp(lc_all.max()))), level, [])


# ----------------------------------------------------------------------------- approach 2
def isoflop_levels(C: np.ndarray, rtol: float = 0.05) -> np.ndarray:
    """Group FLOP values into levels: sorted, a new level starts > ``rtol`` above the first."""
    order = np.argsort(C)
    labels = np.empty(len(C), int)
    lvl, start = -1, None
    for i in order:
        if start is None or C[i] > start * (1 + rtol):
            lvl, start = lvl + 1, C[i]
        labels[i] = lvl
    return labels


def _parabola_minima(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Weighted quadratic fits ``y = p2 x² + p1 x + p0`` for each row of weights ``w`` (B, n).

    Returns (x_min, y_min, ok) arrays of length B; ok is False when the parabola opens down or
    fewer than 3 distinct x carry weight.
    """
    X = np.stack([x ** k for k in range(5)])  # (5, n)
    S = w @ X.T  # (B, 5)
    T = w @ (X[:3] * y).T  # (B, 3)
    M = np.stack([S[:, [0, 1, 2]], S[:, [1, 2, 3]], S[:, [2, 3, 4]]], axis=1)  # (B, 3, 3)
    distinct = ((w > 0)[:, :, None] & (x[None, :, None] == np.unique(x)[None, None, :])).any(1).sum(1)
    ok = distinct >= 3
    p = np.zeros((len(w), 3))
    if ok.any():
        p[ok] = np.linalg.solve(M[ok], T[ok][..., None])[..., 0]
    ok &= p[:, 2] > 0
    xm = np.where(ok, -p[:, 1] / (2 * np.where(ok, p[:, 2], 1)), np.nan)
    ym = p[:, 0] + p[:, 1] * xm + p[:, 2] * xm ** 2
    return xm, ym, ok


def frontier_isoflop(data: Any, *, flops_per_token: float = 6.0, rtol: float = 0.05,
                     min_points: int = 3, bootstrap: int = 0, seed: int = 0,
                     level: float = 0.95, compute: Any = None) -> Frontier:
    """Approach 2: IsoFLOP parabolas in log N → minima N*(C) → power laws N*(C), D*(C).

    ``data`` has columns ``N, D, loss`` (optional ``C``, else ``flops_per_token·N·D``). Rows are
    grouped into FLOP levels (values within ``rtol`` of each other); each level with at least
    ``min_points`` distinct N gets a parabola ``loss = p(log N)``; its minimum gives N*, and
    ``D* = C / (flops_per_token·N*)``. Bootstrap replicates resample points within each level.
    """
    df = as_frame(data, ("N", "D", "loss"), "frontier_isoflop")
    had_c = "C" in df.columns
    df["C"] = flops_column(df, flops_per_token, "frontier_isoflop")
    cm = (as_compute(compute, flops_per_token) if compute is not None else
          ComputeModel.fit(df["N"], df["D"], df["C"] if had_c else None, k=flops_per_token))
    df["level"] = isoflop_levels(df["C"].to_numpy(), rtol)
    notes: list[str] = []
    levels = []
    for lvl, g in df.groupby("level"):
        nd = g["N"].nunique()
        if nd < min_points:
            notes.append(f"FLOP level {g['C'].median():.3g} skipped: {nd} distinct N < {min_points}")
            continue
        levels.append(g)
    if len(levels) < 2:
        raise err(f"frontier_isoflop: need at least 2 FLOP levels with >= {min_points} distinct N "
                  f"each, got {len(levels)} (levels are C values within rtol={rtol} of each other)")
    rng = np.random.default_rng(seed)
    B = 1 + bootstrap
    lc = np.zeros(len(levels))
    xm = np.zeros((B, len(levels)))
    ym = np.zeros((B, len(levels)))
    ok = np.zeros((B, len(levels)), bool)
    rows = []
    for i, g in enumerate(levels):
        x = np.log(g["N"].to_numpy())
        mu = x.mean()
        n = len(g)
        w = np.ones((1, n))
        if bootstrap:
            w = np.vstack([w, rng.multinomial(n, np.full(n, 1 / n), size=bootstrap)])
        m, y, k = _parabola_minima(x - mu, g["loss"].to_numpy(), w.astype(float))
        xm[:, i], ym[:, i], ok[:, i] = m + mu, y, k
        lc[i] = np.log(g["C"]).mean()
        if not k[0]:
            notes.append(f"FLOP level {np.exp(lc[i]):.3g} skipped: parabola has no minimum")
            continue
        if not x.min() <= xm[0, i] <= x.max():
            notes.append(f"FLOP level {np.exp(lc[i]):.3g}: minimum N={np.exp(xm[0, i]):.3g} lies "
                         f"outside the sampled N range (extrapolated)")
        rows.append({"C": float(np.exp(lc[i])), "N": float(np.exp(xm[0, i])),
                     "D": float(cm.tokens(np.exp(xm[0, i]), np.exp(lc[i]))), "loss": float(ym[0, i])})
    with np.errstate(all="ignore"):
        ld = np.log(cm.tokens(np.exp(xm), np.exp(lc)[None, :]))
    a, ka, ga = weighted_line(lc, np.where(ok, xm, 0.0), ok.astype(float))
    b, kb, gb = weighted_line(lc, np.where(ok, ld, 0.0), ok.astype(float))
    est = np.stack([a, ka, b, kb], axis=1)
    good = ga & gb
    if not good[0]:
        raise err("frontier_isoflop: fewer than 2 FLOP levels have a parabola with a minimum")
    boot = est[1:][good[1:]] if bootstrap else None
    C = df["C"].to_numpy()
    return _make("isoflop", est[0], boot, bootstrap, pd.DataFrame(rows),
                 (float(C.min()), float(C.max())), level, notes)
