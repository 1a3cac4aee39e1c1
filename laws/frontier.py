"""Compute-optimal frontiers: N*(C) and D*(C) three ways, each with bootstrap CIs.

* Approach 1 (:func:`frontier_envelope`): the lower envelope of loss vs FLOPs across runs (or
  loss curves); the run that wins at each FLOP value gives (N*, D*), then power laws in C.
* Approach 2 (:func:`frontier_isoflop`): per FLOP level a parabola of loss in log N; its minimum
  gives N*, then power laws in C.
* Approach 3 (:func:`frontier_closed_form`): the closed form of a ``chinchilla`` fit,
  ``N* = G (C/k)^a, D* = G^-1 (C/k)^b`` with ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``,
  ``G = (alpha A / (beta B))^(1/(alpha+beta))`` and ``C = k N D`` (k = 6 by default).

All three return a :class:`Frontier` (``N* = kN C^a``, ``D* = kD C^b``). Bootstrap resampling is
vectorised: a replicate is a vector of multinomial counts (weights) over the points.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from laws.validate import as_frame, boot_ci, err, flops_column, weighted_line

__all__ = ["Frontier", "frontier_envelope", "frontier_isoflop", "frontier_closed_form",
           "compute_optimal", "extrapolation_error"]

_NAMES = ("a", "log_kN", "b", "log_kD")


@dataclass
class Frontier:
    """A compute-optimal frontier ``N*(C) = exp(log_kN)·C^a``, ``D*(C) = exp(log_kD)·C^b``.

    ``ci`` maps ``a, b, kN, kD`` to percentile intervals (empty without bootstrap); ``boot``
    holds the successful replicates as rows ``(a, log_kN, b, log_kD)``; ``points`` the optimal
    points the power laws were fitted to (C, N, D, loss); ``flops_range`` the FLOPs covered by
    the data (predictions outside it are extrapolations); ``notes`` what was skipped and why.
    """

    approach: str
    a: float
    log_kN: float
    b: float
    log_kD: float
    ci: dict = field(default_factory=dict)
    points: pd.DataFrame | None = None
    boot: np.ndarray | None = None
    n_boot: int = 0
    flops_range: tuple[float, float] | None = None
    level: float = 0.95
    notes: list[str] = field(default_factory=list)

    def N_opt(self, C: Any) -> np.ndarray:
        """Compute-optimal parameter count at FLOPs ``C``."""
        return np.exp(self.log_kN + self.a * np.log(np.asarray(C, dtype=float)))

    def D_opt(self, C: Any) -> np.ndarray:
        """Compute-optimal token count at FLOPs ``C``."""
        return np.exp(self.log_kD + self.b * np.log(np.asarray(C, dtype=float)))

    def predict(self, C: Any) -> pd.DataFrame:
        """Table of ``C, N, D`` (and ``N_lo, N_hi, D_lo, D_hi`` bands when bootstrapped)."""
        C = np.atleast_1d(np.asarray(C, dtype=float))
        out = pd.DataFrame({"C": C, "N": self.N_opt(C), "D": self.D_opt(C)})
        if self.boot is not None and len(self.boot) >= 2:
            lc = np.log(C)[None, :]
            q = [(1 - self.level) / 2 * 100, (1 + self.level) / 2 * 100]
            n = np.exp(self.boot[:, 1:2] + self.boot[:, 0:1] * lc)
            d = np.exp(self.boot[:, 3:4] + self.boot[:, 2:3] * lc)
            out["N_lo"], out["N_hi"] = np.percentile(n, q, axis=0)
            out["D_lo"], out["D_hi"] = np.percentile(d, q, axis=0)
        return out

    def to_dict(self) -> dict:
        """JSON-ready summary (no bootstrap replicates)."""
        return {
            "approach": self.approach, "a": self.a, "b": self.b,
            "kN": float(np.exp(self.log_kN)), "kD": float(np.exp(self.log_kD)),
            "ci": {k: [float(v[0]), float(v[1])] for k, v in self.ci.items()},
            "n_boot": self.n_boot, "level": self.level,
            "flops_range": None if self.flops_range is None else [float(x) for x in self.flops_range],
            "points": None if self.points is None else self.points.to_dict(orient="list"),
            "notes": list(self.notes),
        }


def _make(approach, est, boot, n_boot, points, flops_range, level, notes) -> Frontier:
    ci = {}
    if boot is not None and len(boot) >= 2:
        ci = boot_ci(boot, _NAMES, level)
        ci["kN"] = tuple(float(np.exp(v)) for v in ci.pop("log_kN"))
        ci["kD"] = tuple(float(np.exp(v)) for v in ci.pop("log_kD"))
        if len(boot) < n_boot:
            notes.append(f"{n_boot - len(boot)} of {n_boot} bootstrap replicates failed and were dropped")
    elif n_boot:
        notes.append(f"only {0 if boot is None else len(boot)} of {n_boot} bootstrap replicates succeeded: no CIs")
    return Frontier(approach, *[float(v) for v in est], ci=ci, points=points,
                    boot=boot if boot is not None and len(boot) else None, n_boot=n_boot,
                    flops_range=flops_range, level=level, notes=notes)


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
                     level: float = 0.95) -> Frontier:
    """Approach 2: IsoFLOP parabolas in log N → minima N*(C) → power laws N*(C), D*(C).

    ``data`` has columns ``N, D, loss`` (optional ``C``, else ``flops_per_token·N·D``). Rows are
    grouped into FLOP levels (values within ``rtol`` of each other); each level with at least
    ``min_points`` distinct N gets a parabola ``loss = p(log N)``; its minimum gives N*, and
    ``D* = C / (flops_per_token·N*)``. Bootstrap replicates resample points within each level.
    """
    df = as_frame(data, ("N", "D", "loss"), "frontier_isoflop")
    df["C"] = flops_column(df, flops_per_token, "frontier_isoflop")
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
                     "D": float(np.exp(lc[i] - xm[0, i]) / flops_per_token), "loss": float(ym[0, i])})
    ld = lc[None, :] - xm - np.log(flops_per_token)
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


# ----------------------------------------------------------------------------- approach 3
def _chinchilla_params(fit: Any) -> dict:
    params = fit.params if hasattr(fit, "params") else fit
    if not isinstance(params, Mapping) or not {"A", "B", "alpha", "beta"} <= set(params):
        raise err("closed form needs chinchilla parameters A, B, alpha, beta (got "
                  f"{sorted(params) if isinstance(params, Mapping) else type(params).__name__})")
    return {k: float(v) for k, v in params.items()}


def _closed(A, B, alpha, beta, k):
    """Closed-form exponents and log-coefficients (arrays broadcast)."""
    s = alpha + beta
    log_g = (np.log(alpha * A) - np.log(beta * B)) / s
    a, b = beta / s, alpha / s
    return a, log_g - a * np.log(k), b, -log_g - b * np.log(k)


def frontier_closed_form(fit: Any, *, flops_per_token: float = 6.0, level: float = 0.95,
                         flops_range: tuple[float, float] | None = None) -> Frontier:
    """Approach 3: closed-form frontier of a ``chinchilla`` fit (or a dict of its params).

    CIs come from the fit's bootstrap replicates (``fit.boot_params``) when it has them.
    ``flops_range`` (the FLOPs of the data behind the fit) marks where the frontier is
    interpolated; it is taken from the fit when the fit records its inputs' ranges.
    """
    p = _chinchilla_params(fit)
    est = _closed(p["A"], p["B"], p["alpha"], p["beta"], flops_per_token)
    boot, n_boot, notes = None, 0, []
    bp = getattr(fit, "boot_params", None)
    if bp is not None and len(bp):
        names = _param_names(fit, len(p))
        bp = np.asarray(bp, float)
        cols = {n: bp[:, names.index(n)] for n in ("A", "B", "alpha", "beta")}
        with np.errstate(all="ignore"):
            boot = np.stack(_closed(cols["A"], cols["B"], cols["alpha"], cols["beta"],
                                    flops_per_token), axis=1)
        boot = boot[np.isfinite(boot).all(axis=1)]
        n_boot = len(bp)
    else:
        notes.append("fit has no bootstrap replicates (fit with bootstrap > 0 for CIs)")
    if flops_range is None:
        flops_range = _fit_flops_range(fit, flops_per_token)
    return _make("closed_form", est, boot, n_boot, None, flops_range, level, notes)


def _param_names(fit: Any, n: int) -> list[str]:
    try:
        from . import forms
        return list(forms()[getattr(fit, "form", "chinchilla")].params)
    except Exception:  # noqa: BLE001 - fall back to the documented order
        return ["E", "A", "B", "alpha", "beta"][:n]


def _fit_flops_range(fit: Any, k: float) -> tuple[float, float] | None:
    """FLOPs range of the data behind a fit, when the fit records input ranges."""
    rng = getattr(fit, "ranges", None) or getattr(fit, "input_ranges", None)
    if isinstance(rng, Mapping) and "N" in rng and "D" in rng:
        return (k * rng["N"][0] * rng["D"][0], k * rng["N"][1] * rng["D"][1])
    return None


def compute_optimal(fit: Any, C: Any, *, flops_per_token: float = 6.0) -> dict:
    """Compute-optimal ``N, D, loss`` at training FLOPs ``C`` (``C = flops_per_token·N·D``).

    Closed form for ``chinchilla`` fits (or a dict of its params); for other (N, D) forms
    (e.g. ``kaplan``) a bounded 1-D minimisation of ``fit.predict`` over log N. Scalars in →
    floats out; arrays in → arrays out.
    """
    Ca = np.asarray(C, dtype=float)
    if not np.all(np.isfinite(Ca)) or np.any(Ca <= 0):
        raise err(f"compute_optimal: C must be positive and finite, got {C!r}")
    if getattr(fit, "form", "chinchilla") == "chinchilla":
        p = _chinchilla_params(fit)
        a, lkn, b, lkd = _closed(p["A"], p["B"], p["alpha"], p["beta"], flops_per_token)
        N, D = np.exp(lkn + a * np.log(Ca)), np.exp(lkd + b * np.log(Ca))
        L = p.get("E", 0.0) + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
    else:
        from scipy.optimize import minimize_scalar

        def loss_at(logn, c):
            n = np.exp(logn)
            return float(fit.predict(pd.DataFrame({"N": [n], "D": [c / (flops_per_token * n)]}))[0])

        sol = [minimize_scalar(loss_at, bounds=(np.log(1e3), np.log(c / flops_per_token)),
                               args=(c,), method="bounded") for c in Ca.ravel()]
        N = np.exp([s.x for s in sol]).reshape(Ca.shape)
        D = Ca / (flops_per_token * N)
        L = np.array([s.fun for s in sol]).reshape(Ca.shape)
    if Ca.ndim == 0:
        return {"N": float(N), "D": float(D), "loss": float(L), "C": float(Ca)}
    return {"N": N, "D": D, "loss": L, "C": Ca}


def extrapolation_error(form: str, train: Any, test: Any, **kw) -> np.ndarray:
    """Fit ``form`` on ``train`` and return |pred − y| / |y| for every row of ``test``."""
    import laws

    fit = laws.fit(form, train, **kw)
    target = laws.forms()[form].target
    t = as_frame(test, (target,), "extrapolation_error")
    y = t[target].to_numpy(dtype=float)
    return np.abs(np.asarray(fit.predict(t), dtype=float) - y) / np.abs(y)
