"""Input validation: checked float columns and frames (or a one-line LawFitError), plus the small
numeric helpers the frontier, test-time and planner modules share."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable

import numpy as np
import pandas as pd

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


def err(msg: str) -> Exception:
    """A :class:`laws.LawFitError` (exit code 2) carrying ``msg``."""
    return LawFitError(msg)


def as_frame(data: Any, required: Iterable[str], where: str, positive: Iterable[str] = ()) -> pd.DataFrame:
    """Copy ``data`` (DataFrame or mapping of columns) into a DataFrame and check columns.

    Raises a one-line error naming the missing column, or a column with NaN/inf or (for the
    columns in ``positive``) non-positive values.
    """
    if isinstance(data, pd.DataFrame):
        df = data.copy()
    elif isinstance(data, Mapping):
        try:
            df = pd.DataFrame({k: np.atleast_1d(v) for k, v in data.items()})
        except ValueError as exc:
            raise err(f"{where}: columns have different lengths ({exc})") from None
    else:
        raise err(f"{where}: data must be a DataFrame or a mapping of columns, got {type(data).__name__}")
    if df.empty:
        raise err(f"{where}: data is empty")
    for c in required:
        if c not in df.columns:
            raise err(f"{where}: missing column {c!r} (have {list(map(str, df.columns))})")
        vals = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(vals)):
            raise err(f"{where}: column {c!r} has NaN, inf or non-numeric values")
        df[c] = vals
    for c in positive:
        if np.any(df[c].to_numpy() <= 0):
            raise err(f"{where}: column {c!r} must be > 0")
    return df


def flops_column(df: pd.DataFrame, flops_per_token: float, where: str) -> np.ndarray:
    """Training FLOPs per row: column ``C`` if present, else ``flops_per_token·N·D``."""
    if "C" in df.columns:
        C = pd.to_numeric(df["C"], errors="coerce").to_numpy(dtype=float)
    else:
        C = flops_per_token * df["N"].to_numpy(float) * df["D"].to_numpy(float)
    if not np.all(np.isfinite(C)) or np.any(C <= 0):
        raise err(f"{where}: FLOPs (column 'C' or {flops_per_token}·N·D) must be positive and finite")
    if np.any(df["N"].to_numpy() <= 0) or np.any(df["D"].to_numpy() <= 0):
        raise err(f"{where}: columns 'N' and 'D' must be > 0")
    return C


def weighted_line(x: np.ndarray, Y: np.ndarray, W: np.ndarray):
    """Weighted least-squares lines ``y = slope·x + intercept`` for each row of ``Y``/``W``.

    ``x`` has shape (P,), ``Y`` and ``W`` shape (B, P) (or (P,)). Returns arrays (slope,
    intercept, ok) of length B; ok is False where fewer than two distinct x carry weight.
    """
    Y, W = np.atleast_2d(Y), np.atleast_2d(W)
    sw = W.sum(1)
    safe = np.where(sw > 0, sw, 1.0)
    mx = (W * x).sum(1) / safe
    my = (W * Y).sum(1) / safe
    dx = x[None, :] - mx[:, None]
    sxx = (W * dx ** 2).sum(1)
    ok = (sw > 0) & (sxx > 1e-12 * np.maximum(1.0, np.abs(mx)) ** 2)
    slope = np.where(ok, (W * dx * (Y - my[:, None])).sum(1) / np.where(ok, sxx, 1.0), np.nan)
    return slope, my - slope * mx, ok


def boot_ci(boot: np.ndarray, names: Iterable[str], level: float = 0.95) -> dict:
    """Percentile intervals of each column of ``boot`` as ``{name: (lo, hi)}``."""
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    lo, hi = np.percentile(boot, q, axis=0)
    return {n: (float(a), float(b)) for n, a, b in zip(names, lo, hi)}
