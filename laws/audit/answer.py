"""The answer an audit is about, per bootstrap replicate of a fit.

With ``target_C``: the compute-optimal N*, D* and loss at that many (exact) training FLOPs.
Without: the loss the law predicts for the largest run (largest N, then largest D) — the
"largest-size prediction".  Every replicate of the fit gives one value, so the answer comes
with a percentile interval and with the per-replicate values that
:mod:`laws.audit.proposals` uses to rank the next runs.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from laws.frontier.law import _form_thetas, optimum


def replicates(fit: Any, df: pd.DataFrame, target_C: float | None, compute: Any) -> dict:
    """Answer of the estimate and of every replicate: ``{"quantity", "values" (R+1,) with the
    estimate first (log N* or log loss), "N", "D", "loss" (R+1,), "ok" (R+1,) bool, "C"}``."""
    form, thetas, opts = _form_thetas(fit, boot=True)
    return evaluate(form, thetas, opts, df, target_C, compute)


def evaluate(form: Any, thetas: np.ndarray, opts: dict, df: pd.DataFrame, target_C: float | None,
             compute: Any) -> dict:
    """:func:`replicates` for internal parameter rows ``thetas`` of ``form``."""
    if target_C is not None:
        opt = optimum(form, thetas, [float(target_C)], compute, opts)
        N, D, L = opt["N"][:, 0], opt["D"][:, 0], opt["loss"][:, 0]
        ok = np.isfinite(N) & np.isfinite(L) & ~opt["edge"][:, 0]
        edge = bool(opt["edge"][0, 0])
        with np.errstate(all="ignore"):
            vals = np.log(N)
        return {"quantity": "N*", "values": vals, "N": N, "D": D, "loss": L, "ok": ok,
                "C": float(target_C), "edge": edge}
    big = df[df["N"] == df["N"].max()]
    row = big.loc[big["D"].idxmax()]
    n, d = float(row["N"]), float(row["D"])
    prep = form.prepare({"N": np.array([n]), "D": np.array([d])}, opts)
    bad = ~np.all(np.isfinite(thetas), axis=1)
    with np.errstate(all="ignore"):
        f = form.model(np.where(bad[:, None], 0.0, thetas), prep)[:, 0]
        L = form.to_natural(f)
    L = np.where(bad, np.nan, L)
    ok = np.isfinite(L)
    with np.errstate(all="ignore"):
        vals = np.log(L)
    return {"quantity": "loss", "values": vals, "N": np.full(len(L), n), "D": np.full(len(L), d),
            "loss": L, "ok": ok, "C": float(compute.flops(n, d)), "edge": False}


def summarise(rep: dict, level: float, c_max: float) -> dict:
    """Estimate, percentile interval and spread of the answer (JSON-ready floats)."""
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    out: dict[str, Any] = {"quantity": rep["quantity"], "C": rep["C"], "beyond": rep["C"] / c_max,
                           "edge": rep["edge"], "level": level}
    boot_ok = rep["ok"][1:]
    n_boot = len(boot_ok)
    out["replicates"] = n_boot
    out["replicates_failed"] = float(1 - boot_ok.mean()) if n_boot else 0.0
    for k in ("N", "D", "loss"):
        out[k] = _f(rep[k][0])
        if n_boot >= 2 and boot_ok.sum() >= 2:
            lo, hi = np.percentile(rep[k][1:][boot_ok], q)
            out[f"{k}_lo"], out[f"{k}_hi"] = _f(lo), _f(hi)
        else:
            out[f"{k}_lo"] = out[f"{k}_hi"] = None
    out["C_6nd"] = _f(6.0 * rep["N"][0] * rep["D"][0])
    key = "N" if rep["quantity"] == "N*" else "loss"
    lo, hi, est = out[f"{key}_lo"], out[f"{key}_hi"], out[key]
    out["factor"] = _f(hi / lo) if lo and hi and lo > 0 else None          # hi / lo
    out["rel_halfwidth"] = _f((hi - lo) / (2 * est)) if lo is not None and est else None
    return out


def _f(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None
