"""Input validation: turn a DataFrame / mapping into checked float columns or raise LawFitError."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from laws.errors import LawFitError

LOSSES = ("huber", "squared")


def columns(data: Any, needed: tuple[str, ...], *, what: str = "data",
            keys: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Extract ``needed`` columns of ``data`` as 1-D float arrays, checking shape and finiteness.

    Columns in ``keys`` (e.g. a run id) are kept as they are (any hashable values, no NaN).
    """
    if data is None:
        raise LawFitError(f"{what}: got None; pass a pandas DataFrame or a mapping column -> array")
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):
        available = [str(c) for c in data.columns]
        getter = lambda c: data[c].to_numpy()  # noqa: E731
    elif isinstance(data, Mapping):
        available = [str(c) for c in data.keys()]
        getter = lambda c: data[c]  # noqa: E731
    else:
        raise LawFitError(f"{what}: expected a pandas DataFrame or a mapping column -> array, "
                          f"got {type(data).__name__}")
    missing = [c for c in needed if c not in available]
    if missing:
        raise LawFitError(f"{what}: missing column(s) {missing}; available: {available}")
    out: dict[str, np.ndarray] = {}
    n = None
    for c in needed:
        raw = np.asarray(getter(c))
        if raw.ndim == 2 and 1 in raw.shape:
            raw = raw.ravel()
        if raw.ndim != 1:
            raise LawFitError(f"column {c!r}: expected a 1-D column, got shape {raw.shape}")
        if c in keys:
            if any(v is None or (isinstance(v, float) and v != v) for v in raw.tolist()):
                raise LawFitError(f"column {c!r}: missing (None/NaN) values")
            if n is not None and raw.size != n:
                raise LawFitError(f"column {c!r}: length {raw.size} differs from the other columns ({n})")
            n = raw.size
            out[c] = raw
            continue
        try:
            arr = raw.astype(float)
        except (TypeError, ValueError):
            raise LawFitError(f"column {c!r}: not numeric (dtype {raw.dtype})") from None
        if n is not None and arr.size != n:
            raise LawFitError(f"column {c!r}: length {arr.size} differs from the other columns ({n})")
        n = arr.size
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LawFitError(f"column {c!r}: {int(bad.sum())} NaN/inf value(s) (first at row {i})")
        out[c] = arr
    if not n:
        raise LawFitError(f"{what}: empty (no rows)")
    return out


def signs(cols: dict[str, np.ndarray], positive: tuple[str, ...], nonnegative: tuple[str, ...]) -> None:
    """Raise LawFitError if a ``positive`` column has values <= 0 or a ``nonnegative`` one < 0."""
    for c in positive:
        if c in cols and np.any(cols[c] <= 0):
            i = int(np.flatnonzero(cols[c] <= 0)[0])
            raise LawFitError(f"column {c!r}: must be > 0, found {cols[c][i]:g} at row {i}")
    for c in nonnegative:
        if c in cols and np.any(cols[c] < 0):
            i = int(np.flatnonzero(cols[c] < 0)[0])
            raise LawFitError(f"column {c!r}: must be >= 0, found {cols[c][i]:g} at row {i}")


def unique_counts(cols: dict[str, np.ndarray], min_unique: dict[str, int]) -> None:
    """Raise LawFitError when a column has fewer distinct values than the form needs."""
    for c, k in min_unique.items():
        if c in cols:
            u = np.unique(cols[c]).size
            if u < k:
                raise LawFitError(f"column {c!r}: needs at least {k} distinct values to fit, got {u}")


def options(form_name: str, allowed: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Merge ``given`` form options into the defaults; unknown option names raise LawFitError."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise LawFitError(f"form {form_name!r}: unknown option(s) {unknown}; "
                          f"allowed: {sorted(allowed) or 'none'}")
    return {**allowed, **given}


def fit_settings(bootstrap: Any, loss: Any, delta: Any) -> tuple[int, str, float]:
    """Check the generic fit arguments."""
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise LawFitError(f"bootstrap: must be an integer >= 0, got {bootstrap!r}")
    if loss not in LOSSES:
        raise LawFitError(f"loss: unknown loss {loss!r}; choose one of {list(LOSSES)}")
    try:
        d = float(delta)
    except (TypeError, ValueError):
        raise LawFitError(f"delta: must be a positive number, got {delta!r}") from None
    if not np.isfinite(d) or d <= 0:
        raise LawFitError(f"delta: must be a positive number, got {delta!r}")
    return int(bootstrap), str(loss), d
