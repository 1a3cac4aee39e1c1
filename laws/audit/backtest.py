"""Backtests of L(N, D) forms: refit without some runs, predict them, with prediction intervals.

* **Hold-out** (``holdout="largest_N"`` or ``"largest_C"``): every form is refitted without the
  largest size group (or the top FLOP level) and predicts it — the question a scaling law is
  asked, one step beyond the data.
* **Leave-one-size-out**, when there are at least :data:`LOSO_MIN` size groups: each size
  group in turn is left out and predicted by the others.

Size groups are the distinct N (values within 5 % are one size); a table with more than
:data:`MAX_GROUPS` of them (a random design) is cut into that many contiguous groups of log N,
so every fold holds a real share of the runs.  FLOP levels are grouped the same way on the
exact FLOPs.

Prediction interval of a held-out run: the percentile band of the refit's bootstrap
replicates, widened by the noise of one run (``z·sigma`` in log loss, added in quadrature;
``sigma`` = 1.4826·MAD of the refit's log residuals), so ``inside`` asks "is this run where a
new run of the law would fall?".  Leave-one-size-out refits use at most :data:`LOSO_BOOT`
replicates each (a rough band is enough there; the hold-out gets the full bootstrap).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from laws.errors import LawFitError
from laws.frontier.empirical import isoflop_levels

MAX_GROUPS = 8      # folds at most: more would cost fits without changing what a fold tells
LOSO_MIN = 5        # size groups needed for leave-one-size-out (issue: ">= 5 sizes")
LOSO_BOOT = 50      # bootstrap replicates per leave-one-size-out refit
TIE_ABS, TIE_REL = 0.002, 0.10   # backtest errors closer than this are a tie (see choose())

COLUMNS = ("form", "kind", "fold", "run_id", "N", "D", "C", "actual", "predicted", "rel_error",
           "lo", "hi", "inside")


def groups(x: np.ndarray, rtol: float = 0.05, max_groups: int = MAX_GROUPS) -> np.ndarray:
    """Group labels 0..g-1 of positive values ``x`` in increasing order: values within ``rtol``
    of a group's first value share it; more than ``max_groups`` groups are merged into
    ``max_groups`` contiguous ranges of log x with (about) equal numbers of distinct values."""
    lab = isoflop_levels(np.asarray(x, float), rtol)
    n = int(lab.max()) + 1
    if n > max_groups:
        lab = (lab * max_groups) // n
    return lab


def noise_sigma(resid_log: np.ndarray, floor: float = 1e-3) -> float:
    """Robust noise of one run in log loss: 1.4826·MAD of log residuals, at least ``floor``
    (0.1 %: below that the seed-to-seed noise of a final loss dominates any law)."""
    r = np.asarray(resid_log, float)
    r = r[np.isfinite(r)]
    if r.size < 2:
        return floor
    return max(floor, 1.4826 * float(np.median(np.abs(r - np.median(r)))))


def _interval(fit: Any, sigma: float, test: pd.DataFrame, pred: np.ndarray, level: float):
    """(lo, hi): bootstrap band of the refit widened by one run's noise, in log space."""
    z = float(norm.ppf(0.5 + level / 2))
    band = fit.predict_band(test[["N", "D"]], level=level) if fit.boot_params is not None else None
    with np.errstate(all="ignore"):
        lp = np.log(pred)
        if band is None:
            dlo = dhi = np.zeros_like(lp)
        else:
            dlo = np.nan_to_num(np.maximum(lp - np.log(band[0]), 0.0))
            dhi = np.nan_to_num(np.maximum(np.log(band[1]) - lp, 0.0))
        lo = np.exp(lp - np.sqrt(dlo ** 2 + (z * sigma) ** 2))
        hi = np.exp(lp + np.sqrt(dhi ** 2 + (z * sigma) ** 2))
    return lo, hi


def log_residuals(fit: Any, df: pd.DataFrame) -> np.ndarray:
    """``log(loss) - log(fit's prediction)`` for every run of ``df`` (non-finite where the law
    has no finite positive prediction)."""
    with np.errstate(all="ignore"):
        return np.log(df["loss"].to_numpy(float)) - np.log(np.asarray(fit.predict(df[["N", "D"]]), float))


def noise_of(fit: Any, train: pd.DataFrame) -> float:
    """Robust noise (log loss) of ``fit`` on the runs it was fitted to."""
    return noise_sigma(log_residuals(fit, train))


def _rows(form, kind, fold, fit, train, test, level) -> list[dict]:
    pred = np.asarray(fit.predict(test[["N", "D"]]), float)
    lo, hi = _interval(fit, noise_of(fit, train), test, pred, level)
    act = test["loss"].to_numpy(float)
    rid = test["run_id"].astype(str).to_numpy() if "run_id" in test.columns else [None] * len(test)
    return [{"form": form, "kind": kind, "fold": fold, "run_id": r, "N": float(n), "D": float(d),
             "C": float(c), "actual": float(a), "predicted": float(p), "rel_error": float(p / a - 1),
             "lo": float(lw), "hi": float(h), "inside": bool(lw <= a <= h)}
            for r, n, d, c, a, p, lw, h in zip(rid, test["N"], test["D"], test["C"], act, pred, lo, hi)]


