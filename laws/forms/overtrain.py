"""Gadre et al. 2024, "Language models scale reliably with over-training and on downstream
tasks": ``overtrain`` (loss vs N and the token multiplier M = D/N) and ``downstream`` (the map
from loss to downstream error).

- ``overtrain``: ``L = E + (a·M^eta + b·M^(-eta))·C^(-eta)`` with ``M = D/N`` and ``C = 6·N·D``
  (the paper's convention; it is a reparametrisation, so 6·N·D is right here even where the
  exact FLOPs differ).  Written in N and D it is Chinchilla with one shared exponent,
  ``L = E + a·6^-eta·N^(-2 eta) + b·6^-eta·D^(-2 eta)``: four parameters instead of five.
  Fitted on log loss; internal theta = (log E, log a, log b, eta).
- ``downstream``: ``Err(L) = eps - k·exp(-gamma·L)``: the error on a downstream task falls from
  ``eps`` (the error of a model that learned nothing, at most the task's chance-level error,
  option ``chance``, default 1) as the loss falls.  Fitted on the raw error (in [0, 1]);
  internal theta = (eps, log k, gamma).
"""
from __future__ import annotations

import math

import numpy as np

from laws.errors import LawFitError
from laws.forms import Form, lse, product_grid, register

_BIG = 60.0
_LOG6 = math.log(6.0)


@register("overtrain")
class Overtrain(Form):
    """Gadre et al. 2024: ``L = E + (a·M^eta + b·M^(-eta))·C^(-eta)``, M = D/N, C = 6ND."""

    formula = "L = E + (a*M^eta + b*M^(-eta)) * C^(-eta),  M = D/N, C = 6*N*D"
    inputs = ("N", "D")
    target = "loss"
    params = ("E", "a", "b", "eta")
    positive = ("N", "D", "loss")
    min_unique = {"N": 2, "D": 2}

    def prepare(self, cols, opts):
        lN, lD = np.log(cols["N"]), np.log(cols["D"])
        # log(M^eta C^-eta) = -eta (2 log N + log 6); log(M^-eta C^-eta) = -eta (2 log D + log 6)
        return {"uN": 2 * lN + _LOG6, "uD": 2 * lD + _LOG6}

    def grid(self, prep, y):
        ymin = float(np.exp(y.min()))
        es = np.log(ymin * np.array([0.05, 0.3, 0.6, 0.9]))
        return product_grid(es, np.arange(0, 26, 5.0), np.arange(0, 26, 5.0),
                            [0.05, 0.1, 0.17, 0.25, 0.4, 0.7])

    def bounds(self, prep, y):
        return [(-_BIG, _BIG), (-_BIG, 2 * _BIG), (-_BIG, 2 * _BIG), (0.0, 2.5)]

    def _terms(self, theta, prep):
        e, a, b, eta = (theta[:, i:i + 1] for i in range(4))
        return lse(e + 0 * prep["uN"], a - eta * prep["uN"], b - eta * prep["uD"])

    def model(self, theta, prep):
        return self._terms(np.atleast_2d(theta), prep)[0]

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        f, (p1, p2, p3) = self._terms(theta, prep)
        return f, np.stack([p1, p2, p3, -p2 * prep["uN"] - p3 * prep["uD"]], axis=-1)

    def to_params(self, theta):
        e, a, b, eta = (float(v) for v in theta)
        return {"E": math.exp(e), "a": math.exp(a), "b": math.exp(b), "eta": eta}

    def from_params(self, params):
        return np.array([math.log(params["E"]), math.log(params["a"]), math.log(params["b"]),
                         params["eta"]], float)


@register("downstream")
class Downstream(Form):
    """Gadre et al. 2024: downstream error ``Err(L) = eps - k·exp(-gamma·L)``, eps <= chance."""

    formula = "Err = eps - k*exp(-gamma*L)"
    inputs = ("loss",)
    target = "error"
    params = ("eps", "k", "gamma")
    positive = ("loss",)
    nonnegative = ("error",)
    min_unique = {"loss": 3}
    options = {"chance": 1.0}
    log_target = False

    def check(self, cols, opts, fitting):
        ch = opts.get("chance", 1.0)
        if isinstance(ch, bool) or not isinstance(ch, (int, float)) or not 0 < ch <= 1:
            raise LawFitError(f"option 'chance': the chance-level error must be in (0, 1], got {ch!r}")
        if fitting and np.any(cols["error"] > 1):
            raise LawFitError("column 'error': must be in [0, 1]")

    def prepare(self, cols, opts):
        return {"L": np.asarray(cols["loss"], float), "chance": float(opts.get("chance", 1.0))}

    def grid(self, prep, y):
        L, ch = prep["L"], prep["chance"]
        span = max(float(L.max() - L.min()), 1e-3)
        ymax, ymed, lmed = float(y.max()), float(np.median(y)), float(np.median(L))
        rows = []
        for eps in {min(ch, v) for v in (ymax + 0.01, ymax + 0.1 * (ch - ymax), 0.5 * (ymax + ch), ch)}:
            for g in np.array([0.3, 1.0, 2.0, 4.0, 8.0]) / span:
                rows.append((eps, math.log(max(eps - ymed, 1e-3)) + g * lmed, g))
        return np.array(rows)

    def bounds(self, prep, y):
        return [(0.0, prep["chance"]), (-_BIG, _BIG), (1e-6, 1e3)]

    def model(self, theta, prep):
        theta = np.atleast_2d(theta)
        return theta[:, :1] - np.exp(np.minimum(theta[:, 1:2] - theta[:, 2:3] * prep["L"], 700.0))

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        t = np.exp(np.minimum(theta[:, 1:2] - theta[:, 2:3] * prep["L"], 700.0))
        f = theta[:, :1] - t
        return f, np.stack([np.ones_like(t), -t, t * prep["L"]], axis=-1)

    def to_params(self, theta):
        eps, lk, g = (float(v) for v in theta)
        return {"eps": eps, "k": math.exp(lk), "gamma": g}

    def from_params(self, params):
        return np.array([params["eps"], math.log(params["k"]), params["gamma"]], float)
