"""The forms of the audit: ``overtrain``, ``downstream`` (Gadre et al. 2024) and ``farseer``
(Li et al. 2025), each on synthetic ground truth with 1 % log-normal noise.

Tolerance 5 % relative; the prefactors ``a``, ``b`` of ``overtrain`` are checked as 5 % of their
logarithm (like chinchilla's A, B: exponentially sensitive to the exponent).  Farseer has nine
parameters; the design is wide (N over 7 decades, D over 6) and dense (40 x 40 runs), which is
what identifying a data exponent that itself changes with N takes.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import laws
from laws.forms import Form


def _noisy(y, rng, rel=0.01):
    return y * np.exp(rel * rng.standard_normal(np.shape(y)))


def _close(got, want, tol=0.05):
    assert abs(got - want) <= tol * abs(want), (got, want)


OVERTRAIN = dict(E=1.8, a=300.0, b=900.0, eta=0.17)
FARSEER = dict(a1=0.16, b1=-1.45, alpha=0.2, a2=1.0, b2=4.5, beta=-0.2, a3=0.25, b3=0.53, gamma=-0.3)


def overtrain_loss(N, D, p=OVERTRAIN):
    """Gadre et al.'s form, written with M = D/N and C = 6ND as in the paper."""
    M, C = D / N, 6 * N * D
    return p["E"] + (p["a"] * M ** p["eta"] + p["b"] * M ** -p["eta"]) * C ** -p["eta"]


def farseer_loss(N, D, p=FARSEER, N0=1e8):
    n = N / N0
    phi = np.exp(p["a1"] * n ** p["alpha"] + p["b1"])
    return np.exp(p["a3"] * n ** p["gamma"] + p["b3"]) + np.exp(p["a2"] * n ** p["beta"] + p["b2"]) * D ** -phi


def test_registry_has_the_new_forms_and_their_columns():
    reg = laws.forms()
    assert reg["overtrain"].params == ("E", "a", "b", "eta") and reg["overtrain"].inputs == ("N", "D")
    assert reg["farseer"].params == ("a1", "b1", "alpha", "a2", "b2", "beta", "a3", "b3", "gamma")
    assert reg["downstream"].inputs == ("loss",) and reg["downstream"].target == "error"


def test_overtrain_ground_truth():
    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(math.log(1e6), math.log(1e10), 200))
    D = np.exp(rng.uniform(math.log(1e8), math.log(1e12), 200))
    fit = laws.fit("overtrain", {"N": N, "D": D, "loss": _noisy(overtrain_loss(N, D), rng)})
    p = fit.params
    _close(p["E"], OVERTRAIN["E"])
    _close(p["eta"], OVERTRAIN["eta"])
    _close(math.log(p["a"]), math.log(OVERTRAIN["a"]))
    _close(math.log(p["b"]), math.log(OVERTRAIN["b"]))
    # it is chinchilla with one shared exponent: L = E + a 6^-eta N^-2eta + b 6^-eta D^-2eta
    want = p["E"] + p["a"] * 6 ** -p["eta"] * N ** (-2 * p["eta"]) + p["b"] * 6 ** -p["eta"] * D ** (-2 * p["eta"])
    np.testing.assert_allclose(fit.predict({"N": N, "D": D}), want, rtol=1e-10)


def test_downstream_ground_truth_and_chance_bound():
    rng = np.random.default_rng(1)
    L = np.linspace(2.0, 5.0, 30)
    err = 0.75 - 5.0 * np.exp(-1.0 * L)
    fit = laws.fit("downstream", {"loss": L, "error": _noisy(err, rng)}, chance=0.75)
    for k, v in dict(eps=0.75, k=5.0, gamma=1.0).items():
        _close(fit.params[k], v)
    assert fit.params["eps"] <= 0.75
    # eps never above the chance-level error, even when the data would like it higher
    high = laws.fit("downstream", {"loss": L, "error": np.minimum(_noisy(0.9 - 5.0 * np.exp(-L), rng), 1)},
                    chance=0.75)
    assert high.params["eps"] <= 0.75 + 1e-12
    with pytest.raises(laws.LawFitError, match="chance"):
        laws.fit("downstream", {"loss": L, "error": err}, chance=1.5)
    with pytest.raises(laws.LawFitError, match=r"\[0, 1\]"):
        laws.fit("downstream", {"loss": L, "error": err + 1})


def test_farseer_ground_truth():
    rng = np.random.default_rng(0)
    N, D = (a.ravel() for a in np.meshgrid(np.geomspace(1e5, 1e12, 40), np.geomspace(1e7, 1e13, 40)))
    fit = laws.fit("farseer", {"N": N, "D": D, "loss": _noisy(farseer_loss(N, D), rng)}, N0=1e8)
    for k, v in FARSEER.items():
        _close(fit.params[k], v)


@pytest.mark.parametrize("name", ["overtrain", "farseer", "downstream"])
def test_analytic_jacobian_matches_finite_differences(name):
    form = laws.forms()[name]
    rng = np.random.default_rng(3)
    if name == "downstream":
        cols, y = {"loss": np.linspace(2, 5, 12)}, np.linspace(0.2, 0.7, 12)
    else:
        cols = {"N": np.exp(rng.uniform(13, 22, 20)), "D": np.exp(rng.uniform(18, 26, 20))}
        y = np.log(np.linspace(2, 3, 20))
    prep = form.prepare(cols, dict(form.options))
    theta = form.grid(prep, y)[::7][:4]
    f, jac = form.model_jac(theta, prep)
    f2, jfd = Form.model_jac(form, theta, prep)
    np.testing.assert_allclose(f, f2, rtol=1e-12)
    np.testing.assert_allclose(jac, jfd, rtol=1e-4, atol=1e-6 * max(1.0, np.abs(jfd).max()))


def test_public_and_internal_parameters_round_trip():
    for name, p in (("overtrain", OVERTRAIN), ("farseer", FARSEER), ("downstream", dict(eps=0.7, k=3.0, gamma=1.2))):
        form = laws.forms()[name]
        back = form.to_params(form.from_params(p))
        assert back == pytest.approx(p, rel=1e-12)
