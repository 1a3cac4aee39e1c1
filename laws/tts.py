"""Test-time compute frontier: accuracy vs inference FLOPs across models and methods.

Input is either raw test-time rows (ARCHITECTURE.md schema: ``model_id, N, method, budget, correct,
policy_flops, reward_flops`` …, one row per problem attempt) or an already aggregated table
with ``accuracy`` and ``flops`` (per query) columns. Output (:class:`TTSFrontier`):

* ``table``: one row per (model, method, budget) with ``accuracy`` (mean of ``correct``),
  ``flops`` (mean policy + reward FLOPs per query) and ``n_problems``;
* ``frontier``: its Pareto frontier (cheapest way to reach each accuracy; accuracy strictly
  increases with FLOPs along it);
* per-method fits in log FLOPs: ``sigmoid`` of accuracy (``x = flops / x_scale``, the form
  is a logistic in ``log x``) and ``power_law`` of the error rate ``1 − accuracy``. A fit that
  cannot be made (too few points, failing optimiser) is skipped, with the reason in
  ``fit_errors``; nothing raises for that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from laws.validate import as_frame, err

__all__ = ["TTSFrontier", "aggregate_tts", "method_labels", "pareto_frontier", "tts_frontier",
           "wilson"]

FIT_FORMS = ("sigmoid", "power_law")


def wilson(k: Any, n: Any, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (95 % for ``z = 1.96``) of proportions ``k/n``, vectorised.

    Scalars in → floats out; ``n = 0`` gives NaN bounds.
    """
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        d = 1 + z * z / n
        c = (p + z * z / (2 * n)) / d
        h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
        lo, hi = np.clip(c - h, 0.0, 1.0), np.clip(c + h, 0.0, 1.0)
    lo, hi = np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)
    return (float(lo), float(hi)) if lo.ndim == 0 else (lo, hi)


