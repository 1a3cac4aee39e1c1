"""Answer verifiers (a registry): ``verify(prediction, reference) -> bool``.

* ``exact`` — equal after trimming whitespace.
* ``numeric`` — both parse as numbers (``1,234``, ``-3.5``, ``2/3``, ``\\frac{2}{3}``, ``$5``,
  ``40%``) and agree within a relative tolerance of 1e-6.
* ``math`` — the ``math-verify`` package (LaTeX/sympy equivalence), run in a subprocess pool
  with a hard timeout per call: its own signal-based timeout only works on a process's main
  thread, and a pathological expression must never hang an evaluation. A call that times out
  counts as incorrect and the stuck worker is killed.
* user verifiers — ``get_verifier("my.module:func")`` (or a module-level function) runs in the
  SAME subprocess pool with the same hard timeout (:class:`PooledVerifier`); a call that times
  out, crashes its worker or raises counts as incorrect. Only a callable that cannot be imported
  by name (a lambda, a closure) runs in the calling process, without a timeout.

:func:`run_in_pool` returns an :class:`Outcome` (``ok`` | ``timeout`` | ``crashed`` |
``error``), so callers and tests can tell a timed-out worker from one that died.
"""
from __future__ import annotations

import atexit
import importlib
import importlib.util
import math
import re
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

from evaluators.errors import EvaluatorError
from laws.registry import Registry

Verifier = Callable[[str, str], bool]
VERIFIERS = Registry("verifier", EvaluatorError)   # the built-ins are defined below
register_verifier = VERIFIERS.register


def get_verifier(spec: str | Callable, timeout: float | None = None) -> Verifier:
    """A verifier from a registry name, a ``"module:function"`` string, or a callable.

    ``module:function`` strings and module-level functions run in the subprocess pool with a
    hard ``timeout`` (default :data:`VERIFY_TIMEOUT_S`); the module is imported there (and
    checked there once, here, so a wrong name fails now with one line)."""
    if callable(spec):
        name = f"{getattr(spec, '__module__', '')}:{getattr(spec, '__qualname__', '')}"
        if spec.__class__.__name__ == "function" and _importable(name):
            return PooledVerifier(name, timeout)
        return spec
    if not isinstance(spec, str) or not spec:
        raise EvaluatorError(f"verifier: expected a name, 'module:function' or callable, got {spec!r}")
    if spec in VERIFIERS:
        return VERIFIERS.get(spec)
    if ":" not in spec:
        raise EvaluatorError(f"{VERIFIERS.unknown(spec)} or 'module:function'")
    mod_name, _, fn_name = spec.partition(":")
    try:
        found = importlib.util.find_spec(mod_name) is not None
    except (ImportError, ValueError):
        found = False
    if not found or not fn_name:
        raise EvaluatorError(f"verifier: cannot load {spec!r}: no module named {mod_name!r}"
                             if not found else f"verifier: cannot load {spec!r}: no function name")
    verifier = PooledVerifier(spec, timeout)
    check = run_in_pool(_check_user, (spec,), verifier.timeout)
    if check.status != "ok" or check.value is not True:
        why = check.value if check.status == "ok" else check.status
        raise EvaluatorError(f"verifier: cannot load {spec!r}: {why}")
    return verifier


def _importable(name: str) -> bool:
    mod, _, qual = name.partition(":")
    return bool(mod) and mod != "__main__" and "<" not in qual and "." not in qual


@dataclass(frozen=True)
class Outcome:
    """How one call in the pool ended: ``ok`` (``value`` is the result), ``timeout`` (the
    worker was killed after ``timeout`` seconds), ``crashed`` (the worker died) or ``error``
    (the function raised; ``value`` is the message)."""

    status: str
    value: Any = None
    elapsed_s: float = 0.0


_USER_FNS: dict[str, Callable] = {}


def _load_user(spec: str) -> Callable:
    """In the pool: import ``module:function`` once per worker."""
    if spec not in _USER_FNS:
        mod, _, fn = spec.partition(":")
        _USER_FNS[spec] = getattr(importlib.import_module(mod), fn)
    return _USER_FNS[spec]


