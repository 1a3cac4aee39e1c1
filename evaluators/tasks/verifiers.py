"""Answer verifiers (a registry): ``verify(prediction, reference) -> bool``.

* ``exact`` — equal after trimming whitespace.
* ``numeric`` — both parse as numbers (``1,234``, ``-3.5``, ``2/3``, ``\\frac{2}{3}``, ``$5``,
  ``40%``) and agree within a relative tolerance of 1e-6.
* ``math`` — the ``math-verify`` package (LaTeX/sympy equivalence), run in a subprocess pool
  with a hard timeout per call: its own signal-based timeout only works on a process's main
  thread, and a pathological expression must never hang an evaluation. A call that times out
  counts as incorrect and the stuck worker is killed.
* user callables — ``get_verifier("my.module:func")`` or ``get_verifier(func)``.
"""
from __future__ import annotations

import atexit
import importlib
import math
import re
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from fractions import Fraction
from typing import Callable

from evaluators.errors import EvaluatorError
from laws.registry import Registry

Verifier = Callable[[str, str], bool]
VERIFIERS = Registry("verifier", EvaluatorError)   # the built-ins are defined below
register_verifier = VERIFIERS.register


def get_verifier(spec: str | Callable) -> Verifier:
    """A verifier from a registry name, a ``"module:function"`` string, or a callable."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or not spec:
        raise EvaluatorError(f"verifier: expected a name, 'module:function' or callable, got {spec!r}")
    if spec in VERIFIERS:
        return VERIFIERS.get(spec)
    if ":" not in spec:
        raise EvaluatorError(f"{VERIFIERS.unknown(spec)} or 'module:function'")
    mod_name, _, fn_name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as exc:
        raise EvaluatorError(f"verifier: cannot load {spec!r}: {exc}") from None
    if not callable(fn):
        raise EvaluatorError(f"verifier: {spec!r} is not callable")
    return fn


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


# -- math-verify in a subprocess pool ----------------------------------------------------
_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
MATH_TIMEOUT_S = 10.0


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


def _pool() -> ProcessPoolExecutor:
    """The shared spawn-context pool (spawn: forking a process with vLLM/Ray threads is unsafe)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            import multiprocessing as mp

            pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
            # start the worker and import math-verify (sympy) before any timed call
            pool.submit(_warm_up).result(timeout=300)
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


@register_verifier("math")
def math_equal(prediction: str | None, reference: str, timeout: float | None = None) -> bool:
    """math-verify equivalence in a subprocess with a hard ``timeout`` (False on timeout)."""
    if prediction is None:
        return False
    fut = _pool().submit(_math_verify_worker, str(prediction), str(reference))
    try:
        return fut.result(timeout=MATH_TIMEOUT_S if timeout is None else timeout)
    except FutureTimeout:
        _kill_pool()
        return False
    except BrokenProcessPool:
        _kill_pool()
        return False
