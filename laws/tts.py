"""Test-time compute frontier: accuracy vs inference FLOPs across models and methods.

Input is either raw test-time rows (DESIGN.md schema: ``model_id, N, method, budget, correct,
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

from ._frontier_util import as_frame, err

__all__ = ["TTSFrontier", "aggregate_tts", "pareto_frontier", "tts_frontier"]

FIT_FORMS = ("sigmoid", "power_law")


def aggregate_tts(data: Any, *, task: str | None = None) -> pd.DataFrame:
    """Aggregate test-time rows into one row per (model_id, method, budget).

    Raw rows (with ``correct``) give ``accuracy = mean(correct)`` and ``flops = mean(
    policy_flops + reward_flops)``; an already aggregated table (``accuracy`` and ``flops``)
    passes through. A ``reward_model`` column, where set, is folded into the method label as
    ``method[reward_model]``. Several tasks in one table need ``task=`` to pick one.
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
    if "method" not in df.columns:
        df["method"] = "default"
    if "reward_model" in df.columns:
        rm = df["reward_model"].astype("string").fillna("")
        df["method"] = np.where(rm.str.len() > 0, df["method"].astype(str) + "[" + rm + "]",
                                df["method"].astype(str))
    if "model_id" not in df.columns:
        df["model_id"] = df["N"].map(lambda n: f"N={n:.3g}") if "N" in df.columns else "model"
    if "budget" not in df.columns:
        df["budget"] = 1
    keys = ["model_id", "method", "budget"]
    if "correct" in df.columns:
        flop_cols = [c for c in ("policy_flops", "reward_flops") if c in df.columns]
        if not flop_cols and "flops" not in df.columns:
            raise err("tts: raw rows need 'policy_flops' (and optionally 'reward_flops') or 'flops'")
        df = as_frame(df, ["correct"] + (flop_cols or ["flops"]), "tts")
        df["flops"] = df[flop_cols].sum(axis=1) if flop_cols else df["flops"]
        agg = {"accuracy": ("correct", "mean"), "flops": ("flops", "mean"),
               "n_problems": ("correct", "size")}
        for c in flop_cols + [c for c in ("N", "loss") if c in df.columns]:
            agg[c] = (c, "mean")
        table = df.groupby(keys, as_index=False, sort=True).agg(**agg)
    else:
        if "flops" not in df.columns and "inference_flops" in df.columns:
            df["flops"] = df["inference_flops"]
        table = as_frame(df, ("accuracy", "flops"), "tts")
    bad = table["flops"].to_numpy() <= 0
    if bad.any():
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
