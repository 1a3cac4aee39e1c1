"""Bootstrap CIs: coverage of the true parameters, and the batched solver vs plain L-BFGS-B."""
from __future__ import annotations

import importlib
import math

import numpy as np

import laws
from laws.fit import prepare_problem

TRUTH = dict(E=1.82, A=482.0, B=2085.0, alpha=0.3478, beta=0.3658)


def _data(rng, n=50, noise=0.01):
    N = np.exp(rng.uniform(math.log(1e6), math.log(1e10), n))
    D = np.exp(rng.uniform(math.log(1e8), math.log(1e12), n))
    L = TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]
    return {"N": N, "D": D, "loss": L * np.exp(noise * rng.standard_normal(n))}


def test_chinchilla_95ci_covers_truth_in_at_least_85_percent_of_40_replicates():
    hits = dict.fromkeys(TRUTH, 0)
    for r in range(40):
        fit = laws.fit("chinchilla", _data(np.random.default_rng(1000 + r)), bootstrap=80, seed=r)
        for k, v in TRUTH.items():
            lo, hi = fit.ci[k]
            hits[k] += lo <= v <= hi
    assert all(h >= 34 for h in hits.values()), hits


def test_batched_replicates_reach_the_lbfgsb_optimum():
    bs = importlib.import_module("laws.bootstrap")
    form = laws.forms()["chinchilla"]
    prob, _ = prepare_problem(form, _data(np.random.default_rng(5), n=120), "huber", 1e-3, {})
    theta0, _ = prob.solve(form.grid(prob.prep, prob.y))
    W = np.random.default_rng(0).multinomial(120, np.full(120, 1 / 120), size=60).astype(float)
    thetas, objs = bs.batched_lm(prob, theta0, W)
    ref = [prob.local(theta0, w) for w in W]
    ref_obj = np.array([v for _, v in ref])
    ref_theta = np.array([t for t, _ in ref])
    assert np.all(objs <= ref_obj * (1 + 1e-4)), np.max(objs / ref_obj)
    np.testing.assert_allclose(np.percentile(thetas, [2.5, 97.5], axis=0),
                               np.percentile(ref_theta, [2.5, 97.5], axis=0), rtol=2e-3, atol=2e-3)


def test_ci_of_a_schedule_form():
    rng = np.random.default_rng(2)
    rows = {"run": [], "step": [], "lr": [], "loss": []}
    truth = laws.LawFit(form="lr_annealing", params=dict(L0=2.0, A=0.8, alpha=0.4, C=0.5),
                        options={"warmup_steps": 0, "lam": 0.999})
    for run, T in (("a", 400), ("b", 600)):
        for s in range(10, T + 1, 10):
            rows["run"].append(run)
            rows["step"].append(s)
            rows["lr"].append(1e-3 if s < 0.7 * T else 1e-3 * (1 - (s - 0.7 * T) / (0.3 * T)) + 1e-5)
    rows["loss"] = truth.predict(rows) * np.exp(0.005 * rng.standard_normal(len(rows["step"])))
    fit = laws.fit("lr_annealing", rows, bootstrap=100, seed=1)
    assert fit.boot_params.shape == (100, 4)
    for k, v in truth.params.items():
        lo, hi = fit.ci[k]
        assert lo < fit.params[k] < hi and hi - lo < abs(v)


def test_predict_band_brackets_truth_and_is_its_replicates_percentiles():
    fit = laws.fit("chinchilla", _data(np.random.default_rng(7)), bootstrap=60, seed=0)
    grid = {"N": np.geomspace(1e7, 1e9, 5), "D": np.geomspace(1e9, 1e11, 5)}
    lo, hi = fit.predict_band(grid)
    truth = TRUTH["E"] + TRUTH["A"] / grid["N"] ** TRUTH["alpha"] + TRUTH["B"] / grid["D"] ** TRUTH["beta"]
    assert np.all(lo < hi) and np.all((lo <= truth * 1.01) & (truth * 0.99 <= hi))
    # by hand: the 2.5/97.5 percentiles of the formula evaluated at every replicate
    P = dict(zip(fit.param_names, fit.boot_params.T))
    per_rep = (P["E"][:, None] + P["A"][:, None] / grid["N"] ** P["alpha"][:, None]
               + P["B"][:, None] / grid["D"] ** P["beta"][:, None])
    ref_lo, ref_hi = np.percentile(per_rep, [2.5, 97.5], axis=0)
    np.testing.assert_allclose(lo, ref_lo, rtol=1e-9)
    np.testing.assert_allclose(hi, ref_hi, rtol=1e-9)
    assert laws.fit("chinchilla", _data(np.random.default_rng(7))).predict_band(grid) is None
