"""Test-time law forms: ``coverage`` (Large Language Monkeys) and ``sigmoid``."""
from __future__ import annotations

import numpy as np

from laws.errors import LawFitError
from laws.forms import Form, product_grid, register


@register("coverage")
class Coverage(Form):
    """Repeated-sampling coverage ``pass@k = exp(a * k^b)`` (a < 0, b < 0), fitted on log coverage."""

    formula = "coverage = exp(a * k^b)"
    inputs = ("k",)
    target = "coverage"
    params = ("a", "b")
    positive = ("k", "coverage")
    min_unique = {"k": 2}

    def check(self, cols, opts, fitting):
        if np.any(cols["k"] < 1):
            raise LawFitError("column 'k': number of samples must be >= 1")
        if fitting and np.any(cols["coverage"] > 1):
            raise LawFitError("column 'coverage': must be in (0, 1]")

    def prepare(self, cols, opts):
        return {"lk": np.log(cols["k"])}

    def grid(self, prep, y):
        return product_grid(-np.logspace(-2, 1.5, 15), np.linspace(-2.0, -0.02, 15))

    def bounds(self, prep, y):
        return [(-1e4, 0.0), (-10.0, 10.0)]

    def model(self, theta, prep):
        theta = np.atleast_2d(theta)
        return theta[:, :1] * np.exp(theta[:, 1:2] * prep["lk"])

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        kb = np.exp(theta[:, 1:2] * prep["lk"])
        f = theta[:, :1] * kb
        return f, np.stack([kb, f * prep["lk"]], axis=-1)


@register("sigmoid")
class Sigmoid(Form):
    """Accuracy vs (log) scale: ``y = lo + (hi - lo) / (1 + exp(-s*(log x - x0)))``, raw y."""

    formula = "y = lo + (hi - lo) / (1 + exp(-s*(log(x) - x0)))"
    inputs = ("x",)
    target = "y"
    params = ("lo", "hi", "s", "x0")
    positive = ("x",)
    min_unique = {"x": 2}
    log_target = False

    def prepare(self, cols, opts):
        return {"lx": np.log(cols["x"])}

    def grid(self, prep, y):
        lx = prep["lx"]
        span = max(float(lx.max() - lx.min()), 1e-6)
        ymin, ymax = float(y.min()), float(y.max())
        r = max(ymax - ymin, 1e-6)
        return product_grid([ymin - 0.2 * r, ymin, ymin + 0.1 * r], [ymax - 0.1 * r, ymax, ymax + 0.2 * r],
                            np.array([0.5, 1.0, 2.0, 4.0, 8.0, 16.0]) / span,
                            np.quantile(lx, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]))

    def bounds(self, prep, y):
        return [(None, None), (None, None), (0.0, None), (None, None)]

    def model(self, theta, prep):
        theta = np.atleast_2d(theta)
        lo, hi, s, x0 = (theta[:, i:i + 1] for i in range(4))
        return lo + (hi - lo) / (1.0 + np.exp(-s * (prep["lx"] - x0)))

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        lo, hi, s, x0 = (theta[:, i:i + 1] for i in range(4))
        z = prep["lx"] - x0
        sg = 1.0 / (1.0 + np.exp(-s * z))
        d = (hi - lo) * sg * (1 - sg)
        return lo + (hi - lo) * sg, np.stack([1 - sg, sg, d * z, -d * s], axis=-1)
