"""Joint training + test-time planner (v1): the cheapest (or best) (N, D, method, n).

Cost model, for ``Q`` expected queries::

    total FLOPs = flops_per_token·N·D  +  Q · inference_flops(N, method, n)

* **Loss** of a model (N, D) comes from the training law (a ``chinchilla`` fit, any fit with
  ``predict`` on columns ``N, D``, or a dict of chinchilla parameters).
* **Accuracy** of (method, n) at that loss comes from a *loss → accuracy map* fitted per
  (method, n) on the evaluated models: ``accuracy = 1 / (1 + exp(−(c0 − c1·loss)))`` with
  ``c1 ≥ 0`` (lower loss never hurts), fitted by binomial maximum likelihood weighted by the
  number of problems. It needs ≥ 2 models with different losses per (method, n).
* **Inference FLOPs** per query of (method, n): ``k·N + r``, with ``k = median(policy_flops/N)``
  and ``r = median(reward_flops)`` over the evaluated models (a fixed reward model costs the
  same for every policy size). This assumes the tokens spent per query do not depend on N.

Every candidate row states whether it extrapolates and by how much: N or D beyond the training
runs, loss or accuracy beyond what the (method, n) map was fitted on, N beyond the evaluated
models. Honest beats optimistic: a plan 10× beyond the data says so in ``extrapolation``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from laws.validate import as_frame, err

__all__ = ["Plan", "plan", "fit_accuracy_maps", "attach_loss"]


@dataclass
class Plan:
    """Result of :func:`plan`: ranked ``table``, the ``best`` row (or None), ``notes``.

    ``candidates`` holds every evaluated (N, D, method, n); ``maps`` the loss→accuracy and
    inference-cost models per (method, n) with the ranges they were fitted on.
    """

    mode: str
    queries: float
    table: pd.DataFrame
    best: dict | None
    notes: list[str] = field(default_factory=list)
    candidates: pd.DataFrame | None = None
    maps: pd.DataFrame | None = None
    target_accuracy: float | None = None
    budget: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready summary (ranked table, best row, maps, notes)."""
        return {"mode": self.mode, "queries": self.queries, "target_accuracy": self.target_accuracy,
                "budget": self.budget, "best": self.best, "notes": list(self.notes),
                "table": self.table.to_dict(orient="records"),
                "maps": None if self.maps is None else self.maps.to_dict(orient="records")}


def attach_loss(tts: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Add each evaluated model's ``loss`` (runs' ``final_val_loss``, joined on model_id = run_id)."""
    r = as_frame(runs, ("final_val_loss",), "planner runs")
    if "run_id" not in r.columns or "model_id" not in tts.columns:
        raise err("planner: joining losses needs 'run_id' in runs and 'model_id' in the tts table")
    m = dict(zip(r["run_id"].astype(str), r["final_val_loss"]))
    out = tts.copy()
    out["loss"] = out["model_id"].astype(str).map(m)
    missing = sorted(out.loc[out["loss"].isna(), "model_id"].astype(str).unique())
    if missing:
        raise err(f"planner: no final_val_loss for model_id(s) {missing[:5]} in runs")
    return out


def _logistic_fit(loss: np.ndarray, acc: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Binomial-likelihood fit of ``acc = σ(c0 − c1·loss)``, ``c1 ≥ 0``; returns (c0, c1)."""
    mu, sd = loss.mean(), loss.std() or 1.0
    z = (loss - mu) / sd
    p = np.clip(acc, 0.0, 1.0)  # 0 and 1 are fine targets; the ridge keeps c finite

    def nll(th):
        t = th[0] - th[1] * z
        ll = w * (p * -np.logaddexp(0, -t) + (1 - p) * -np.logaddexp(0, t))
        return -ll.sum() + 1e-6 * (th ** 2).sum()

    res = minimize(nll, np.array([0.0, 1.0]), method="L-BFGS-B", bounds=[(-50, 50), (0, 50)],
                   options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 1000})
    b0, b1 = res.x
    return float(b0 + b1 * mu / sd), float(b1 / sd)


