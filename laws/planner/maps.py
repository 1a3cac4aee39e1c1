"""Loss → accuracy maps of the planner, one per (method, n), each backtested.

The map is Gadre et al.'s ``downstream`` law on the error, ``Err(L) = eps - k·exp(-gamma·L)``,
fitted on the evaluated models (one point per model: its final loss, its measured error) with
``eps`` at most the chance-level error ``1 - chance_accuracy``.  Predicted accuracy is
``1 - Err`` clipped to ``[chance_accuracy, ceiling]``: guessing is the floor, and a verifier
that accepts wrong answers at a measured false-positive rate ``fp`` caps what picking by it can
reach (``ceiling = 1 - fp``; 1 for an exact checker or when unknown).

``downstream`` has three parameters, so it needs models of at least 3 distinct losses; with 2,
the v1 map (a logistic in the loss, two parameters) is used and the row says so.  **Backtest**:
with one model more than the map needs, the map is refitted without the largest evaluated model
and predicts its accuracy from its loss; ``backtest_error`` is predicted − measured and
``backtest_inside`` whether the prediction lies in the measured accuracy's 95 % Wilson interval.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from laws.errors import LawFitError


def logistic_fit(loss: np.ndarray, acc: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Binomial-likelihood fit of ``acc = σ(c0 − c1·loss)``, ``c1 ≥ 0``; returns (c0, c1)."""
    mu, sd = loss.mean(), loss.std() or 1.0
    z = (loss - mu) / sd
    p = np.clip(acc, 0.0, 1.0)

    def nll(th):
        t = th[0] - th[1] * z
        ll = w * (p * -np.logaddexp(0, -t) + (1 - p) * -np.logaddexp(0, t))
        return -ll.sum() + 1e-6 * (th ** 2).sum()

    res = minimize(nll, np.array([0.0, 1.0]), method="L-BFGS-B", bounds=[(-50, 50), (0, 50)],
                   options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 1000})
    b0, b1 = res.x
    return float(b0 + b1 * mu / sd), float(b1 / sd)


def _fit_map(loss: np.ndarray, acc: np.ndarray, w: np.ndarray, chance: float) -> dict:
    """One map: ``downstream`` with >= 3 distinct losses, else the logistic."""
    import laws

    if np.unique(loss).size >= 3:
        try:
            f = laws.fit("downstream", {"loss": loss, "error": np.clip(1 - acc, 0, 1)}, chance=1 - chance)
            return {"kind": "downstream", **f.params}
        except LawFitError as exc:
            note = f"downstream fit failed ({exc}); logistic used"
    else:
        note = "downstream needs models of 3 distinct losses; logistic used"
    c0, c1 = logistic_fit(loss, acc, w)
    return {"kind": "logistic", "c0": c0, "c1": c1, "map_note": note}


def predict(m: Mapping, loss: Any) -> np.ndarray:
    """Accuracy of map row ``m`` at ``loss``, clipped to [chance, ceiling]."""
    L = np.asarray(loss, float)
    with np.errstate(over="ignore"):
        if m["kind"] == "downstream":
            acc = 1.0 - (m["eps"] - m["k"] * np.exp(-m["gamma"] * L))
        else:
            acc = 1.0 / (1.0 + np.exp(-(m["c0"] - m["c1"] * L)))
    return np.clip(acc, m.get("chance", 0.0), m.get("ceiling", 1.0))


def verifier_ceilings(rows: pd.DataFrame) -> dict[str, float]:
    """Accuracy ceiling ``1 - fp`` per method label from raw test-time rows whose verifier gave
    binary scores (``cand_scores`` in {0, 1}): ``fp`` = share of wrong candidates it scored 1.
    Exact checkers (``oracle``) get 1; methods without binary scores are left out."""
    from laws.tts import method_labels

    if "cand_scores" not in rows.columns or "cand_correct" not in rows.columns:
        return {}
    _, labels = method_labels(rows)
    out: dict[str, float] = {}
    for label, g in rows.groupby(labels):
        if "oracle" in g.columns and g["oracle"].astype(bool).all():
            out[str(label)] = 1.0
            continue
        wrong, fp, ok = 0, 0, True
        for sc, cc in zip(g["cand_scores"], g["cand_correct"]):
            if sc is None or cc is None:
                continue
            for s, c in zip(list(sc), list(cc)):
                if s is None or s not in (0, 1, 0.0, 1.0):
                    ok = False
                    break
                if not c:
                    wrong += 1
                    fp += int(s == 1)
            if not ok:
                break
        if ok and wrong:
            out[str(label)] = 1.0 - fp / wrong
    return out


def fit_maps(t: pd.DataFrame, *, chance_accuracy: float = 0.0,
             ceilings: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Fit the map of every (method, budget) of the aggregated table ``t`` (one row per model,
    method, budget with ``N, loss, accuracy``; optional ``n_problems``, ``lo``, ``hi``)."""
    from laws.tts import wilson

    rows = []
    ceilings = dict(ceilings or {})
    for (meth, n), g in t.groupby(["method", "budget"], sort=True):
        row = {"method": meth, "budget": n, "n_models": len(g), "loss_lo": g["loss"].min(),
               "loss_hi": g["loss"].max(), "acc_lo": g["accuracy"].min(), "acc_hi": g["accuracy"].max(),
               "N_lo": g["N"].min(), "N_hi": g["N"].max(), "reason": "", "map_note": "",
               "chance": float(chance_accuracy), "ceiling": float(ceilings.get(str(meth), 1.0))}
        L, acc = g["loss"].to_numpy(float), g["accuracy"].to_numpy(float)
        w = g["n_problems"].to_numpy(float) if "n_problems" in g.columns else np.ones(len(g))
        if np.unique(L).size < 2:
            row["reason"] = f"{np.unique(L).size} distinct model loss(es); need >= 2"
            rows.append(row)
            continue
        row.update(_fit_map(L, acc, w, chance_accuracy))
        need = 3 if row["kind"] == "downstream" else 2
        big = int(np.argmax(g["N"].to_numpy(float)))
        rest = np.arange(len(g)) != big
        if np.unique(L[rest]).size >= need and (row["kind"] == "logistic" or np.unique(L[rest]).size >= 3):
            m = {**row, **_fit_map(L[rest], acc[rest], w[rest], chance_accuracy)}
            pred = float(predict(m, L[big]))
            k = acc[big] * w[big]
            lo, hi = wilson(k, w[big]) if "n_problems" in g.columns else (np.nan, np.nan)
            row.update(backtest_model=str(g["model_id"].iloc[big]) if "model_id" in g.columns else "",
                       backtest_pred=pred, backtest_actual=float(acc[big]),
                       backtest_error=pred - float(acc[big]),
                       backtest_inside=bool(lo <= pred <= hi) if np.isfinite(lo) else None)
        else:
            row["backtest_note"] = (f"backtest needs models of {need + 1} distinct losses "
                                    f"(one to hold out); have {np.unique(L).size}")
        rows.append(row)
    return pd.DataFrame(rows)
