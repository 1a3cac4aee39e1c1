"""Joint training + test-time planner (v2): the cheapest (or best) (N, D, method, n).

Cost model, for ``Q`` expected queries::

    total = C(N, D)  +  Q · eFLOPs(N, method, n)

* **C(N, D)**: the exact training FLOPs — a :class:`~laws.frontier.compute.ComputeModel` fitted
  to the runs' recorded ``C`` (from an :class:`~laws.audit.core.Audit`, ``compute=``, or
  ``train_data`` with a ``C`` column); ``train_flops_6nd`` = 6·N·D beside it.
* **Loss** of a model (N, D) comes from the training law: an ``Audit`` (its chosen form), a
  fitted L(N, D) with ``predict``, or a dict of chinchilla parameters.
* **Accuracy** of (method, n) at that loss: Gadre et al.'s ``downstream`` map per (method, n),
  floored at chance and capped by the verifier's measured false-positive rate, backtested on the
  largest evaluated model (:mod:`laws.planner.maps`).
* **Inference cost** per query: eFLOPs = FLOPs + I·KV-cache bytes (Kinetics), with tokens per
  query measured per model and fitted in N; ``I`` = ``intensity`` (default 295 FLOP/byte, an
  H100's; :mod:`laws.planner.costs`).

Every candidate row states whether it extrapolates and by how much: N or D beyond the training
runs, loss or accuracy beyond what the (method, n) map was fitted on, N beyond the evaluated
models.  With an Audit whose verdict is not "sound", every row carries ``law_verdict`` and a row
that extrapolates the law says so in words: honest beats optimistic.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from laws.frontier.compute import ComputeModel, as_compute
from laws.planner.costs import INTENSITY, fit_costs, kv_per_key, query_cost
from laws.planner.maps import fit_maps, predict, verifier_ceilings
from laws.validate import as_frame, err

__all__ = ["Plan", "plan", "fit_accuracy_maps", "attach_loss", "INTENSITY"]


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
        """JSON-ready summary (ranked table, best row, maps, notes); NaN becomes None."""
        def clean(records):
            return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                    for r in records]
        return {"mode": self.mode, "queries": self.queries, "target_accuracy": self.target_accuracy,
                "budget": self.budget, "best": None if self.best is None else clean([self.best])[0],
                "notes": list(self.notes), "table": clean(self.table.to_dict(orient="records")),
                "maps": None if self.maps is None else clean(self.maps.to_dict(orient="records"))}


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


def fit_accuracy_maps(tts: pd.DataFrame, *, chance_accuracy: float = 0.0,
                      ceilings: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The loss→accuracy map (:mod:`laws.planner.maps`) and inference cost model
    (:mod:`laws.planner.costs`) of every (method, budget).

    ``tts`` has one row per (model, method, budget) with ``N, loss, accuracy, flops`` (per query;
    optional ``policy_flops, reward_flops, tokens, kv_bytes, n_problems``).  Returns one row per
    (method, budget), with ``reason`` when it could not be fitted.
    """
    t = as_frame(tts, ("N", "loss", "accuracy", "flops"), "planner tts table", positive=("N", "flops"))
    if "method" not in t.columns:
        t["method"] = "default"
    if "budget" not in t.columns:
        t["budget"] = 1
    maps = fit_maps(t, chance_accuracy=chance_accuracy, ceilings=ceilings)
    costs = [fit_costs(g) for _, g in t.groupby(["method", "budget"], sort=True)]
    return pd.concat([maps, pd.DataFrame(costs)], axis=1)