def holdout_split(df: pd.DataFrame, holdout: str | None) -> tuple[np.ndarray | None, str]:
    """Mask of held-out rows for ``holdout`` and a sentence describing it (mask None: no split)."""
    if holdout is None:
        return None, "no hold-out was asked for (holdout=None)"
    if holdout == "largest_N":
        col, unit, top = "N", "size", "largest"
    elif holdout == "largest_C":
        col, unit, top = "C", "FLOP level", "top"
    else:
        raise LawFitError(f"holdout: expected 'largest_N', 'largest_C' or None, got {holdout!r}")
    x = df[col].to_numpy()
    lab = groups(x)
    if groups(x, max_groups=10**9).max() + 1 > MAX_GROUPS:
        unit += " group"
    if lab.max() < 2:
        return None, f"only {lab.max() + 1} {unit}(s): holding the {top} out would leave fewer than 2"
    test = lab == lab.max()
    lower = "smaller" if col == "N" else "lower"
    return test, (f"fitted on the {lab.max()} {lower} {unit}s, the {top} {unit} ({int(test.sum())} "
                  "run(s)) held out")


def plan(df: pd.DataFrame, holdout: str | None) -> tuple[list[dict], dict]:
    """The backtest's folds — ``{"kind", "fold", "test" (mask)}`` — and notes."""
    folds: list[dict] = []
    notes: dict[str, str] = {}
    test, what = holdout_split(df, holdout)
    notes["holdout"] = what
    if test is not None:
        folds.append({"kind": "holdout", "fold": what, "test": test})
    lab = groups(df["N"].to_numpy())
    if lab.max() + 1 >= LOSO_MIN:
        for g in range(lab.max() + 1):
            out = lab == g
            folds.append({"kind": "loso", "test": out,
                          "fold": f"size group {g + 1}/{lab.max() + 1} (N {df['N'][out].min():.3g}–{df['N'][out].max():.3g})"})
    else:
        notes["loso"] = f"{lab.max() + 1} size group(s) < {LOSO_MIN}: no leave-one-size-out"
    return folds, notes


def jobs(df: pd.DataFrame, forms: list[str], folds: list[dict], bootstrap: int, seed: int,
         settings: dict) -> list[tuple]:
    """Fit jobs (see :func:`laws.audit.parallel.fit_job`), one per (fold, form) in that order."""
    out = []
    for f in folds:
        b = bootstrap if f["kind"] == "holdout" else min(bootstrap, LOSO_BOOT)
        train = df[~f["test"]][["N", "D", "loss"]]
        out += [(form, train, b, seed, settings) for form in forms]
    return out


def assemble(df: pd.DataFrame, forms: list[str], folds: list[dict], results: list, level: float,
             notes: dict) -> pd.DataFrame:
    """The backtest table from the fits of :func:`jobs` (failed refits become notes)."""
    rows: list[dict] = []
    it = iter(results)
    for f in folds:
        train, test = df[~f["test"]], df[f["test"]]
        for form in forms:
            fit = next(it)
            if isinstance(fit, str):
                notes.setdefault(form, f"{f['kind']} refit failed ({f['fold']}): {fit}")
                continue
            rows += _rows(form, f["kind"], f["fold"], fit, train, test, level)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def scores(bt: pd.DataFrame) -> dict[str, dict]:
    """Per form: mean |rel_error| of the hold-out rows and of the leave-one-size-out rows, the
    fraction of held-out runs inside their intervals, and ``score``: the mean of the two errors
    (each kind weighs the same: the hold-out asks for one step beyond the data, leaving each
    size out asks about every size; together they make fewer ties than either alone)."""
    out = {}
    for form, g in bt.groupby("form", sort=False):
        h, lo = g[g["kind"] == "holdout"], g[g["kind"] == "loso"]
        out[form] = {"holdout_error": float(h["rel_error"].abs().mean()) if len(h) else None,
                     "holdout_max_error": float(h["rel_error"].abs().max()) if len(h) else None,
                     "holdout_inside": float(h["inside"].mean()) if len(h) else None,
                     "holdout_n": int(len(h)), "holdout_outside": int((~h["inside"]).sum()) if len(h) else 0,
                     "loso_error": float(lo["rel_error"].abs().mean()) if len(lo) else None}
        parts = [v for v in (out[form]["holdout_error"], out[form]["loso_error"]) if v is not None]
        out[form]["score"] = float(np.mean(parts)) if parts else None
    return out


def choose(forms: list[str], sc: dict[str, dict], n_params: dict[str, int]) -> tuple[str | None, str]:
    """The form with the lowest backtest ``score`` (see :func:`scores`); scores within
    max(0.2 percentage points, 10 % of the best) are a tie, broken by fewer parameters.

    Why a tie band: a backtest error is itself measured on a few runs with ~1 % noise, so
    differences far below a percent say nothing; between equals, the smaller law is the one
    less able to bend around noise.  Without any backtest the smallest law is chosen.
    """
    errs = {f: sc[f]["score"] for f in forms if sc.get(f, {}).get("score") is not None}
    if not errs:
        if not forms:
            return None, "no form could be fitted"
        best = min(forms, key=lambda f: (n_params[f], forms.index(f)))
        return best, f"no backtest was possible, so the smallest law ({best}, {n_params[best]} parameters) was chosen"
    low = min(errs, key=errs.get)
    tied = ties(errs, low)
    best = min(tied, key=lambda f: (n_params[f], errs[f]))
    why = f"{low} has the lowest backtest error ({100 * errs[low]:.2g} %)"
    if best != low:
        why += (f"; {best} ({100 * errs[best]:.2g} %) is within the tie band "
                f"({100 * tie_band(errs[low]):.2g} points) and has fewer parameters")
    others = [f for f in tied if f not in (best, low)]
    if others:
        why += "; also tied: " + ", ".join(f"{f} ({100 * errs[f]:.2g} %)" for f in others)
    return best, why


def tie_band(best: float) -> float:
    """Backtest errors within this of the best are a tie."""
    return max(TIE_ABS, TIE_REL * best)


def ties(errs: dict[str, float], ref: str) -> list[str]:
    """Forms whose error is within the tie band of the lowest (``ref``'s group, itself included)."""
    low = min(errs.values())
    return [f for f, e in errs.items() if e <= low + tie_band(low)]
