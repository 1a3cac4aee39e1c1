"""The next runs to make: candidates ranked by how much each would narrow the answer's interval
per FLOP it costs.

Candidates lie on the ladder's grid extended beyond it: the size groups' N plus two steps up
and one down (a step is the ladder's median ratio between sizes, 2 to 4; 2 without one), and
likewise for D; (N, D) pairs already run are left out.  Each costs its exact training FLOPs
(:class:`~laws.frontier.compute.ComputeModel`).

How much a run would help is measured the way the answer's interval is made: the run is added
to the data at the loss the fit predicts for it, the bootstrap is rerun (:data:`SIM_BOOT`
replicates, warm-started at the fit, the same seed for every candidate) and the width of the
answer's central 80 % interval (in log; steadier than the 95 % one from so few replicates) is
measured again; ``gain`` is the share of that width the run removes.
Runs are picked greedily by gain per FLOP, each pick kept in the data for the next, so the second
run is what is still worth doing after the first.  To keep this affordable, only a shortlist of
:data:`SHORTLIST` candidates is simulated: the best by a first-order score — across the fit's
bootstrap replicates (an ensemble of laws the data allow), the share
``Cov(A, y_j)^2 / ((Var(y_j) + sigma^2) Var(A))`` of the answer's variance that measuring the log
loss ``y_j`` at candidate ``j`` with the runs' noise ``sigma`` would remove (a Kalman update),
per FLOP — and the best by that share alone.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from laws.audit.answer import evaluate
from laws.audit.backtest import groups
from laws.audit.parallel import pmap
from laws.frontier.law import _form_thetas

N_PROPOSALS = 3
SHORTLIST = 12
SIM_BOOT = 50
SIM_LEVEL = 0.8


def _axis(values: np.ndarray) -> np.ndarray:
    lab = groups(values)
    reps = np.array([float(np.exp(np.log(values[lab == g]).mean())) for g in range(lab.max() + 1)])
    step = float(np.clip(np.median(reps[1:] / reps[:-1]), 2.0, 4.0)) if len(reps) > 1 else 2.0
    return np.concatenate([[reps[0] / step], reps, [reps[-1] * step, reps[-1] * step ** 2]])


def candidates(df: pd.DataFrame, compute: Any) -> pd.DataFrame:
    """The extended grid (N, D, C exact, C_6nd) minus the (N, D) pairs already run."""
    Ns, Ds = _axis(df["N"].to_numpy(float)), _axis(df["D"].to_numpy(float))
    NN, DD = (a.ravel() for a in np.meshgrid(Ns, Ds, indexing="ij"))
    seen = np.zeros(len(NN), bool)
    for n, d in zip(df["N"].to_numpy(float), df["D"].to_numpy(float)):
        seen |= (np.abs(NN / n - 1) < 0.05) & (np.abs(DD / d - 1) < 0.05)
    NN, DD = NN[~seen], DD[~seen]
    return pd.DataFrame({"N": NN, "D": DD, "C": compute.flops(NN, DD), "C_6nd": 6.0 * NN * DD})


def _linear_share(Y: np.ndarray, A: np.ndarray, sigma: float) -> np.ndarray:
    """First-order share of Var(A) that observing each column of ``Y`` would remove."""
    Z = np.column_stack([A, Y])
    Z = Z - Z.mean(axis=0)
    S = Z.T @ Z / max(len(Z) - 1, 1)
    if not S[0, 0] > 0:
        return np.zeros(Y.shape[1])
    return S[0, 1:] ** 2 / (np.diag(S)[1:] + sigma ** 2) / S[0, 0]


def _width(rep: dict, level: float) -> float:
    """Width of the answer's ``level`` percentile interval in log (NaN with < 10 good replicates)."""
    v = rep["values"][1:][rep["ok"][1:]]
    if v.size < 10:
        return float("nan")
    lo, hi = np.percentile(v, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(hi - lo)


def _simulate(job: tuple) -> float:
    """The answer's interval width after rerunning the bootstrap on ``data``."""
    from laws.bootstrap import replicate_thetas
    from laws.fit import prepare_problem

    fit, form, theta0, opts, data, target_C, compute, seed, level = job
    prob, _ = prepare_problem(form, data[["N", "D", "loss"]], fit.loss, fit.delta, opts)
    th = replicate_thetas(prob, theta0, SIM_BOOT, seed, workers=1)
    rep = evaluate(form, np.vstack([theta0[None, :], th]), opts, data, target_C, compute)
    return _width(rep, level)


def _light(fit: Any) -> Any:
    """The fit's settings without its replicate matrix (sent to worker processes)."""
    from laws.fit import LawFit

    return LawFit(form=fit.form, params=dict(fit.params), options=dict(fit.options), loss=fit.loss,
                  delta=fit.delta)


def propose(fit: Any, rep: dict, df: pd.DataFrame, compute: Any, sigma: float, *,
            target_C: float | None = None, n: int = N_PROPOSALS, level: float = 0.95,
            seed: int = 0, workers: int = 1) -> tuple[pd.DataFrame, str]:
    """Ranked proposals (``N, D, C, C_6nd, gain, gain_per_flop, loss, loss_lo, loss_hi``) and a
    note (why there are none, when so)."""
    cols = ["N", "D", "C", "C_6nd", "gain", "gain_per_flop", "loss", "loss_lo", "loss_hi"]
    cand = candidates(df, compute)
    if cand.empty:
        return pd.DataFrame(columns=cols), "no candidate runs beyond those already made"
    form, thetas, opts = _form_thetas(fit, boot=True)
    if len(thetas) < 10:
        return pd.DataFrame(columns=cols), "proposals need the fit's bootstrap replicates (bootstrap >= 10)"
    prep = form.prepare({"N": cand["N"].to_numpy(), "D": cand["D"].to_numpy()}, opts)
    with np.errstate(all="ignore"):
        Y = form.model(np.where(np.isfinite(thetas), thetas, 0.0), prep)
    A = rep["values"][1:]
    ok = rep["ok"][1:] & np.isfinite(A) & np.all(np.isfinite(Y[1:]), axis=1)
    if ok.sum() < 10:
        return pd.DataFrame(columns=cols), f"only {int(ok.sum())} replicates give a finite answer: nothing to rank"
    cost = cand["C"].to_numpy(float)
    share = _linear_share(Y[1:][ok], A[ok], sigma)
    short = list(dict.fromkeys(list(np.argsort(-share / cost)[:SHORTLIST - SHORTLIST // 4])
                               + list(np.argsort(-share)[:SHORTLIST // 4])))
    pred = form.to_natural(Y[0])
    cand["loss"] = pred
    theta0 = thetas[0]
    data = df[["N", "D", "loss"]].copy()
    fit_light = _light(fit)
    # the width to beat is measured the same way as the candidates' (same replicates, same seed)
    w0 = _simulate((fit_light, form, theta0, opts, data, target_C, compute, seed, SIM_LEVEL))
    if not np.isfinite(w0) or w0 <= 0:
        return pd.DataFrame(columns=cols), "the replicates give no interval for the answer: nothing to rank"
    picked, gains, width = [], [], w0
    for _ in range(min(n, len(short))):
        todo = [j for j in short if j not in picked]
        trials = [pd.concat([data, cand.iloc[[j]][["N", "D", "loss"]]], ignore_index=True) for j in todo]
        ws = pmap(_simulate, [(fit_light, form, theta0, opts, t, target_C, compute, seed, SIM_LEVEL)
                              for t in trials], workers)
        best = None
        for j, w, trial in zip(todo, ws, trials):
            g = (width - w) / width if np.isfinite(w) else -np.inf
            if best is None or g / cost[j] > best[1] / cost[best[0]]:
                best = (j, g, w, trial)
        if best is None or not best[1] > 0:
            break
        j, g, width, data = best
        picked.append(j)
        gains.append(float(g))
    out = cand.iloc[picked].reset_index(drop=True)
    out["gain"] = gains
    out["gain_per_flop"] = out["gain"] / out["C"]
    Lr = form.to_natural(Y[1:][ok][:, picked])
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    if picked:
        out["loss_lo"], out["loss_hi"] = np.percentile(Lr, q, axis=0)
    else:
        out["loss_lo"] = out["loss_hi"] = []
    if not picked:
        return pd.DataFrame(columns=cols), "no candidate run would narrow the answer's interval"
    return out[cols], (f"together these runs are expected to narrow the answer's central 80 % "
                       f"interval from a factor {np.exp(w0):.3g} to {np.exp(width):.3g}")
