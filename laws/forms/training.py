"""Training-loss law forms: ``chinchilla``, ``kaplan``, ``power_law``, ``parscale``.

All four are fitted on log loss (Huber on ``log L_hat - log L``), written as log-sum-exp so
every grid start is finite, with analytic Jacobians.
"""
from __future__ import annotations

import math

import numpy as np

from laws.forms import Form, lse, product_grid, register

_BIG = 60.0


@register("chinchilla")
class Chinchilla(Form):
    """Hoffmann et al. / Epoch AI: ``L = E + A/N^alpha + B/D^beta``.

    Internal theta = (e, a, b, alpha, beta) with E = exp(e), A = exp(a), B = exp(b):
    ``log L = LSE(a - alpha log N, b - beta log D, e)``.  Start grid is Epoch's:
    alpha, beta in {0, .5, 1, 1.5, 2}, e in {-1, -.5, 0, .5, 1}, a, b in {0, 5, ..., 25}.
    """

    formula = "L = E + A/N^alpha + B/D^beta"
    inputs = ("N", "D")
    target = "loss"
    params = ("E", "A", "B", "alpha", "beta")
    positive = ("N", "D", "loss")
    min_unique = {"N": 2, "D": 2}

    def prepare(self, cols, opts):
        return {"lN": np.log(cols["N"]), "lD": np.log(cols["D"])}

    def grid(self, prep, y):
        g = product_grid(np.arange(-1, 1.01, 0.5), np.arange(0, 26, 5.0), np.arange(0, 26, 5.0),
                         np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5))
        return g

    def bounds(self, prep, y):
        return [(-_BIG, _BIG), (-_BIG, 2 * _BIG), (-_BIG, 2 * _BIG), (0.0, 5.0), (0.0, 5.0)]

    def _terms(self, theta, prep):
        e, a, b, al, be = (theta[:, i:i + 1] for i in range(5))
        return lse(a - al * prep["lN"], b - be * prep["lD"], e + 0 * prep["lN"])

    def model(self, theta, prep):
        return self._terms(np.atleast_2d(theta), prep)[0]

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        f, (p1, p2, p3) = self._terms(theta, prep)
        jac = np.stack([p3, p1, p2, -p1 * prep["lN"], -p2 * prep["lD"]], axis=-1)
        return f, jac

    def to_params(self, theta):
        e, a, b, al, be = (float(v) for v in theta)
        return {"E": math.exp(e), "A": math.exp(a), "B": math.exp(b), "alpha": al, "beta": be}

    def from_params(self, params):
        return np.array([math.log(params["E"]), math.log(params["A"]), math.log(params["B"]),
                         params["alpha"], params["beta"]], float)


@register("kaplan")
class Kaplan(Form):
    """Kaplan et al. (2020): ``L = ((Nc/N)^(alphaN/alphaD) + Dc/D)^alphaD``.

    Internal theta = (log Nc, log Dc, alphaN, alphaD):
    ``log L = alphaD * LSE(alphaN/alphaD*(log Nc - log N), log Dc - log D)``.
    """

    formula = "L = ((Nc/N)^(alphaN/alphaD) + Dc/D)^alphaD"
    inputs = ("N", "D")
    target = "loss"
    params = ("Nc", "Dc", "alphaN", "alphaD")
    positive = ("N", "D", "loss")
    min_unique = {"N": 2, "D": 2}

    def prepare(self, cols, opts):
        return {"lN": np.log(cols["N"]), "lD": np.log(cols["D"])}

    def grid(self, prep, y):
        nmax, dmax = prep["lN"].max(), prep["lD"].max()
        return product_grid(nmax + np.arange(-2, 15, 4.0), dmax + np.arange(-2, 15, 4.0),
                            [0.03, 0.07, 0.15, 0.3, 0.6], [0.03, 0.1, 0.2, 0.4, 0.8])

    def bounds(self, prep, y):
        return [(-_BIG, 3 * _BIG), (-_BIG, 3 * _BIG), (1e-4, 5.0), (1e-4, 5.0)]

    def _terms(self, theta, prep):
        nc, dc, an, ad = (theta[:, i:i + 1] for i in range(4))
        u1 = an / ad * (nc - prep["lN"])
        s, (p1, p2) = lse(u1, dc - prep["lD"])
        return s, p1, p2, u1, an, ad, nc

    def model(self, theta, prep):
        s, *_, ad, _ = self._terms(np.atleast_2d(theta), prep)
        return ad * s

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        s, p1, p2, u1, an, ad, nc = self._terms(theta, prep)
        jac = np.stack([an * p1, ad * p2, p1 * (nc - prep["lN"]), s - p1 * u1], axis=-1)
        return ad * s, jac

    def to_params(self, theta):
        nc, dc, an, ad = (float(v) for v in theta)
        return {"Nc": math.exp(nc), "Dc": math.exp(dc), "alphaN": an, "alphaD": ad}

    def from_params(self, params):
        return np.array([math.log(params["Nc"]), math.log(params["Dc"]),
                         params["alphaN"], params["alphaD"]], float)