def fit_accuracy_maps(tts: pd.DataFrame) -> pd.DataFrame:
    """Fit the loss→accuracy map and inference cost model for every (method, budget).

    ``tts`` has one row per (model, method, budget) with ``N, loss, accuracy, flops`` (per
    query; optional ``policy_flops, reward_flops, n_problems``). Returns one row per
    (method, budget): ``c0, c1, k, r`` plus fitted ranges, or ``reason`` when skipped.
    """
    t = as_frame(tts, ("N", "loss", "accuracy", "flops"), "planner tts table", positive=("N", "flops"))
    if "method" not in t.columns:
        t["method"] = "default"
    if "budget" not in t.columns:
        t["budget"] = 1
    rows = []
    for (m, n), g in t.groupby(["method", "budget"], sort=True):
        row = {"method": m, "budget": n, "n_models": len(g), "loss_lo": g["loss"].min(),
               "loss_hi": g["loss"].max(), "acc_lo": g["accuracy"].min(), "acc_hi": g["accuracy"].max(),
               "N_lo": g["N"].min(), "N_hi": g["N"].max(), "reason": ""}
        N = g["N"].to_numpy(float)
        if "policy_flops" in g.columns:
            row["k"] = float(np.median(g["policy_flops"].to_numpy(float) / N))
            row["r"] = float(np.median(g["reward_flops"])) if "reward_flops" in g.columns else 0.0
        else:
            row["k"], row["r"] = float(np.median(g["flops"].to_numpy(float) / N)), 0.0
        if g["loss"].nunique() < 2:
            row.update(c0=np.nan, c1=np.nan, reason=f"{g['loss'].nunique()} distinct model loss(es); need >= 2")
        else:
            w = g["n_problems"].to_numpy(float) if "n_problems" in g.columns else np.ones(len(g))
            row["c0"], row["c1"] = _logistic_fit(g["loss"].to_numpy(float), g["accuracy"].to_numpy(float), w)
        rows.append(row)
    return pd.DataFrame(rows)


def _training_loss(fit: Any, N: np.ndarray, D: np.ndarray) -> np.ndarray:
    if isinstance(fit, Mapping):
        p = {k: float(v) for k, v in fit.items()}
        return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
    return np.asarray(fit.predict(pd.DataFrame({"N": N, "D": D})), float)


def _train_ranges(fit: Any, train_data: Any) -> dict | None:
    if train_data is not None:
        d = as_frame(train_data, ("N", "D"), "planner train_data")
        return {c: (float(d[c].min()), float(d[c].max())) for c in ("N", "D")}
    rng = getattr(fit, "ranges", None) or getattr(fit, "input_ranges", None)
    if isinstance(rng, Mapping) and "N" in rng and "D" in rng:
        return {c: (float(rng[c][0]), float(rng[c][1])) for c in ("N", "D")}
    return None


def _beyond(v: np.ndarray, lo: float, hi: float, what: str, hi_word: str, lo_word: str) -> np.ndarray:
    """Text per element: '' inside [lo, hi], else 'what ×f beyond hi_word' / 'below lo_word'."""
    out = np.full(v.shape, "", dtype=object)
    up, down = v > hi * (1 + 1e-9), v < lo * (1 - 1e-9)
    out[up] = [f"{what} ×{x:.3g} beyond {hi_word}" for x in v[up] / hi]
    out[down] = [f"{what} ×{x:.3g} below {lo_word}" for x in lo / v[down]]
    return out


def _outside(v: np.ndarray, lo: float, hi: float, what: str, where: str) -> np.ndarray:
    """Text per element: '' inside [lo, hi], else 'what 2.31 outside [2.5, 3.1] where'."""
    out = np.full(v.shape, "", dtype=object)
    bad = (v > hi + 1e-9 * abs(hi)) | (v < lo - 1e-9 * abs(lo))
    out[bad] = [f"{what} {x:.3g} outside [{lo:.3g}, {hi:.3g}] {where}" for x in v[bad]]
    return out


