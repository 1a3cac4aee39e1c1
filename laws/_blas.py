"""Keep OpenBLAS single-threaded while fitting (stdlib ctypes only).

Fits do many tiny BLAS calls (L-BFGS-B's updates, small mat-vecs).  OpenBLAS hands each to its
thread pool, whose threads spin-wait; on a shared 2-core machine that made L-BFGS-B ~13x
slower (measured).  :func:`single_thread` sets every loaded OpenBLAS (numpy's and scipy's
bundled copies) to one thread and restores the previous counts afterwards.
"""
from __future__ import annotations

import contextlib
import ctypes
import threading
from typing import Iterator

_SUFFIXES = ("", "64_", "_64")
_PREFIXES = ("openblas", "scipy_openblas")
_lock = threading.Lock()


def _libraries() -> list[tuple[ctypes.CDLL, str]]:
    """(library, symbol prefix) for each OpenBLAS mapped into this process."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                p = line.rsplit(None, 1)[-1]
                low = p.lower()
                if "openblas" in low and (".so" in low or low.endswith(".dylib")) and p not in paths:
                    paths.append(p)
    except OSError:
        return []
    out = []
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        for pre in _PREFIXES:
            for suf in _SUFFIXES:
                if hasattr(lib, f"{pre}_set_num_threads{suf}") and hasattr(lib, f"{pre}_get_num_threads{suf}"):
                    out.append((lib, (pre, suf)))
                    break
            else:
                continue
            break
    return out


def reset_lock() -> None:
    """Give this process a fresh lock (called in forked worker processes)."""
    global _lock
    _lock = threading.Lock()


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Context manager: OpenBLAS at 1 thread inside, previous thread counts restored after."""
    with _lock:
        libs = _libraries()
        saved = []
        for lib, (pre, suf) in libs:
            get = getattr(lib, f"{pre}_get_num_threads{suf}")
            setn = getattr(lib, f"{pre}_set_num_threads{suf}")
            saved.append((setn, int(get())))
            setn(1)
    try:
        yield
    finally:
        with _lock:
            for setn, n in saved:
                setn(n)
