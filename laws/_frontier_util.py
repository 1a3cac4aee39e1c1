"""Small numeric helpers shared by the frontier, test-time and planner modules."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd


def err(msg: str) -> Exception:
    """A :class:`laws.LawFitError` (exit code 2) carrying ``msg``."""
    from .errors import LawFitError

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
