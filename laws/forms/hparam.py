"""Hyperparameter laws: ``hparam`` (optimal LR vs N, D) and ``hparam_batch`` (optimal batch vs D).

Input is a raw sweep: one row per run with ``N, D, lr`` (or ``batch``) and final ``loss``.
:meth:`reduce` finds, per (N, D) group, the optimum of the swept quantity: the minimum loss
per distinct value (other swept columns are minimised out), then a parabola in log value
through the best point and up to two neighbours on each side; its vertex is the optimum
(the best point itself when the parabola is not convex).  An optimum at the edge of a
group's sweep raises :class:`LawFitError` (extend the sweep).  The optima are then fitted
in log space (Huber):

- ``hparam``:       ``LR* = c * N^a * D^b``  -> params ``c, a, b``  (inputs N, D; target lr)
- ``hparam_batch``: ``B*  = c * D^g``        -> params ``c, g``     (input D; target batch)
"""
from __future__ import annotations

import math

import numpy as np

from laws.errors import LawFitError
from laws.forms import Form, product_grid, register


def sweep_optimum(x: np.ndarray, loss: np.ndarray, where: str) -> float:
    """Optimal ``x`` of one sweep group: parabola in log x around the best (min-loss) value."""
    ux, inv = np.unique(x, return_inverse=True)
    best = np.full(ux.size, np.inf)
    np.minimum.at(best, inv, loss)
    if ux.size < 3:
        raise LawFitError(f"{where}: needs at least 3 distinct values in the sweep, got {ux.size}")
    i = int(np.argmin(best))
    if i == 0 or i == ux.size - 1:
        raise LawFitError(f"{where}: best value {ux[i]:g} is at the edge of the sweep "
                          f"[{ux[0]:g}, {ux[-1]:g}]; extend the sweep")
    lo, hi = max(0, i - 2), min(ux.size, i + 3)
    lx, ly = np.log(ux[lo:hi]), best[lo:hi]
    c2, c1, _ = np.polyfit(lx, ly, 2)
    if c2 <= 0:
        return float(ux[i])
    v = -c1 / (2 * c2)
    return float(np.exp(np.clip(v, np.log(ux[i - 1]), np.log(ux[i + 1]))))


class _Sweep(Form):
    """Shared reduction of a raw sweep to per-(N, D) optima of column ``swept``."""

    swept = ""
    positive = ("N", "D", "loss")

    def reduce(self, cols, opts):
        keys = np.stack([cols["N"], cols["D"]], 1)
        groups, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = inv.ravel()
        opt = np.array([sweep_optimum(cols[self.swept][inv == g], cols["loss"][inv == g],
                                      f"column {self.swept!r} at N={n:g}, D={d:g}")
                        for g, (n, d) in enumerate(groups)])
        return {"N": groups[:, 0], "D": groups[:, 1], self.swept: opt}

    def to_fit_space(self, y):
        return np.log(y)


@register("hparam")
class HParam(_Sweep):
    """Optimal learning rate law ``LR* = c * N^a * D^b`` from per-(N, D) LR sweeps."""

    formula = "LR* = c * N^a * D^b  (LR* per (N, D): parabola in log LR around the best point)"
    inputs = ("N", "D")
    target = "lr"
    extra_columns = ("loss",)
    params = ("c", "a", "b")
    positive = ("N", "D", "lr", "loss")
    swept = "lr"
    min_unique = {"N": 2, "D": 2}

    def reduce(self, cols, opts):
        out = super().reduce(cols, opts)
        X = np.stack([np.ones_like(out["N"]), np.log(out["N"]), np.log(out["D"])], 1)
        if out["N"].size >= 3 and np.linalg.matrix_rank(X) < 3:
            raise LawFitError("columns 'N', 'D': log N and log D are collinear across groups; "
                              "a and b cannot be separated (vary D at fixed N)")
        return out

    def prepare(self, cols, opts):
        return {"lN": np.log(cols["N"]), "lD": np.log(cols["D"])}

    def grid(self, prep, y):
        return product_grid(np.linspace(y.min() - 10, y.max() + 10, 9), [-1.0, -0.5, 0.0, 0.5],
                            [-1.0, -0.5, 0.0, 0.5])

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        f = theta[:, :1] + theta[:, 1:2] * prep["lN"] + theta[:, 2:3] * prep["lD"]
        one = np.ones_like(f)
        return f, np.stack([one, one * prep["lN"], one * prep["lD"]], -1)

    def model(self, theta, prep):
        return self.model_jac(theta, prep)[0]

    def to_params(self, theta):
        return {"c": math.exp(theta[0]), "a": float(theta[1]), "b": float(theta[2])}

    def from_params(self, params):
        return np.array([math.log(params["c"]), params["a"], params["b"]], float)


@register("hparam_batch")
class HParamBatch(_Sweep):
    """Optimal batch-size law ``B* = c * D^g`` from per-(N, D) batch sweeps."""

    formula = "B* = c * D^g  (B* per (N, D): parabola in log batch around the best point)"
    inputs = ("D",)
    target = "batch"
    extra_columns = ("N", "loss")
    params = ("c", "g")
    positive = ("N", "D", "batch", "loss")
    swept = "batch"
    min_unique = {"D": 2}

    def prepare(self, cols, opts):
        return {"lD": np.log(cols["D"])}

    def grid(self, prep, y):
        return product_grid(np.linspace(y.min() - 10, y.max() + 10, 9), [-1.0, -0.5, 0.0, 0.5, 1.0])

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        f = theta[:, :1] + theta[:, 1:2] * prep["lD"]
        one = np.ones_like(f)
        return f, np.stack([one, one * prep["lD"]], -1)

    def model(self, theta, prep):
        return self.model_jac(theta, prep)[0]

    def to_params(self, theta):
        return {"c": math.exp(theta[0]), "g": float(theta[1])}

    def from_params(self, params):
        return np.array([math.log(params["c"]), params["g"]], float)
