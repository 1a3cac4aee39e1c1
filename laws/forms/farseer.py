"""The Farseer law (Li et al. 2025, "Predictable Scale: Part II, Farseer: A Refined Scaling Law
in Large Language Models"): the data exponent itself depends on the model size.

    L(N, D) = exp(a3·N^gamma + b3) + exp(a2·N^beta + b2) · D^(-exp(a1·N^alpha + b1))

The first term is the loss at unlimited data for a model of size N; the second is what the
data still buys, with an exponent ``phi(N) = exp(a1·N^alpha + b1)`` that varies with N (Chinchilla
keeps it fixed).  N enters through ``n = N / N0`` (option ``N0``, default 1: the paper's raw
parameter count).  Fitted on log loss as ``log L = LSE(H, G)`` with ``H = a3·n^gamma + b3`` and
``G = a2·n^beta + b2 - phi·log D``, with an analytic Jacobian.  Nine parameters: it needs many
runs spread over N and D; on a small ladder the audit's backtest says so.
"""
from __future__ import annotations

import math

import numpy as np

from laws.errors import LawFitError
from laws.forms import Form, lse, register

_EXP_CAP = 30.0   # |a·n^x| beyond this is numerically meaningless for a log-loss term


@register("farseer")
class Farseer(Form):
    """Farseer (Li et al. 2025): ``L = exp(a3 n^gamma + b3) + exp(a2 n^beta + b2) D^-exp(a1 n^alpha + b1)``."""

    formula = "L = exp(a3*n^gamma + b3) + exp(a2*n^beta + b2) * D^(-exp(a1*n^alpha + b1)),  n = N/N0"
    inputs = ("N", "D")
    target = "loss"
    params = ("a1", "b1", "alpha", "a2", "b2", "beta", "a3", "b3", "gamma")
    positive = ("N", "D", "loss")
    min_unique = {"N": 3, "D": 2}
    options = {"N0": 1.0}
    n_local = 16

    def check(self, cols, opts, fitting):
        n0 = opts.get("N0", 1.0)
        if isinstance(n0, bool) or not isinstance(n0, (int, float)) or not n0 > 0:
            raise LawFitError(f"option 'N0': must be a positive number, got {n0!r}")

    def prepare(self, cols, opts):
        return {"u": np.log(cols["N"] / float(opts.get("N0", 1.0))), "v": np.log(cols["D"])}

    def grid(self, prep, y):
        u, v = prep["u"], prep["v"]
        ymin, ymax = float(np.exp(y.min())), float(np.exp(y.max()))
        umin, umax, vmed = float(u.min()), float(u.max()), float(np.median(v))
        rest = max(float(np.exp(np.median(y))) - 0.8 * ymin, 1e-3 * ymin)
        rows = []
        for g in (-0.5, -0.2, 0.2):
            for fe in (0.5, 0.8, 0.95):
                b3 = math.log(fe * ymin)
                # H(N_min) halfway from log(fe*ymin) to log(ymax)
                a3 = (math.log(ymax) - b3) * 0.5 / math.exp(g * (umin if g < 0 else umax)) * (1 if g < 0 else -1)
                for phi in (0.15, 0.3, 0.6):
                    for al in (-0.2, 0.2):
                        for d1 in (-0.3, 0.0, 0.3):            # log phi changes by d1 over the N range
                            a1 = d1 / max(abs(math.exp(al * umax) - math.exp(al * umin)), 1e-6)
                            b1 = math.log(phi) - a1 * math.exp(al * 0.5 * (umin + umax))
                            for be in (-0.2, 0.2):
                                for d2 in (-1.0, 0.0, 1.0):
                                    a2 = d2 / max(abs(math.exp(be * umax) - math.exp(be * umin)), 1e-6)
                                    b2 = math.log(rest) + phi * vmed - a2 * math.exp(be * 0.5 * (umin + umax))
                                    rows.append((a1, b1, al, a2, b2, be, a3, b3, g))
        return np.array(rows)

    def bounds(self, prep, y):
        e = (-3.0, 3.0)
        return [(-_EXP_CAP, _EXP_CAP), (-10.0, 3.0), e, (-_EXP_CAP, _EXP_CAP), (-60.0, 200.0), e,
                (-_EXP_CAP, _EXP_CAP), (-60.0, 60.0), e]

    def _parts(self, theta, prep):
        a1, b1, al, a2, b2, be, a3, b3, ga = (theta[:, i:i + 1] for i in range(9))
        u, v = prep["u"], prep["v"]
        with np.errstate(over="ignore", invalid="ignore"):
            na, nb, ng = (np.exp(np.clip(x * u, -700, 700)) for x in (al, be, ga))
            phi = np.exp(np.clip(a1 * na + b1, -700, 700))
            H = a3 * ng + b3
            G = a2 * nb + b2 - phi * v
        f, (wH, wG) = lse(H, G)
        return f, wH, wG, na, nb, ng, phi, a1, a2, a3, u, v

    def model(self, theta, prep):
        return self._parts(np.atleast_2d(theta), prep)[0]

    def model_jac(self, theta, prep):
        f, wH, wG, na, nb, ng, phi, a1, a2, a3, u, v = self._parts(np.atleast_2d(theta), prep)
        dphi = -wG * v * phi
        jac = np.stack([dphi * na, dphi, dphi * a1 * u * na,
                        wG * nb, wG, wG * a2 * u * nb,
                        wH * ng, wH, wH * a3 * u * ng], axis=-1)
        return f, jac