def _training_loss(fit: Any, N: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Loss of models (N, D) under the training law (fit object or chinchilla params)."""
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


def _training_side(training_fit: Any, compute: Any, train_data: Any, flops_per_token: float):
    """(law, compute model, verdict, first reason) from a fit, params dict or Audit."""
    verdict, why = None, ""
    if hasattr(training_fit, "verdict") and hasattr(training_fit, "fits"):
        audit = training_fit
        if audit.fit is None:
            raise err("plan: the audit has no fitted law (its verdict: unidentifiable)")
        verdict, why = audit.verdict, (audit.reasons[0] if audit.reasons else "")
        law = audit.fit
        cm = as_compute(compute) if compute is not None else audit.compute
    else:
        law = training_fit
        if compute is not None:
            cm = as_compute(compute, flops_per_token)
        elif train_data is not None and "C" in getattr(train_data, "columns", ()):
            d = as_frame(train_data, ("N", "D", "C"), "planner train_data", positive=("N", "D", "C"))
            cm = ComputeModel.fit(d["N"], d["D"], d["C"], k=flops_per_token)
        else:
            cm = as_compute(None, flops_per_token)
    return law, cm, verdict, why


def plan(training_fit: Any, tts: Any, *, queries: float, target_accuracy: float | None = None,
         budget: float | None = None, N: Any = None, tokens_per_param: Any = None,
         flops_per_token: float = 6.0, compute: Any = None, runs: pd.DataFrame | None = None,
         train_data: Any = None, intensity: float = INTENSITY, chance_accuracy: float = 0.0,
         ceilings: Mapping[str, float] | None = None, top: int = 10) -> Plan:
    """Cheapest (N, D, method, n) reaching ``target_accuracy``, or the most accurate within
    ``budget`` total FLOPs, for ``queries`` expected queries (see the module doc for the model).

    ``training_fit``: an :class:`~laws.audit.core.Audit`, a fitted L(N, D) or chinchilla params.
    ``tts``: a table with one row per (model, method, budget) and ``N, loss, accuracy, flops``
    (a :class:`laws.tts.TTSFrontier` or raw rows work too — raw rows also give KV bytes and the
    verifiers' ceilings; ``runs`` supplies losses by model_id = run_id). ``N`` (grid of sizes)
    and ``tokens_per_param`` (grid of D/N) default to log grids around the data. ``train_data``
    (columns N, D, optionally C) gives the training ranges and the exact FLOPs when the fit does
    not.  ``compute``: a ComputeModel for the training FLOPs; ``intensity``: FLOP per byte in
    eFLOPs; ``chance_accuracy``: the accuracy of guessing (the maps' floor); ``ceilings``: method
    → highest reachable accuracy (default: measured from binary verifier scores in raw rows).
    """
    if (target_accuracy is None) == (budget is None):
        raise err("plan: give exactly one of target_accuracy= or budget=")
    if not np.isfinite(queries) or queries < 0:
        raise err(f"plan: queries must be a finite number >= 0, got {queries!r}")
    if target_accuracy is not None and not 0 < target_accuracy <= 1:
        raise err(f"plan: target_accuracy must lie in (0, 1], got {target_accuracy!r}")
    if budget is not None and not budget > 0:
        raise err(f"plan: budget must be > 0 FLOPs, got {budget!r}")
    if not (np.isfinite(intensity) and intensity >= 0):
        raise err(f"plan: intensity must be a number of FLOPs per byte >= 0, got {intensity!r}")
    if not 0 <= chance_accuracy < 1:
        raise err(f"plan: chance_accuracy must lie in [0, 1), got {chance_accuracy!r}")
    law, cm, verdict, why = _training_side(training_fit, compute, train_data, flops_per_token)
    table = getattr(tts, "table", tts)
    notes: list[str] = []
    if isinstance(table, pd.DataFrame) and "correct" in table.columns:
        from laws.tts import aggregate_tts

        raw = table
        table = aggregate_tts(raw)
        kv = kv_per_key(raw)
        if kv is not None and "kv_bytes" not in table.columns:
            table = table.merge(kv, on=["model_id", "method", "budget"], how="left")
        if ceilings is None:
            ceilings = verifier_ceilings(raw)
    if runs is not None:
        table = attach_loss(table, runs)
    if isinstance(table, pd.DataFrame) and "loss" not in table.columns:
        raise err("plan: the tts table needs a 'loss' column per model (or pass runs= to join "
                  "final_val_loss on model_id = run_id)")
    maps = fit_accuracy_maps(table, chance_accuracy=chance_accuracy, ceilings=ceilings)
    notes += [f"{r.method} n={r.budget} skipped: {r.reason}" for r in maps.itertuples() if r.reason]
    notes += [f"{r.method} n={r.budget}: {r.map_note}" for r in maps.itertuples() if r.map_note]
    usable = maps[maps["reason"] == ""]
    if usable.empty:
        raise err("plan: no (method, budget) has models with >= 2 distinct losses to fit loss→accuracy")
    notes.append(f"inference cost in eFLOPs = FLOPs + {intensity:g}·KV bytes (arithmetic intensity "
                 "I in FLOP/byte; 295 is an H100's bf16 peak over its HBM bandwidth; intensity= sets it)")
    notes.append(f"training FLOPs: {cm.source}")
    if verdict is not None and verdict != "sound":
        notes.append(f"the training law's audit says {verdict!r}: {why}")
    ranges = _train_ranges(law, train_data)
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
    loss = _training_loss(law, NN, DD)
    train = cm.flops(NN, DD)
    parts = []
    for m in usable.to_dict(orient="records"):
        acc = predict(m, loss)
        cost = query_cost(m, NN, intensity)
        label = f"{m['method']} n={m['budget']}"
        flags = [_outside(loss, m["loss_lo"], m["loss_hi"], "loss", f"fitted for the {label} accuracy map"),
                 _outside(acc, m["acc_lo"], m["acc_hi"], "accuracy", f"observed for {label}"),
                 _beyond(NN, m["N_lo"], m["N_hi"], "inference N", "largest evaluated model", "smallest evaluated model")]
        law_flags = []
        if ranges:
            law_flags = [_beyond(NN, *ranges["N"], "N", "largest run", "smallest run"),
                         _beyond(DD, *ranges["D"], "D", "most tokens of any run", "fewest tokens of any run")]
        if verdict is not None and verdict != "sound" and law_flags:
            beyond_law = np.array([bool(a or b) for a, b in zip(*law_flags)])
            law_flags.append(np.where(beyond_law, f"training law is {verdict}: this extrapolation is not "
                                                  "supported (see its audit)", ""))
        text = ["; ".join(x for x in f if x) for f in zip(*(law_flags + flags))]
        parts.append(pd.DataFrame({
            "N": NN, "D": DD, "tokens_per_param": DD / NN, "method": m["method"], "budget": m["budget"],
            "loss": loss, "accuracy": acc, "train_flops": train, "train_flops_6nd": 6.0 * NN * DD,
            "tokens": cost["tokens"], "inference_flops": cost["flops"], "kv_bytes": cost["kv_bytes"],
            "inference_eflops": cost["eflops"], "total_flops": train + queries * cost["eflops"],
            "law_verdict": verdict or "", "extrapolated": [bool(t) for t in text], "extrapolation": text}))
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
