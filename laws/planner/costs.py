"""Inference cost per query of the planner: exact FLOPs and KV-cache traffic, as eFLOPs.

Kinetics (Sadhukhan et al. 2025) counts what decoding really costs: ``eFLOPs = FLOPs + I·bytes``,
the arithmetic plus the memory traffic (mostly reading the KV cache) at the hardware's
arithmetic intensity ``I`` (FLOP per byte of memory bandwidth).  The default,
:data:`INTENSITY` = 295, is an H100 SXM's dense bf16 peak over its HBM3 bandwidth
(989e12 / 3.35e12); pass ``intensity=`` for other hardware (0 counts FLOPs only).

Per (method, n), from the evaluated models (rows of the aggregated test-time table):

- tokens per query ``t(N) = t0·(N/N_ref)^s`` — measured per model and fitted in log-log, so a
  bigger model that writes shorter (or longer) answers costs what it really does; one model (or
  one size) gives a constant;
- policy FLOPs per token per parameter ``f = median(policy_flops / (N·t))`` (about 2);
- reward FLOPs per token ``r = median(reward_flops / t)`` (a fixed reward model's cost per token);
- KV bytes per token ``b(N) = b0·(N/N_ref)^u``, fitted like ``t`` (0 when not recorded).

Cost of a query on a model of size N: ``FLOPs = (f·N + r)·t(N)``, ``bytes = b(N)·t(N)``,
``eFLOPs = FLOPs + I·bytes``.  Without token counts the v1 model ``k·N + r`` is used (k, r
medians of policy FLOPs per parameter and reward FLOPs) and the row says so.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

INTENSITY = 295.0


def _power(N: np.ndarray, y: np.ndarray, ref: float) -> tuple[float, float]:
    """(y0, exponent) of ``y = y0·(N/ref)^e`` by least squares in log-log (e = 0 for one size)."""
    ok = np.isfinite(y) & (y > 0)
    N, y = N[ok], y[ok]
    if not len(y):
        return 0.0, 0.0
    x = np.log(N / ref)
    if np.ptp(x) < 1e-9:
        return float(np.exp(np.log(y).mean())), 0.0
    e, c = np.polyfit(x, np.log(y), 1)
    return float(np.exp(c)), float(e)


def kv_per_key(rows: pd.DataFrame) -> pd.DataFrame | None:
    """Mean KV-cache bytes per query per (model_id, method, budget) of raw rows (the same labels
    as :func:`laws.aggregate_tts`), or None without a ``kv_bytes`` column."""
    from laws.tts import method_labels

    if "kv_bytes" not in rows.columns or "model_id" not in rows.columns:
        return None
    r = rows.copy()
    r["series"], r["method"] = method_labels(r)
    if "budget" not in r.columns:
        r["budget"] = 1
    r["kv_bytes"] = pd.to_numeric(r["kv_bytes"], errors="coerce")
    return r.groupby(["model_id", "method", "budget"], as_index=False)["kv_bytes"].mean()


def fit_costs(g: pd.DataFrame) -> dict:
    """Cost model of one (method, budget) from its evaluated models (see the module doc)."""
    N = g["N"].to_numpy(float)
    ref = float(np.exp(np.log(N).mean()))
    pol = g["policy_flops"].to_numpy(float) if "policy_flops" in g.columns else g["flops"].to_numpy(float)
    rew = g["reward_flops"].to_numpy(float) if "reward_flops" in g.columns else np.zeros(len(g))
    out: dict[str, Any] = {"N_ref": ref}
    if "tokens" in g.columns and np.all(pd.to_numeric(g["tokens"], errors="coerce") > 0):
        t = g["tokens"].to_numpy(float)
        out["cost_model"] = "per token (tokens per query measured per model)"
        out["t0"], out["t_exp"] = _power(N, t, ref)
        out["f"] = float(np.median(pol / (N * t)))
        out["r_tok"] = float(np.median(rew / t))
        kv = g["kv_bytes"].to_numpy(float) if "kv_bytes" in g.columns else np.zeros(len(g))
        out["b0"], out["b_exp"] = _power(N, kv / t, ref) if np.any(kv > 0) else (0.0, 0.0)
    else:
        out["cost_model"] = "per parameter (no token counts: tokens per query assumed not to depend on N)"
        out["k"] = float(np.median(pol / N))
        out["r"] = float(np.median(rew))
    return out


def query_cost(m: Mapping, N: Any, intensity: float = INTENSITY) -> dict[str, np.ndarray]:
    """``tokens, flops, kv_bytes, eflops`` per query on models of size ``N`` under map row ``m``."""
    N = np.asarray(N, float)
    if "t0" in m and np.isfinite(m.get("t0", np.nan)):
        t = m["t0"] * (N / m["N_ref"]) ** m["t_exp"]
        flops = (m["f"] * N + m["r_tok"]) * t
        kv = m["b0"] * (N / m["N_ref"]) ** m["b_exp"] * t
    else:
        t = np.full(N.shape, np.nan)
        flops = m["k"] * N + m["r"]
        kv = np.zeros(N.shape)
    return {"tokens": t, "flops": flops, "kv_bytes": kv, "eflops": flops + float(intensity) * kv}
