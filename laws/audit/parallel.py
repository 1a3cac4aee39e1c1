"""Run an audit's many independent fits on several processes.

An audit makes tens of fits (every form on all runs, on each backtest fold, at two more Huber
deltas) and simulates tens of bootstraps for the proposals; they are independent, so they are
spread over :func:`default_workers` forked processes (largest first, so the slow forms do not
finish last), with BLAS single-threaded in each.  Results do not depend on the number of
workers: every fit has its own seed.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence

from laws import _blas

MIN_WORK = 2_000   # points x jobs below which one process is used (forking costs ~50 ms)


def default_workers(n_points: int, n_jobs: int) -> int:
    """2 processes on machines with >= 2 cores when the work is worth it, else 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 if cores >= 2 and n_points * n_jobs >= MIN_WORK else 1


def pmap(fn: Callable, items: Sequence, workers: int, cost: Sequence[float] | None = None) -> list:
    """``[fn(x) for x in items]``, on ``workers`` forked processes when > 1 (``fn`` must be a
    module-level function); ``cost`` orders the submission (largest first)."""
    items = list(items)
    if workers <= 1 or len(items) < 2 or "fork" not in mp.get_all_start_methods():
        return [fn(x) for x in items]
    order = sorted(range(len(items)), key=lambda i: -(cost[i] if cost is not None else 0.0))
    ctx = mp.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_blas.reset_lock) as ex:
        done = list(ex.map(fn, [items[i] for i in order]))
    out: list[Any] = [None] * len(items)
    for i, r in zip(order, done):
        out[i] = r
    return out


def fit_job(job: tuple) -> Any:
    """One fit: ``(form, frame, bootstrap, seed, settings)`` -> LawFit, or the error's text."""
    import laws

    form, frame, bootstrap, seed, settings = job
    try:
        return laws.fit(form, frame, bootstrap=bootstrap, seed=seed, workers=1, **settings)
    except laws.LawFitError as exc:
        return str(exc)


def fit_cost(job: tuple) -> float:
    """Rough cost of a fit job (points x (replicates + the grid's equivalent))."""
    import laws

    form, frame, bootstrap = job[:3]
    return len(frame) * (bootstrap + 50) * len(laws.get_form(form).params)
