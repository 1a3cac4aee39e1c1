"""Ground truth per form: data from known parameters with 1 % noise -> parameters recovered.

Tolerances: 5 % relative unless stated.  Exceptions (5 % is not meaningful there):
- chinchilla A, B and kaplan Nc, Dc: prefactors are exponentially sensitive to the exponents,
  so they are checked as 5 % of their *logarithm*;
- sigmoid lo/hi: accuracies near 0/1, checked to 0.02 absolute;
- hparam: b within 10 % (small exponent), c through LR* predicted inside the data (5 %);
- parscale: at 0.2 % noise all four within 5 % (A, k 10 %); at 1 % noise E and A trade off,
  so E, alpha within 10 % and the fitted curve within 1 % of the true one;
- multi_power: only L0, A, alpha are identifiable from 1 %-noise curves; B, C, beta, gamma
  are checked through the law's job instead: predicting unseen schedules (constant; a 1.5x longer WSD) within 1 % from step 100 on.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import laws
from laws.forms import Form


def _noisy(y, rng, rel=0.01):
    return y * np.exp(rel * rng.standard_normal(np.shape(y)))


def _close(got, want, tol=0.05):
    assert abs(got - want) <= tol * abs(want), (got, want)


def chinchilla_data(rng, n=245, noise=0.01, truth=(1.82, 482.0, 2085.0, 0.3478, 0.3658)):
    """Chinchilla-law points on a log-uniform N x D design."""
    E, A, B, al, be = truth
    N = np.exp(rng.uniform(math.log(1e6), math.log(1e10), n))
    D = np.exp(rng.uniform(math.log(1e8), math.log(1e12), n))
    return pd.DataFrame({"N": N, "D": D, "loss": _noisy(E + A / N**al + B / D**be, rng, noise)})


def test_registry_lists_every_form_with_columns_params_formula():
    reg = laws.forms()
    for name in ("chinchilla", "kaplan", "power_law", "lr_annealing", "multi_power", "parscale",
                 "coverage", "sigmoid", "hparam", "hparam_batch"):
        f = reg[name]
        assert isinstance(f, Form) and f.name == name
        assert f.inputs and f.target and f.params and "=" in f.formula
    assert reg["chinchilla"].params == ("E", "A", "B", "alpha", "beta")
    assert reg["multi_power"].params == ("L0", "A", "alpha", "B", "C", "beta", "gamma")


@pytest.mark.parametrize("name", ["chinchilla", "kaplan", "power_law", "parscale", "coverage",
                                  "sigmoid", "lr_annealing", "multi_power", "hparam"])
def test_analytic_jacobian_matches_finite_differences(name):
    form = laws.forms()[name]
    rng = np.random.default_rng(3)
    data = {"chinchilla": lambda: chinchilla_data(rng, 20), "kaplan": lambda: chinchilla_data(rng, 20),
            "power_law": lambda: pd.DataFrame({"x": np.logspace(1, 5, 9), "y": np.linspace(3, 2, 9)}),
            "parscale": lambda: pd.DataFrame({"N": np.repeat([1e8, 1e9], 3), "P": np.tile([1, 2, 4], 2),
                                              "loss": np.linspace(3, 2, 6)}),
            "coverage": lambda: pd.DataFrame({"k": [1, 2, 4, 8.0], "coverage": [.2, .3, .4, .5]}),
            "sigmoid": lambda: pd.DataFrame({"x": np.logspace(1, 5, 9), "y": np.linspace(0, 1, 9)}),
            "lr_annealing": lambda: _curves(("cos",), lambda eta, s: _annealing(eta, s, 2.5, 1.0, 0.5, 0.2), rng),
            "multi_power": lambda: _curves(("wsd",), lambda eta, s: _mpl(eta, s, *MPL), rng),
            "hparam": lambda: pd.DataFrame({"N": [1e6, 1e7, 1e6], "D": [1e8, 1e8, 1e9]})}[name]()
    cols = {c: data[c].to_numpy() for c in form.inputs}
    prep = form.prepare(cols, dict(form.options))
    theta = form.grid(prep, np.log(np.linspace(2, 3, len(data))) if form.log_target else
                      np.linspace(0.2, 0.8, len(data)))[::37][:4] if name not in ("lr_annealing", "multi_power") \
        else np.array([[2.4, 1.1, 0.45, 0.3] if name == "lr_annealing" else
                       [2.4, 1.1, 0.45, 250.0, math.log(1.5), 0.5, 0.4]])
    f, jac = form.model_jac(theta, prep)
    f2, jfd = Form.model_jac(form, theta, prep)
    np.testing.assert_allclose(f, f2, rtol=1e-12)
    np.testing.assert_allclose(jac, jfd, rtol=1e-4, atol=1e-6 * max(1.0, np.abs(jfd).max()))


def test_chinchilla_ground_truth():
    fit = laws.fit("chinchilla", chinchilla_data(np.random.default_rng(0)))
    p = fit.params
    for k, v in {"E": 1.82, "alpha": 0.3478, "beta": 0.3658}.items():
        _close(p[k], v)
    _close(math.log(p["A"]), math.log(482.0))
    _close(math.log(p["B"]), math.log(2085.0))
    assert fit.r2 > 0.9 and fit.n_points == 245


def test_kaplan_ground_truth():
    rng = np.random.default_rng(1)
    Nc, Dc, aN, aD = 8.8e13, 5.4e13, 0.076, 0.103
    N = np.exp(rng.uniform(math.log(1e6), math.log(1e10), 200))
    D = np.exp(rng.uniform(math.log(1e8), math.log(1e12), 200))
    loss = _noisy(((Nc / N) ** (aN / aD) + Dc / D) ** aD, rng)
    p = laws.fit("kaplan", {"N": N, "D": D, "loss": loss}).params
    _close(p["alphaN"], aN)
    _close(p["alphaD"], aD)
    _close(math.log(p["Nc"]), math.log(Nc))
    _close(math.log(p["Dc"]), math.log(Dc))


def test_power_law_ground_truth():
    rng = np.random.default_rng(2)
    x = np.logspace(15, 22, 40)
    p = laws.fit("power_law", {"x": x, "y": _noisy(1.7 + 2.0e3 * x**-0.18, rng)}).params
    _close(p["E"], 1.7)
    _close(p["alpha"], 0.18)
    _close(math.log(p["A"]), math.log(2.0e3))


def _parscale(N, P, E=1.8, A=0.4, k=0.39, al=0.19):
    return E + (A * 1e9 / (N * (k * np.log(P) + 1))) ** al


def test_parscale_ground_truth():
    rng = np.random.default_rng(3)
    N = np.repeat(np.logspace(7.5, 9.5, 8), 4)
    P = np.tile([1, 2, 4, 8], 8).astype(float)
    p = laws.fit("parscale", {"N": N, "P": P, "loss": _noisy(_parscale(N, P), rng, 0.002)}).params
    for name, v in dict(E=1.8, A=0.4, k=0.39, alpha=0.19).items():
        _close(p[name], v, 0.10 if name in ("A", "k") else 0.05)


def test_parscale_at_1_percent_noise():
    """At 1 % noise E and A trade off (A, k move by tens of %); E, alpha and the curve hold."""
    rng = np.random.default_rng(0)
    N = np.repeat(np.logspace(7, 10, 16), 6)
    P = np.tile([1, 2, 4, 8, 16, 32], 16).astype(float)
    fit = laws.fit("parscale", {"N": N, "P": P, "loss": _noisy(_parscale(N, P), rng)})
    _close(fit.params["E"], 1.8, 0.10)
    _close(fit.params["alpha"], 0.19, 0.10)
    np.testing.assert_allclose(fit.predict({"N": N, "P": P}), _parscale(N, P), rtol=0.01)


def test_coverage_ground_truth():
    rng = np.random.default_rng(4)
    k = np.unique(np.logspace(0, 3, 25).round())
    cov = np.minimum(_noisy(np.exp(-2.2 * k**-0.45), rng), 1.0)
    p = laws.fit("coverage", {"k": k, "coverage": cov}).params
    _close(p["a"], -2.2)
    _close(p["b"], -0.45)


def test_sigmoid_ground_truth():
    rng = np.random.default_rng(5)
    x = np.logspace(6, 11, 40)
    y = 0.05 + 0.85 / (1 + np.exp(-1.6 * (np.log(x) - 20.0)))
    p = laws.fit("sigmoid", {"x": x, "y": y * (1 + 0.01 * rng.standard_normal(40))}).params
    assert abs(p["lo"] - 0.05) < 0.02 and abs(p["hi"] - 0.90) < 0.02
    _close(p["s"], 1.6)
    _close(p["x0"], 20.0)


# ---- schedules -------------------------------------------------------------------------
MPL = (2.5, 1.0, 0.5, 300.0, 2.0, 0.6, 0.5)   # L0, A, alpha, B, C, beta, gamma


def schedule(kind, T=2000, peak=3e-3):
    """eta[1..T] for a constant, cosine (to 10 %) or WSD (last 20 % linear to 1 %) schedule."""
    t = np.arange(1, T + 1)
    if kind == "const":
        return np.full(T, peak)
    if kind == "cos":
        return peak * (0.1 + 0.45 * (1 + np.cos(np.pi * t / T)))
    return np.where(t < 0.8 * T, peak, peak * (0.01 + 0.99 * (1 - (t - 0.8 * T) / (0.2 * T))))


def _annealing(eta, steps, L0, A, al, C, lam=0.999):
    """Reference lr_annealing loss at ``steps``, by an explicit loop (independent of laws)."""
    S1, m, S2, out, prev = 0.0, 0.0, 0.0, {}, eta[0]
    for t, e in enumerate(eta, start=1):
        S1 += e
        m = lam * m + (prev - e)
        S2 += m
        prev = e
        out[t] = L0 + A * S1**-al - C * S2
    return np.array([out[t] for t in steps])


def _mpl(eta, steps, L0, A, al, B, C, be, ga):
    """Reference multi-power loss at ``steps``, straight from Luo et al.'s formula (eta_0 = eta_1)."""
    e = np.r_[eta[0], eta]
    out = []
    for t in steps:
        k = np.arange(1, t + 1)
        S_k = np.cumsum(e[1:t + 1][::-1])[::-1]           # S_k(t) = sum_{tau=k..t} eta_tau
        ld = np.sum((e[k - 1] - e[k]) * (1 - (C * e[k] ** -ga * S_k + 1) ** -be))
        out.append(L0 + A * e[1:t + 1].sum() ** -al - B * ld)
    return np.array(out)


