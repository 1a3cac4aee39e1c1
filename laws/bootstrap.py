"""Bootstrap replicates for :func:`laws.fit`: multinomial reweighting, warm starts, 2 processes.

Each replicate resamples the fitted points with replacement (as multinomial counts used as
weights, so the form's precomputed features are shared) and runs one L-BFGS-B from the
full-data optimum.  Replicates are drawn in fixed chunks with per-chunk seeds, so results do
not depend on how many worker processes run them.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

CHUNK = 250                   # replicates per chunk (fixed: results independent of workers)
PARALLEL_MIN_WORK = 300_000   # replicates x points below which one process is used

_PROBLEM: Any = None


def _init(problem: Any) -> None:
    global _PROBLEM
    _PROBLEM = problem


def _chunk(args: tuple[np.random.SeedSequence, int, np.ndarray]) -> np.ndarray:
    seq, size, theta0 = args
    prob = _PROBLEM
    n = prob.y.shape[-1]
    rng = np.random.default_rng(seq)
    out = np.empty((size, theta0.size))
    for i in range(size):
        w = rng.multinomial(n, np.full(n, 1.0 / n)).astype(float)
        out[i] = prob.local(theta0, w)[0]
    return out


def default_workers(n_boot: int, n_points: int) -> int:
    """2 processes for big jobs on machines with >= 2 cores, else 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 if cores >= 2 and n_boot * n_points >= PARALLEL_MIN_WORK and n_boot > CHUNK else 1


def replicate_thetas(problem: Any, theta0: np.ndarray, n_boot: int, seed: int,
                     workers: int | None = None) -> np.ndarray:
    """Internal-space parameter vectors (n_boot, p) of ``n_boot`` bootstrap replicates."""
    sizes = [min(CHUNK, n_boot - s) for s in range(0, n_boot, CHUNK)]
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
