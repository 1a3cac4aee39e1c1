"""Approach 3: the compute-optimal frontier of a fitted law, at the FLOPs the runs really cost.

For a ``chinchilla`` fit with the ``k·N·D`` convention the optimum has a closed form,
``N* = G (C/k)^a, D* = G^-1 (C/k)^b`` with ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``,
``G = (alpha A / (beta B))^(1/(alpha+beta))``.  With the exact per-token cost of a
:class:`~laws.frontier.compute.ComputeModel` (attention and the output layer included), or for
any other (N, D) loss form, :func:`optimum` minimises the law along ``C = c(N)·D``
numerically: a log-spaced grid of N (tokens per parameter from 1e-2 to 1e6), then parabolic
refinement, vectorised over bootstrap replicates.  An optimum on the grid's edge means the law
does not locate N* at that C (``edge`` in the results).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from laws.frontier.base import Frontier, _make
from laws.frontier.compute import ComputeModel, as_compute
from laws.validate import as_frame, err, weighted_line

RATIO = (1e-2, 1e6)      # tokens per parameter searched for the optimum
N_GRID = 241             # grid points in log N (steps of ~4.7 %), then parabolic refinement


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


def _is_closed(fit: Any, cm: ComputeModel) -> bool:
    return getattr(fit, "form", "chinchilla") == "chinchilla" and cm.rho == 0


def _form_thetas(fit: Any, boot: bool) -> tuple[Any, np.ndarray, dict]:
    """(form, internal thetas (R, p): the estimate first, then the replicates, options)."""
    from laws.forms import get_form

    form = get_form(getattr(fit, "form", "chinchilla"))
    params = fit.params if hasattr(fit, "params") else fit
    rows = [form.from_params({k: float(v) for k, v in params.items()})]
    bp = getattr(fit, "boot_params", None)
    if boot and bp is not None:
        for r in np.asarray(bp, float):
            with np.errstate(all="ignore"):
                try:
                    rows.append(form.from_params(dict(zip(form.params, r))))
                except (ValueError, OverflowError):
                    rows.append(np.full(len(form.params), np.nan))
    return form, np.array(rows, float), dict(getattr(fit, "options", {}) or {})


def _rowwise(form: Any, thetas: np.ndarray, N: np.ndarray, D: np.ndarray, opts: dict) -> np.ndarray:
    """Fit-space model value of row r's parameters at row r's points: (R, K) -> (R, K)."""
    R, K = N.shape
    out = np.empty((R, K))
    B = 64
    for s in range(0, R, B):
        th, n, d = thetas[s:s + B], N[s:s + B], D[s:s + B]
        b = len(th)
        prep = form.prepare({"N": n.ravel(), "D": d.ravel()}, opts)
        with np.errstate(all="ignore"):
            f = form.model(th, prep).reshape(b, b, K)
        out[s:s + b] = f[np.arange(b), np.arange(b)]
    return np.where(np.isfinite(out), out, np.inf)


def optimum(form: Any, thetas: np.ndarray, C: Any, compute: ComputeModel,
            opts: dict | None = None) -> dict[str, np.ndarray]:
    """Loss-minimising (N, D) along ``compute.flops(N, D) = C`` for each parameter row.

    ``thetas`` (R, p) are internal parameter vectors of ``form``; returns arrays (R, len(C)):
    ``N, D, loss`` (natural units) and ``edge`` (optimum on the searched range's edge).
    """
    opts = dict(opts or {})
    C = np.atleast_1d(np.asarray(C, float))
    R = len(thetas)
    out = {k: np.full((R, len(C)), np.nan) for k in ("N", "D", "loss")}
    out["edge"] = np.zeros((R, len(C)), bool)
    bad = ~np.all(np.isfinite(thetas), axis=1)
    th = np.where(bad[:, None], 0.0, thetas)
    for j, c in enumerate(C):
        mid = np.sqrt(c / (compute.k * 20.0))
        k_eff = float(compute.per_token(mid) / mid)
        lN = np.linspace(0.5 * np.log(c / (k_eff * RATIO[1])), 0.5 * np.log(c / (k_eff * RATIO[0])), N_GRID)
        Ns = np.exp(lN)
        prep = form.prepare({"N": Ns, "D": compute.tokens(Ns, c)}, opts)
        with np.errstate(all="ignore"):
            f = form.model(th, prep)
        f = np.where(np.isfinite(f), f, np.inf)
        i = np.argmin(f, axis=1)
        edge = (i == 0) | (i == N_GRID - 1)
        x = lN[np.clip(i, 1, N_GRID - 2)]
        h = lN[1] - lN[0]
        for _ in range(3):                       # parabolic refinement, shrinking the stencil
            xs = x[:, None] + h * np.array([-1.0, 0.0, 1.0])
            ns = np.exp(xs)
            v = _rowwise(form, th, ns, compute.tokens(ns, c), opts)
            den = v[:, 0] - 2 * v[:, 1] + v[:, 2]
            with np.errstate(all="ignore"):
                step = np.where(den > 0, 0.5 * (v[:, 0] - v[:, 2]) / den, np.sign(v[:, 0] - v[:, 2]))
            x = x + h * np.clip(np.nan_to_num(step), -1.0, 1.0)
            h /= 4.0
        x = np.where(edge, lN[i], x)
        n = np.exp(x)
        d = compute.tokens(n, c)
        val = _rowwise(form, th, n[:, None], d[:, None], opts)[:, 0]
        with np.errstate(all="ignore"):
            loss = form.to_natural(val)
        ok = ~bad & np.isfinite(loss)
        out["N"][ok, j], out["D"][ok, j], out["loss"][ok, j] = n[ok], d[ok], loss[ok]
        out["edge"][:, j] = edge & ~bad
    return out


def frontier_closed_form(fit: Any, *, flops_per_token: float = 6.0, level: float = 0.95,
                         flops_range: tuple[float, float] | None = None,
                         compute: Any = None) -> Frontier:
    """Approach 3: the frontier of a fitted law (or a dict of chinchilla params).

    ``chinchilla`` with ``compute=None`` (``C = flops_per_token·N·D``): the closed form.  With a
    :class:`~laws.frontier.compute.ComputeModel` (exact FLOPs) or another (N, D) form: the
    numeric optimum at 16 FLOP values across ``flops_range`` and power laws through them
    (``approach = "law"``).  CIs come from the fit's bootstrap replicates when it has them.
    ``flops_range`` (the FLOPs of the data behind the fit) marks where the frontier is
    interpolated; by default it is taken from the fit's recorded input ranges.
    """
    cm = as_compute(compute, flops_per_token)
    if flops_range is None:
        flops_range = _fit_flops_range(fit, cm)
    if _is_closed(fit, cm):
        return _closed_frontier(fit, cm.k, level, flops_range)
    notes: list[str] = []
    if flops_range is None:
        flops_range = (1e18, 1e24)
        notes.append("the fit records no input ranges: frontier fitted over 1e18-1e24 FLOPs")
    C = np.geomspace(flops_range[0], flops_range[1], 16) if flops_range[1] > flops_range[0] * 1.01 \
        else np.geomspace(flops_range[0] / 10, flops_range[1] * 10, 16)
    form, thetas, opts = _form_thetas(fit, boot=True)
    opt = optimum(form, thetas, C, cm, opts)
    lc = np.log(C)
    ok = np.isfinite(opt["N"]) & ~opt["edge"]
    with np.errstate(all="ignore"):
        a, ka, ga = weighted_line(lc, np.where(ok, np.log(opt["N"]), 0.0), ok.astype(float))
        b, kb, gb = weighted_line(lc, np.where(ok, np.log(opt["D"]), 0.0), ok.astype(float))
    est = np.stack([a, ka, b, kb], axis=1)
    good = ga & gb & np.all(np.isfinite(est), axis=1)
    if not good[0]:
        raise err("frontier: the law has no interior optimum N* at the data's FLOPs "
                  "(it keeps improving towards the searched range's edge)")
    n_boot = len(thetas) - 1
    boot = est[1:][good[1:]] if n_boot else None
    if not n_boot:
        notes.append("fit has no bootstrap replicates (fit with bootstrap > 0 for CIs)")
    if cm.exact:
        notes.append(f"FLOPs: {cm.source}")
    pts = pd.DataFrame({"C": C, "N": opt["N"][0], "D": opt["D"][0], "loss": opt["loss"][0]})
    return _make("law", est[0], boot, n_boot, pts, flops_range, level, notes)


def _closed_frontier(fit: Any, k: float, level: float, flops_range) -> Frontier:
    p = _chinchilla_params(fit)
    est = _closed(p["A"], p["B"], p["alpha"], p["beta"], k)
    boot, n_boot, notes = None, 0, []
    bp = getattr(fit, "boot_params", None)
    if bp is not None and len(bp):
        names = _param_names(fit, len(p))
        bp = np.asarray(bp, float)
        cols = {n: bp[:, names.index(n)] for n in ("A", "B", "alpha", "beta")}
        with np.errstate(all="ignore"):
            boot = np.stack(_closed(cols["A"], cols["B"], cols["alpha"], cols["beta"], k), axis=1)
        boot = boot[np.isfinite(boot).all(axis=1)]
        n_boot = len(bp)
    else:
        notes.append("fit has no bootstrap replicates (fit with bootstrap > 0 for CIs)")
    return _make("closed_form", est, boot, n_boot, None, flops_range, level, notes)


def _param_names(fit: Any, n: int) -> list[str]:
    try:
        from laws.forms import forms
        return list(forms()[getattr(fit, "form", "chinchilla")].params)
    except Exception:  # noqa: BLE001 - fall back to the documented order
        return ["E", "A", "B", "alpha", "beta"][:n]


def _fit_flops_range(fit: Any, cm: ComputeModel) -> tuple[float, float] | None:
    """FLOPs range of the data behind a fit, when the fit records input ranges."""
    rng = getattr(fit, "ranges", None) or getattr(fit, "input_ranges", None)
    if isinstance(rng, Mapping) and "N" in rng and "D" in rng:
        return (float(cm.flops(rng["N"][0], rng["D"][0])), float(cm.flops(rng["N"][1], rng["D"][1])))
    return None


def compute_optimal(fit: Any, C: Any, *, flops_per_token: float = 6.0, compute: Any = None) -> dict:
    """Compute-optimal ``N, D, loss`` at training FLOPs ``C``.

    ``C = flops_per_token·N·D`` by default, or the exact cost of ``compute`` (a
    :class:`~laws.frontier.compute.ComputeModel`).  Closed form for ``chinchilla`` fits (or a
    dict of its params) under ``k·N·D``; otherwise :func:`optimum`. Scalars in → floats out;
    arrays in → arrays out.
    """
    Ca = np.asarray(C, dtype=float)
    if not np.all(np.isfinite(Ca)) or np.any(Ca <= 0):
        raise err(f"compute_optimal: C must be positive and finite, got {C!r}")
    cm = as_compute(compute, flops_per_token)
    if _is_closed(fit, cm):
        p = _chinchilla_params(fit)
        a, lkn, b, lkd = _closed(p["A"], p["B"], p["alpha"], p["beta"], cm.k)
        N, D = np.exp(lkn + a * np.log(Ca)), np.exp(lkd + b * np.log(Ca))
        L = p.get("E", 0.0) + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
    else:
        form, thetas, opts = _form_thetas(fit, boot=False)
        opt = optimum(form, thetas, Ca.ravel(), cm, opts)
        N, D, L = (opt[k][0].reshape(Ca.shape) for k in ("N", "D", "loss"))
    if Ca.ndim == 0:
        return {"N": float(N), "D": float(D), "loss": float(L), "C": float(Ca)}
    return {"N": N, "D": D, "loss": L, "C": Ca}


def frontier_table(fit: Any, C: Any, *, compute: Any = None, flops_per_token: float = 6.0,
                   level: float = 0.95) -> pd.DataFrame:
    """Compute-optimal allocation at each FLOP value in ``C``, with bootstrap bands.

    Columns ``C`` (the FLOPs, exact under ``compute``), ``C_6nd`` (6·N*·D* of that allocation),
    ``N, D, loss`` of the estimate, ``N_lo, N_hi, D_lo, D_hi, loss_lo, loss_hi`` (percentile
    band over the fit's replicates whose optimum lies inside the searched range), ``edge``
    (the estimate's optimum is on the range's edge) and ``replicates_ok``.
    """
    C = np.atleast_1d(np.asarray(C, float))
    cm = as_compute(compute, flops_per_token)
    form, thetas, opts = _form_thetas(fit, boot=True)
    opt = optimum(form, thetas, C, cm, opts)
    out = pd.DataFrame({"C": C, "N": opt["N"][0], "D": opt["D"][0], "loss": opt["loss"][0]})
    out["C_6nd"] = 6.0 * out["N"] * out["D"]
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    good = np.isfinite(opt["N"][1:]) & ~opt["edge"][1:]
    for k in ("N", "D", "loss"):
        vals = np.where(good, opt[k][1:], np.nan)
        with np.errstate(all="ignore"):
            lo, hi = (np.nanpercentile(vals, q, axis=0) if good.any() and len(vals) >= 2
                      else (np.full(len(C), np.nan), np.full(len(C), np.nan)))
        out[f"{k}_lo"], out[f"{k}_hi"] = lo, hi
    out["edge"] = opt["edge"][0]
    out["replicates_ok"] = good.sum(axis=0)
    return out


def extrapolation_error(form: str, train: Any, test: Any, **kw) -> np.ndarray:
    """Fit ``form`` on ``train`` and return |pred − y| / |y| for every row of ``test``."""
    import laws

    fit = laws.fit(form, train, **kw)
    target = laws.forms()[form].target
    t = as_frame(test, (target,), "extrapolation_error")
    y = t[target].to_numpy(dtype=float)
    return np.abs(np.asarray(fit.predict(t), dtype=float) - y) / np.abs(y)