def _curves(kinds, law, rng, every=20, noise=0.01, T=2000):
    rows = []
    for kind in kinds:
        eta = schedule(kind, T)
        steps = np.arange(every, T + 1, every)
        for s, loss in zip(steps, law(eta, steps)):
            rows.append({"run": kind, "step": s, "lr": eta[s - 1], "loss": loss})
    df = pd.DataFrame(rows)
    df["loss"] = _noisy(df["loss"].to_numpy(), rng, noise)
    return df


def test_lr_annealing_ground_truth_and_unseen_schedule():
    rng = np.random.default_rng(6)
    truth = dict(L0=2.5, A=1.0, alpha=0.5, C=0.2)
    fit = laws.fit("lr_annealing", _curves(("cos", "wsd"), lambda e, s: _annealing(e, s, *truth.values()), rng))
    for k, v in truth.items():
        _close(fit.params[k], v)
    test = _curves(("const",), lambda e, s: _annealing(e, s, *truth.values()), rng, noise=0.0)
    _predicts(fit, test)


def _predicts(fit, test, rtol=0.005):
    """Prediction of an unseen curve within ``rtol`` from step 100 on (not the first few steps)."""
    got = fit.predict(test.drop(columns="loss"))
    late = test["step"].to_numpy() >= 100
    np.testing.assert_allclose(got[late], test["loss"].to_numpy()[late], rtol=rtol)