def _check_user(spec: str) -> bool | str:
    """In the pool: True if ``spec`` names a callable, else why not."""
    try:
        fn = _load_user(spec)
    except (ImportError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return True if callable(fn) else "not callable"


def _call_user(spec: str, prediction: str, reference: str) -> bool:
    """In the pool: the user's verifier on one answer."""
    return bool(_load_user(spec)(prediction, reference))


class PooledVerifier:
    """A user verifier (``module:function``) run in the subprocess pool with a hard timeout;
    calling it returns a bool (a timeout, a crash or an exception count as incorrect)."""

    def __init__(self, spec: str, timeout: float | None = None):
        self.spec = spec
        self.timeout = VERIFY_TIMEOUT_S if timeout is None else float(timeout)
        self.__name__ = spec

    def run(self, prediction: str | None, reference: str) -> Outcome:
        """One call, with how it ended."""
        if prediction is None:
            return Outcome("ok", False)
        return run_in_pool(_call_user, (self.spec, str(prediction), str(reference)), self.timeout)

    def __call__(self, prediction: str | None, reference: str) -> bool:
        out = self.run(prediction, reference)
        return out.status == "ok" and bool(out.value)

    def __repr__(self) -> str:
        return f"PooledVerifier({self.spec!r}, timeout={self.timeout:g})"


@register_verifier("exact")
def exact(prediction: str | None, reference: str) -> bool:
    """Equal strings after trimming surrounding whitespace."""
    return prediction is not None and str(prediction).strip() == str(reference).strip()


_FRAC_RE = re.compile(r"^\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}$")


def parse_number(text: str | None) -> Fraction | float | None:
    """Parse a number written the usual ways (commas, $, %, a/b, \\frac{a}{b}); None if not."""
    if text is None:
        return None
    s = str(text).strip().strip("$").replace(",", "").replace("\\!", "").replace(" ", "")
    s = s.removeprefix("\\$").removesuffix(".").removesuffix("\\%").removesuffix("%")
    if s.startswith("\\boxed{") and s.endswith("}"):
        s = s[7:-1]
    m = _FRAC_RE.match(s) or _FRAC_RE.match(s.lstrip("-"))
    if m:
        s = ("-" if s.startswith("-") else "") + f"{m.group(1)}/{m.group(2)}"
    try:
        if "/" in s:
            num, den = s.split("/")
            return Fraction(num) / Fraction(den)
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        try:
            x = float(s)
        except ValueError:
            return None
        return x if math.isfinite(x) else None


@register_verifier("numeric")
def numeric(prediction: str | None, reference: str, rel_tol: float = 1e-6) -> bool:
    """Both sides parse as numbers and agree within ``rel_tol`` (relative; 1e-9 absolute)."""
    a, b = parse_number(prediction), parse_number(reference)
    if a is None or b is None:
        return False
    return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=1e-9)


# -- the subprocess pool (math-verify and user verifiers) --------------------------------
_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_MATH_READY: list[ProcessPoolExecutor] = []      # the pool whose worker imported math-verify
MATH_TIMEOUT_S = 10.0
VERIFY_TIMEOUT_S = 10.0


def _delimited(text: str) -> str:
    """Wrap bare LaTeX/plain answers in ``$...$`` so math-verify's LaTeX parser reads them."""
    return text if "$" in text or "\\boxed" in text else f"${text}$"


def _math_verify_worker(prediction: str, reference: str) -> bool:
    """Runs in the pool: parse both sides with math-verify and compare them."""
    from math_verify import parse, verify

    try:
        gold, pred = parse(_delimited(reference)), parse(_delimited(prediction))
        return bool(gold and pred and verify(gold, pred))
    except Exception:  # noqa: BLE001 — an unparsable answer is simply not correct
        return False


def _warm_up() -> bool:
    """Import math-verify in the worker (seconds of sympy import, not charged to a call)."""
    import math_verify  # noqa: F401

    return True


def _ping() -> bool:
    return True


def _pool() -> ProcessPoolExecutor:
    """The shared spawn-context pool (spawn: forking a process with vLLM/Ray threads is unsafe)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            import multiprocessing as mp

            pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
            pool.submit(_ping).result(timeout=300)    # the worker is up before any timed call
            _POOL = pool
        return _POOL


def _kill_pool() -> None:
    """Terminate the pool's workers (a timed-out call may never return) and forget it."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        for p in list(getattr(pool, "_processes", {}).values()):
            p.terminate()
        pool.shutdown(wait=False, cancel_futures=True)


atexit.register(_kill_pool)


def run_in_pool(fn: Callable, args: tuple, timeout: float) -> Outcome:
    """Run ``fn(*args)`` in the pool's worker; kill the worker when it exceeds ``timeout``."""
    t0 = time.monotonic()
    try:
        fut = _pool().submit(fn, *args)
        value = fut.result(timeout=timeout)
    except FutureTimeout:
        _kill_pool()
        return Outcome("timeout", None, time.monotonic() - t0)
    except BrokenProcessPool:
        _kill_pool()
        return Outcome("crashed", None, time.monotonic() - t0)
    except Exception as exc:  # noqa: BLE001 — the function raised inside the worker
        return Outcome("error", f"{type(exc).__name__}: {exc}", time.monotonic() - t0)
    return Outcome("ok", value, time.monotonic() - t0)


@register_verifier("math")
def math_equal(prediction: str | None, reference: str, timeout: float | None = None) -> bool:
    """math-verify equivalence in a subprocess with a hard ``timeout`` (False on timeout)."""
    if prediction is None:
        return False
    pool = _pool()
    if pool not in _MATH_READY:                        # import sympy once, untimed
        pool.submit(_warm_up).result(timeout=300)
        _MATH_READY[:] = [pool]
    out = run_in_pool(_math_verify_worker, (str(prediction), str(reference)),
                      MATH_TIMEOUT_S if timeout is None else timeout)
    return out.status == "ok" and bool(out.value)
