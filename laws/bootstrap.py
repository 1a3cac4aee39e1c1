"""Bootstrap replicates for :func:`laws.fit`: multinomial reweighting, warm starts, 2 processes.

Each replicate resamples the fitted points with replacement (as multinomial counts used as
weights, so the form's precomputed features are shared) and is re-fitted from the full-data
optimum.  A chunk of replicates is solved *at once* by a batched Levenberg-Marquardt on
Huber's IRLS curvature (:func:`batched_lm`), which reaches the same optima as one L-BFGS-B per
replicate (checked in tests) at a fraction of the cost.  Replicates are drawn in chunks with
per-chunk seeds, so results do not depend on how many worker processes run them.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from laws import _blas
from laws._blas import single_thread

CHUNK = 500                   # max replicates per chunk
CHUNK_CELLS = 4_000_000       # max replicates x width x params per chunk (memory)
PARALLEL_MIN_WORK = 300_000   # replicates x points below which one process is used

_PROBLEM: Any = None


def _init(problem: Any) -> None:
    global _PROBLEM
    _PROBLEM = problem
    _blas.reset_lock()   # a forked child must not inherit a lock held by another parent thread


def _chunk(args: tuple[np.random.SeedSequence, int, np.ndarray]) -> np.ndarray:
    seq, size, theta0 = args
    prob = _PROBLEM
    n = prob.y.shape[-1]
    W = np.random.default_rng(seq).multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)
    with single_thread():
        return batched_lm(prob, theta0, W)[0]


def chunk_size(problem: Any) -> int:
    """Replicates per chunk, so one chunk's arrays stay around CHUNK_CELLS numbers."""
    prep = problem.prep
    width = max([problem.y.shape[-1]] + [np.size(v) for v in (prep.values() if isinstance(prep, dict) else [])])
    return int(np.clip(CHUNK_CELLS // max(1, width * len(problem.form.params)), 8, CHUNK))


def default_workers(n_boot: int, n_points: int) -> int:
    """2 processes for big jobs on machines with >= 2 cores, else 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 if cores >= 2 and n_boot * n_points >= PARALLEL_MIN_WORK else 1


def replicate_thetas(problem: Any, theta0: np.ndarray, n_boot: int, seed: int,
                     workers: int | None = None) -> np.ndarray:
    """Internal-space parameter vectors (n_boot, p) of ``n_boot`` bootstrap replicates."""
    cs = chunk_size(problem)
    sizes = [min(cs, n_boot - s) for s in range(0, n_boot, cs)]
    seqs = np.random.SeedSequence(int(seed)).spawn(len(sizes))
    jobs = [(q, s, np.asarray(theta0, float)) for q, s in zip(seqs, sizes)]
    if workers is None:
        workers = default_workers(n_boot, problem.y.shape[-1])
    if workers <= 1 or len(jobs) == 1:
        _init(problem)
        parts = [_chunk(j) for j in jobs]
    else:
        methods = mp.get_all_start_methods()
        ctx = mp.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                 initializer=_init, initargs=(problem,)) as ex:
            parts = list(ex.map(_chunk, jobs))
    return np.concatenate(parts)


def run_bootstrap(problem: Any, theta0: np.ndarray, n_boot: int, seed: int,
                  workers: int | None = None) -> np.ndarray:
    """Public-parameter replicates (n_boot, n_params) in the form's parameter order."""
    thetas = replicate_thetas(problem, theta0, n_boot, seed, workers)
    form = problem.form
    return np.array([[v for v in form.to_params(t).values()] for t in thetas])


def batched_lm(problem: Any, theta0: np.ndarray, W: np.ndarray, max_iter: int = 200,
               rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Minimise every weighted replicate objective at once (Levenberg-Marquardt on IRLS curvature).

    ``W`` (R, n) are replicate weights; replicates start at ``theta0`` ((p,) for all, or (R, p)).
    Each iteration
    takes a damped Gauss-Newton step for every active replicate with Huber's IRLS weights
    (1/delta inside, 1/|r| outside), accepts it only where the objective drops, and adapts the
    damping per replicate.  Returns thetas (R, p), projected onto the form's bounds.
    """
    form, y, loss, delta = problem.form, problem.y, problem.loss, problem.delta
    lo = np.array([-np.inf if b[0] is None else b[0] for b in problem.bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in problem.bounds])
    R, p = W.shape[0], np.shape(theta0)[-1]
    Wn = W / W.sum(1, keepdims=True)
    theta = np.clip(np.broadcast_to(theta0, (R, p)), lo, hi).astype(float)

    def evaluate(th, wn):
        with np.errstate(all="ignore"):
            f, J = form.model_jac(th, problem.prep)
            r = f - y
            a = np.abs(r)
            if loss == "huber":
                quad = a <= delta
                h = np.where(quad, 0.5 * r * r / delta, a - 0.5 * delta)
                dh = np.where(quad, r / delta, np.sign(r))
                om = np.where(quad, 1.0 / delta, 1.0 / np.maximum(a, delta))
            else:
                h, dh, om = 0.5 * r * r, r, np.ones_like(r)
            obj = np.einsum("rn,rn->r", h, wn)
        obj = np.where(np.isfinite(obj), obj, np.inf)
        Jt = np.swapaxes(J, 1, 2)                                   # (r, p, n)
        grad = np.matmul(Jt, (dh * wn)[:, :, None])[:, :, 0]
        return obj, grad, np.matmul(Jt * (om * wn)[:, None, :], J)

    obj, g, H = evaluate(theta, Wn)
    mu = np.full(R, 1e-3)
    active = np.ones(R, bool)
    eye = np.eye(p)
    for _ in range(max_iter):
        ia = np.flatnonzero(active)
        if ia.size == 0:
            break
        Ha = H[ia]
        d = np.einsum("rii->ri", Ha)
        A = Ha + (mu[ia, None] * np.maximum(d, 1e-12))[:, :, None] * eye + 1e-14 * eye
        try:
            step = np.linalg.solve(A, -g[ia][:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = -g[ia] / np.maximum(d, 1e-12)
        cand = np.clip(theta[ia] + step, lo, hi)
        oc, gc, Hc = evaluate(cand, Wn[ia])
        ok = oc < obj[ia]
        gain = np.where(ok, (obj[ia] - oc) / np.maximum(np.abs(obj[ia]), 1e-300), 0.0)
        acc = ia[ok]
        theta[acc], obj[acc], g[acc], H[acc] = cand[ok], oc[ok], gc[ok], Hc[ok]
        mu[acc] = np.maximum(mu[acc] * 0.3, 1e-12)
        mu[ia[~ok]] *= 10.0
        tiny = np.max(np.abs(step) / (1.0 + np.abs(theta[ia])), axis=1) < 1e-10
        done = (ok & ((gain < rtol) | tiny)) | (mu[ia] > 1e8) | ~np.all(np.isfinite(cand), 1)
        active[ia[done]] = False
    return theta, obj