def test_multi_power_ground_truth_and_unseen_schedule():
    rng = np.random.default_rng(7)
    fit = laws.fit("multi_power", _curves(("cos", "wsd"), lambda e, s: _mpl(e, s, *MPL), rng))
    for k, v in zip(("L0", "A", "alpha"), MPL):
        _close(fit.params[k], v)
    test = _curves(("const",), lambda e, s: _mpl(e, s, *MPL), rng, noise=0.0)
    test2 = _curves(("wsd",), lambda e, s: _mpl(e, s, *MPL), rng, noise=0.0, T=3000)
    for t in (test, test2):
        _predicts(fit, t, rtol=0.01)


def test_multi_power_matches_reference_formula_exactly_without_binning():
    eta = schedule("wsd", 400)
    steps = np.arange(10, 401, 10)
    fit = laws.LawFit(form="multi_power", params=dict(zip(laws.forms()["multi_power"].params, MPL)),
                      options={"warmup_steps": 0, "max_terms": 10_000})
    got = fit.predict({"run": ["r"] * steps.size, "step": steps, "lr": eta[steps - 1]})
    np.testing.assert_allclose(got, _mpl(eta, steps, *MPL), rtol=1e-12)


def test_hparam_ground_truth():
    """1 % noise on each group's true optimal LR; 0.1 % loss noise (a 9-point sweep with 1 %
    loss noise cannot locate its optimum, whatever the fitting method)."""
    rng = np.random.default_rng(8)
    rows = []
    for N in (1e6, 4e6, 1.6e7, 6.4e7):
        for D in (1e8, 4e8, 1.6e9):
            best = math.log(0.3 * N**-0.3 * D**0.1) + 0.01 * rng.standard_normal()
            for lr in np.exp(best + np.linspace(-2, 2, 9) + 0.1 * rng.standard_normal()):
                rows.append((N, D, lr, 3.0 + 0.1 * (math.log(lr) - best) ** 2))
    a = np.array(rows)
    loss = _noisy(a[:, 3], rng, 0.001)
    fit = laws.fit("hparam", {"N": a[:, 0], "D": a[:, 1], "lr": a[:, 2], "loss": loss})
    _close(fit.params["a"], -0.3)
    _close(fit.params["b"], 0.1, 0.1)
    # c is degenerate with a, b far from the data; check LR* where the data are instead
    _close(fit.predict({"N": [8e6], "D": [4e8]})[0], 0.3 * 8e6**-0.3 * 4e8**0.1)


def test_hparam_batch_ground_truth():
    rows = []
    for D in (1e8, 4e8, 1.6e9, 6.4e9):
        best = math.log(2.0 * D**0.35)
        for b in np.exp(best + np.linspace(-1.5, 1.5, 7)):
            rows.append((1e7, D, b, 3.0 + 0.05 * (math.log(b) - best) ** 2))
    a = np.array(rows)
    p = laws.fit("hparam_batch", {"N": a[:, 0], "D": a[:, 1], "batch": a[:, 2], "loss": a[:, 3]}).params
    _close(p["g"], 0.35)
    _close(p["c"], 2.0)