def plan(training_fit: Any, tts: Any, *, queries: float, target_accuracy: float | None = None,
         budget: float | None = None, N: Any = None, tokens_per_param: Any = None,
         flops_per_token: float = 6.0, runs: pd.DataFrame | None = None, train_data: Any = None,
         top: int = 10) -> Plan:
    """Cheapest (N, D, method, n) reaching ``target_accuracy``, or the most accurate within
    ``budget`` total FLOPs, for ``queries`` expected queries (see the module doc for the model).

    ``tts``: a table with one row per (model, method, budget) and ``N, loss, accuracy, flops``
    (a :class:`laws.tts.TTSFrontier` or raw rows work too; ``runs`` supplies losses by
    model_id = run_id). ``N`` (grid of sizes) and ``tokens_per_param`` (grid of D/N) default to
    log grids around the data. ``train_data`` (columns N, D) gives the training ranges used for
    the extrapolation flags when the fit does not record them.
    """
    if (target_accuracy is None) == (budget is None):
        raise err("plan: give exactly one of target_accuracy= or budget=")
    if not np.isfinite(queries) or queries < 0:
        raise err(f"plan: queries must be a finite number >= 0, got {queries!r}")
    if target_accuracy is not None and not 0 < target_accuracy <= 1:
        raise err(f"plan: target_accuracy must lie in (0, 1], got {target_accuracy!r}")
    if budget is not None and not budget > 0:
        raise err(f"plan: budget must be > 0 FLOPs, got {budget!r}")
    table = getattr(tts, "table", tts)
    if isinstance(table, pd.DataFrame) and "correct" in table.columns:
        from .tts import aggregate_tts
        table = aggregate_tts(table)
    if runs is not None:
        table = attach_loss(table, runs)
    if isinstance(table, pd.DataFrame) and "loss" not in table.columns:
        raise err("plan: the tts table needs a 'loss' column per model (or pass runs= to join "
                  "final_val_loss on model_id = run_id)")
    maps = fit_accuracy_maps(table)
    notes = [f"{r.method} n={r.budget} skipped: {r.reason}" for r in maps.itertuples() if r.reason]
    usable = maps[maps["reason"] == ""]
    if usable.empty:
        raise err("plan: no (method, budget) has models with >= 2 distinct losses to fit loss→accuracy")
    ranges = _train_ranges(training_fit, train_data)
    if ranges is None:
        notes.append("training ranges unknown (pass train_data=): N/D extrapolation not flagged")
    n_lo = ranges["N"][0] if ranges else float(maps["N_lo"].min())
    n_hi = ranges["N"][1] if ranges else float(maps["N_hi"].max())
    Ns = np.asarray(N, float) if N is not None else np.logspace(np.log10(n_lo) - 0.5, np.log10(n_hi) + 2, 26)
    rs = np.asarray(tokens_per_param, float) if tokens_per_param is not None else np.logspace(0, 4, 33)
    if Ns.size == 0 or rs.size == 0 or np.any(Ns <= 0) or np.any(rs <= 0):
        raise err("plan: N and tokens_per_param grids must be non-empty and > 0")
    NN, RR = np.meshgrid(Ns, rs, indexing="ij")
    NN, DD = NN.ravel(), (NN * RR).ravel()
    loss = _training_loss(training_fit, NN, DD)
    parts = []
    for m in usable.itertuples():
        acc = 1.0 / (1.0 + np.exp(-(m.c0 - m.c1 * loss)))
        inf = m.k * NN + m.r
        label = f"{m.method} n={m.budget}"
        flags = [_outside(loss, m.loss_lo, m.loss_hi, "loss", f"fitted for the {label} accuracy map"),
                 _outside(acc, m.acc_lo, m.acc_hi, "accuracy", f"observed for {label}"),
                 _beyond(NN, m.N_lo, m.N_hi, "inference N", "largest evaluated model", "smallest evaluated model")]
        if ranges:
            flags = [_beyond(NN, *ranges["N"], "N", "largest run", "smallest run"),
                     _beyond(DD, *ranges["D"], "D", "most tokens of any run", "fewest tokens of any run")] + flags
        text = ["; ".join(s for s in f if s) for f in zip(*flags)]
        parts.append(pd.DataFrame({
            "N": NN, "D": DD, "tokens_per_param": DD / NN, "method": m.method, "budget": m.budget,
            "loss": loss, "accuracy": acc, "train_flops": flops_per_token * NN * DD,
            "inference_flops": inf, "total_flops": flops_per_token * NN * DD + queries * inf,
            "extrapolated": [bool(t) for t in text], "extrapolation": text}))
    cand = pd.concat(parts, ignore_index=True)
    if target_accuracy is not None:
        mode, ok = "target_accuracy", cand["accuracy"] >= target_accuracy
        ranked = cand[ok].sort_values(["total_flops", "accuracy"], ascending=[True, False])
        if ranked.empty:
            b = cand.loc[cand["accuracy"].idxmax()]
            notes.append(f"no candidate reaches accuracy {target_accuracy:g}; best reachable is "
                         f"{b.accuracy:.3g} ({b.method} n={b.budget}, N={b.N:.3g}, D={b.D:.3g})")
    else:
        mode, ok = "budget", cand["total_flops"] <= budget
        ranked = cand[ok].sort_values(["accuracy", "total_flops"], ascending=[False, True])
        if ranked.empty:
            notes.append(f"no candidate fits in {budget:.3g} FLOPs; cheapest costs {cand['total_flops'].min():.3g}")
    ranked = ranked.head(top).reset_index(drop=True)
    best = None if ranked.empty else {k: (v.item() if hasattr(v, "item") else v)
                                      for k, v in ranked.iloc[0].to_dict().items()}
    if best and best["extrapolated"]:
        notes.append(f"best plan extrapolates: {best['extrapolation']}")
    return Plan(mode=mode, queries=float(queries), table=ranked, best=best, notes=notes,
                candidates=cand, maps=maps, target_accuracy=target_accuracy, budget=budget)