@register("power_law")
class PowerLaw(Form):
    """Saturating power law ``y = E + A*x^(-alpha)`` (e.g. loss vs compute), fitted on log y.

    Internal theta = (log E, log A, alpha); ``log y = LSE(log A - alpha log x, log E)``.
    """

    formula = "y = E + A*x^(-alpha)"
    inputs = ("x",)
    target = "y"
    params = ("E", "A", "alpha")
    positive = ("x", "y")
    min_unique = {"x": 2}

    def prepare(self, cols, opts):
        return {"lx": np.log(cols["x"])}

    def grid(self, prep, y):
        ymin, ymed, lxm = float(np.exp(y.min())), float(np.exp(np.median(y))), float(np.median(prep["lx"]))
        alphas = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0])
        rows = []
        for e in np.log(ymin * np.array([1e-3, 0.3, 0.6, 0.8, 0.95])):
            for al in alphas:
                for amp in (0.01, 0.1, 0.3, 1.0, 3.0):
                    rows.append((e, math.log(amp * ymed) + al * lxm, al))
        return np.array(rows)

    def bounds(self, prep, y):
        return [(-_BIG, _BIG), (-_BIG, 3 * _BIG), (0.0, 10.0)]

    def _terms(self, theta, prep):
        e, a, al = (theta[:, i:i + 1] for i in range(3))
        return lse(a - al * prep["lx"], e + 0 * prep["lx"])

    def model(self, theta, prep):
        return self._terms(np.atleast_2d(theta), prep)[0]

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        f, (p1, p2) = self._terms(theta, prep)
        return f, np.stack([p2, p1, -p1 * prep["lx"]], axis=-1)

    def to_params(self, theta):
        e, a, al = (float(v) for v in theta)
        return {"E": math.exp(e), "A": math.exp(a), "alpha": al}

    def from_params(self, params):
        return np.array([math.log(params["E"]), math.log(params["A"]), params["alpha"]], float)


_LOG1E9 = 9 * math.log(10.0)


@register("parscale")
class ParScale(Form):
    """ParScale (Chen et al. 2025): ``L = E + (A*1e9 / (N*(k*ln P + 1)))^alpha``.

    Internal theta = (log E, log A, k, alpha); fitted on log loss as
    ``log L = LSE(log E, alpha*(log A + log 1e9 - log N - log(k ln P + 1)))``.
    """

    formula = "L = E + (A*1e9 / (N*(k*ln(P) + 1)))^alpha"
    inputs = ("N", "P")
    target = "loss"
    params = ("E", "A", "k", "alpha")
    positive = ("N", "P", "loss")
    min_unique = {"N": 2, "P": 2}

    def check(self, cols, opts, fitting):
        from laws.errors import LawFitError
        if np.any(cols["P"] < 1):
            raise LawFitError("column 'P': number of parallel streams must be >= 1")

    def prepare(self, cols, opts):
        return {"lN": np.log(cols["N"]), "lP": np.log(cols["P"])}

    def grid(self, prep, y):
        ymin = float(np.exp(y.min()))
        return product_grid(np.log(ymin * np.array([0.3, 0.6, 0.8, 0.95])), [-6, -3, 0, 3, 6],
                            [0.05, 0.2, 0.5, 1.0, 2.0], [0.05, 0.1, 0.2, 0.4, 0.8])

    def bounds(self, prep, y):
        return [(-_BIG, _BIG), (-_BIG, _BIG), (0.0, 1e3), (1e-4, 5.0)]

    def _terms(self, theta, prep):
        e, a, k, al = (theta[:, i:i + 1] for i in range(4))
        q = 1.0 + k * prep["lP"]
        z = a + _LOG1E9 - prep["lN"] - np.log(q)
        f, (p1, p2) = lse(e + 0 * z, al * z)
        return f, p1, p2, q, z, al

    def model(self, theta, prep):
        return self._terms(np.atleast_2d(theta), prep)[0]

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        f, p1, p2, q, z, al = self._terms(theta, prep)
        return f, np.stack([p1, p2 * al, -p2 * al * prep["lP"] / q, p2 * z], axis=-1)

    def to_params(self, theta):
        e, a, k, al = (float(v) for v in theta)
        return {"E": math.exp(e), "A": math.exp(a), "k": k, "alpha": al}

    def from_params(self, params):
        return np.array([math.log(params["E"]), math.log(params["A"]), params["k"], params["alpha"]], float)