def method_labels(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(series, method) labels of test-time rows.

    ``series`` is ``method[reward_model]`` (the reward model folded in where set); ``method``
    adds `` @<max_tokens> tok`` for rows of a *sequential* budget, so parallel (n) and
    max-token budgets of one strategy never share a curve.
    """
    label = df["method"].astype(str) if "method" in df.columns else pd.Series("default", index=df.index)
    if "reward_model" in df.columns:
        rm = df["reward_model"].astype("string").fillna("")
        label = pd.Series(np.where(rm.str.len() > 0, label + "[" + rm + "]", label), index=df.index)
    method = label
    if "budget_axis" in df.columns and "max_tokens" in df.columns:
        seq = df["budget_axis"].astype(str) == "sequential"
        tok = pd.to_numeric(df["max_tokens"], errors="coerce").astype("Int64").astype(str)
        method = label.where(~seq, label + " @" + tok + " tok")
    return label, method


def aggregate_tts(data: Any, *, task: str | None = None) -> pd.DataFrame:
    """THE aggregation of test-time rows: one row per (model_id, method, budget).

    Raw rows (with ``correct``; the metric-row schema of ARCHITECTURE.md) give ``accuracy =
    mean(correct)`` with its 95 % Wilson interval (``lo``, ``hi``) over problems, ``flops =
    mean(policy_flops + reward_flops)`` per query, ``policy_flops``, ``reward_flops``,
    ``tokens`` (mean prompt + completion tokens, when recorded), ``n_problems``, and ``N`` /
    ``loss`` where given. Labels come from :func:`method_labels` (``series`` is the curve a
    row belongs to; ``budget_axis`` and ``max_tokens`` are carried along). An already
    aggregated table (``accuracy`` and ``flops``) passes through, checked. Several tasks in one
    table need ``task=`` to pick one. Used by ``scalelab tts``, the report and the planner.
    """
    df = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
    if df.empty:
        raise err("tts: data is empty")
    if "task" in df.columns:
        if task is not None:
            df = df[df["task"] == task]
            if df.empty:
                raise err(f"tts: no rows for task {task!r}")
        elif df["task"].nunique() > 1:
            raise err(f"tts: rows mix tasks {sorted(df['task'].unique())}; pass task=")
    if "correct" not in df.columns:
        if "flops" not in df.columns and "inference_flops" in df.columns:
            df["flops"] = df["inference_flops"]
        table = as_frame(df, ("accuracy", "flops"), "tts")
        if "method" not in table.columns:
            table["method"] = "default"
        return _checked(table)
    df["series"], df["method"] = method_labels(df)
    if "model_id" not in df.columns:
        df["model_id"] = df["N"].map(lambda n: f"N={n:.3g}") if "N" in df.columns else "model"
    if "budget" not in df.columns:
        df["budget"] = 1
    df["budget_axis"] = df["budget_axis"].astype(str) if "budget_axis" in df.columns else "parallel"
    if "max_tokens" not in df.columns:
        df["max_tokens"] = np.nan
    flop_cols = [c for c in ("policy_flops", "reward_flops") if c in df.columns]
    if not flop_cols and "flops" not in df.columns:
        raise err("tts: raw rows need 'policy_flops' (and optionally 'reward_flops') or 'flops'")
    df = as_frame(df, ["correct"] + (flop_cols or ["flops"]), "tts")
    if flop_cols:
        df["flops"] = df[flop_cols].sum(axis=1)
    agg = {"accuracy": ("correct", "mean"), "hits": ("correct", "sum"),
           "n_problems": ("correct", "size"), "flops": ("flops", "mean")}
    for c in flop_cols + [c for c in ("N", "loss") if c in df.columns]:
        agg[c] = (c, "mean")
    if {"prompt_tokens", "completion_tokens"} <= set(df.columns):
        df["tokens"] = (pd.to_numeric(df["prompt_tokens"], errors="coerce")
                        + pd.to_numeric(df["completion_tokens"], errors="coerce"))
        agg["tokens"] = ("tokens", "mean")
    for c in ("series", "budget_axis", "max_tokens", "reward_model"):
        if c in df.columns:
            agg[c] = (c, "first")
    table = df.groupby(["model_id", "method", "budget"], as_index=False, sort=True).agg(**agg)
    table["lo"], table["hi"] = wilson(table.pop("hits"), table["n_problems"])
    return _checked(table)


def _checked(table: pd.DataFrame) -> pd.DataFrame:
    if (table["flops"].to_numpy() <= 0).any():
        raise err("tts: column 'flops' must be > 0 (policy + reward FLOPs per query)")
    if ((table["accuracy"] < 0) | (table["accuracy"] > 1)).any():
        raise err("tts: column 'accuracy' must lie in [0, 1]")
    return table.sort_values(["method", "flops"]).reset_index(drop=True)


def pareto_frontier(table: pd.DataFrame, x: str = "flops", y: str = "accuracy") -> pd.DataFrame:
    """Rows not dominated by a cheaper-or-equal row with higher-or-equal ``y``, sorted by ``x``."""
    t = table.sort_values([x, y], ascending=[True, False], kind="mergesort")
    best = np.maximum.accumulate(t[y].to_numpy())
    prev = np.concatenate([[-np.inf], best[:-1]])
    return t[t[y].to_numpy() > prev].reset_index(drop=True)


@dataclass
class TTSFrontier:
    """Aggregated test-time table, its Pareto frontier and per-method fits (see module doc)."""

    table: pd.DataFrame
    frontier: pd.DataFrame
    fits: dict = field(default_factory=dict)        # method -> {form: LawFit}
    fit_errors: dict = field(default_factory=dict)  # method -> {form: reason}
    x_scale: dict = field(default_factory=dict)     # method -> FLOPs unit used for fitting
    notes: list = field(default_factory=list)

    def predict(self, method: str, flops: Any, form: str = "sigmoid") -> np.ndarray:
        """Accuracy predicted by ``form``'s fit for ``method`` at inference ``flops``."""
        fit = self.fits.get(method, {}).get(form)
        if fit is None:
            why = self.fit_errors.get(method, {}).get(form, "no such method")
            raise err(f"tts: no {form} fit for method {method!r}: {why}")
        x = np.atleast_1d(np.asarray(flops, float)) / self.x_scale[method]
        y = np.asarray(fit.predict(pd.DataFrame({"x": x})), float)
        return 1.0 - y if form == "power_law" else y

    def to_dict(self) -> dict:
        """JSON-ready summary: table, frontier, fitted parameters (with CIs) and skip reasons."""
        fits = {m: {f: {"params": v.params, "ci": getattr(v, "ci", None) or {}, "r2": v.r2}
                    for f, v in d.items()} for m, d in self.fits.items()}
        return {"table": self.table.to_dict(orient="list"),
                "frontier": self.frontier.to_dict(orient="list"),
                "fits": fits, "fit_errors": self.fit_errors,
                "x_scale": self.x_scale, "notes": list(self.notes)}


def _fit_one(form: str, x: np.ndarray, acc: np.ndarray, bootstrap: int, seed: int):
    """Fit one form to one method's points; returns (LawFit | None, reason | None)."""
    import laws

    n_params = len(laws.forms()[form].params)
    y = acc if form == "sigmoid" else 1.0 - acc
    if len(x) <= n_params:
        return None, f"{len(x)} points for {n_params} parameters (need > {n_params})"
    if np.unique(x).size < 2:
        return None, "all points have the same FLOPs"
    if form == "power_law" and np.any(y <= 0):
        return None, "error rate 1 − accuracy reaches 0 (power law of the error needs it > 0)"
    try:
        return laws.fit(form, pd.DataFrame({"x": x, "y": y}), bootstrap=bootstrap, seed=seed), None
    except Exception as exc:  # noqa: BLE001 - a failed fit is reported, never raised
        return None, f"{type(exc).__name__}: {exc}"


def tts_frontier(data: Any, *, task: str | None = None, forms: tuple[str, ...] = FIT_FORMS,
                 bootstrap: int = 0, seed: int = 0) -> TTSFrontier:
    """Pareto frontier of accuracy vs inference FLOPs plus per-method fits (see module doc)."""
    table = aggregate_tts(data, task=task)
    frontier = pareto_frontier(table)
    out = TTSFrontier(table=table, frontier=frontier)
    for method, g in table.groupby("method", sort=True):
        scale = float(g["flops"].min())
        out.x_scale[method] = scale
        x = g["flops"].to_numpy(float) / scale
        for form in forms:
            fit, why = _fit_one(form, x, g["accuracy"].to_numpy(float), bootstrap, seed)
            if fit is not None:
                out.fits.setdefault(method, {})[form] = fit
            else:
                out.fit_errors.setdefault(method, {})[form] = why
                out.notes.append(f"{method}: {form} fit skipped: {why}")
    return out
