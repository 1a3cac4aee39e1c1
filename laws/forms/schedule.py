"""Loss-curve forms across learning-rate schedules: ``lr_annealing`` and ``multi_power``.

Data: columns ``run, step, lr, loss`` (several curves fitted jointly).  Per run the LR is given
at the logged steps and is piecewise-linear between them; before the first logged step it is
the first logged LR, or, with option ``warmup_steps`` = W > 0, a linear ramp from 0 reaching
the first logged LR at step W.  Step ``t`` means the loss after updates 1..t.

Conventions: the forward area ``S1(t)`` sums *all* LRs 1..t (warmup included, = S1 + S_W of
Luo et al.); annealing terms start after warmup with ``eta_0`` = the LR at step W (W = 0:
``eta_0 = eta_1``), so an LR drop is a positive ``eta_{k-1} - eta_k``.

- ``lr_annealing`` (Tissue et al. 2024): ``L = L0 + A*S1^(-alpha) - C*S2`` with
  ``m_i = lam*m_{i-1} + (eta_{i-1} - eta_i)``, ``S2 = sum_i m_i``; option ``lam`` = 0.999.
- ``multi_power`` (Luo et al. 2025): ``L = L0 + A*S1^(-alpha) - LD``,
  ``LD(t) = B * sum_{k<=t} (eta_{k-1} - eta_k) * G(eta_k^(-gamma) * S_k(t))``,
  ``S_k(t) = sum_{tau=k..t} eta_tau``, ``G(x) = 1 - (C*x + 1)^(-beta)``.  Change points are
  merged into at most ``max_terms`` bins per curve (never across a logged step) for speed.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

from laws.errors import LawFitError
from laws.forms import Form, product_grid, register

_MAX_STEPS = 50_000_000


def _runs(cols):
    """Row indices grouped per run, in order of first appearance."""
    runs = cols["run"]
    _, first, inv = np.unique(runs.astype(str), return_index=True, return_inverse=True)
    order = np.argsort(first)
    return [(runs[first[g]], np.flatnonzero(inv == g)) for g in order]


def _schedule(steps, lrs, warmup):
    """Per-step LR eta[1..T] (index 0 unused) for one run."""
    T = int(steps[-1])
    i = np.arange(T + 1, dtype=float)
    eta = np.interp(i, steps, lrs)
    pre = i < steps[0]
    if warmup > 0:
        eta[pre] = lrs[0] * np.minimum(1.0, i[pre] / warmup)
    eta[0] = 0.0
    return eta


class _Schedule(Form):
    """Shared validation and per-run preprocessing of the schedule forms."""

    inputs = ("run", "step", "lr")
    target = "loss"
    keys = ("run",)
    positive = ("step", "loss")
    log_target = False

    def check(self, cols, opts, fitting):
        w = opts.get("warmup_steps", 0)
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 0:
            raise LawFitError(f"option 'warmup_steps': must be an integer >= 0, got {w!r}")
        lam = opts.get("lam", 0.999)
        if not (isinstance(lam, (int, float)) and 0 <= lam < 1):
            raise LawFitError(f"option 'lam': must be in [0, 1), got {lam!r}")
        lr = cols["lr"]
        if np.any(lr < 0):
            i = int(np.flatnonzero(lr < 0)[0])
            raise LawFitError(f"column 'lr': negative learning rate {lr[i]:g} at row {i}")
        st = cols["step"]
        if np.any(st != np.round(st)):
            raise LawFitError("column 'step': steps must be whole numbers")
        if st.max() > _MAX_STEPS:
            raise LawFitError(f"column 'step': step {st.max():g} is too large (max {_MAX_STEPS})")
        for run, idx in _runs(cols):
            s = st[idx]
            d = np.diff(s)
            if np.any(d == 0):
                j = int(np.flatnonzero(d == 0)[0])
                raise LawFitError(f"column 'step': duplicate step {s[j]:g} in run {run!r}")
            if np.any(d < 0):
                j = int(np.flatnonzero(d < 0)[0])
                raise LawFitError(f"column 'step': steps of run {run!r} are not sorted "
                                  f"({s[j]:g} then {s[j + 1]:g})")
            if w > s[0]:
                raise LawFitError(f"option 'warmup_steps': {w} is after the first logged step "
                                  f"{s[0]:g} of run {run!r}")
            if lr[idx][0] <= 0:
                raise LawFitError(f"column 'lr': first logged learning rate of run {run!r} must be > 0")

    def curves(self, cols, opts):
        """Yield (row indices, logged steps (int), eta[0..T], W) per run."""
        w = int(opts.get("warmup_steps", 0))
        for _, idx in _runs(cols):
            steps = cols["step"][idx].astype(np.int64)
            eta = _schedule(steps.astype(float), cols["lr"][idx], w)
            eta[0] = eta[w] if w > 0 else eta[1]   # eta_0: LR at the end of warmup
            yield idx, steps, eta, w

    def start_linear(self, feats, y, nonlin):
        """Least-squares (unweighted) linear coefficients for each non-linear start."""
        rows = []
        for q in nonlin:
            X = feats(q)
            coef, *_ = np.linalg.lstsq(X, y, rcond=None)
            rows.append(coef)
        return np.array(rows)


@register("lr_annealing")
class LrAnnealing(_Schedule):
    """Tissue et al. 2024 ``L = L0 + A*S1^(-alpha) - C*S2`` (see module docstring)."""

    formula = "L = L0 + A*S1^(-alpha) - C*S2;  m_i = lam*m_(i-1) + (eta_(i-1) - eta_i), S2 = sum m_i"
    params = ("L0", "A", "alpha", "C")
    options = {"warmup_steps": 0, "lam": 0.999}

    def prepare(self, cols, opts):
        n = len(cols["step"])
        s1, s2 = np.zeros(n), np.zeros(n)
        lam = float(opts.get("lam", 0.999))
        for idx, steps, eta, w in self.curves(cols, opts):
            area = np.cumsum(eta) - eta[0]
            delta = np.zeros_like(eta)
            delta[w + 1:] = eta[w:-1] - eta[w + 1:]
            m = lfilter([1.0], [1.0, -lam], delta)
            s1[idx], s2[idx] = area[steps], np.cumsum(m)[steps]
        return {"lS1": np.log(s1), "S2": s2}

    def grid(self, prep, y):
        alphas = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0])
        feats = lambda a: np.stack([np.ones_like(y), np.exp(-a * prep["lS1"]), -prep["S2"]], 1)  # noqa: E731
        lin = self.start_linear(feats, y, alphas)
        base = np.column_stack([lin[:, 0], np.abs(lin[:, 1]), alphas, np.abs(lin[:, 2])])
        extra = product_grid([0.5 * y.min(), 0.9 * y.min()], [0.3, 1.0, 3.0], [0.3, 0.6], [0.0, 1.0, 10.0])
        return np.concatenate([base, extra])

    def bounds(self, prep, y):
        return [(0.0, None), (0.0, None), (0.0, 5.0), (0.0, None)]

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        L0, A, al, C = (theta[:, i:i + 1] for i in range(4))
        p = np.exp(-al * prep["lS1"])
        f = L0 + A * p - C * prep["S2"]
        jac = np.stack([np.ones_like(f), p + 0 * f, -A * p * prep["lS1"], -prep["S2"] + 0 * f], -1)
        return f, jac

    def model(self, theta, prep):
        return self.model_jac(theta, prep)[0]


@register("multi_power")
class MultiPower(_Schedule):
    """Luo et al. 2025 multi-power law (see module docstring); internal theta uses log C."""

    formula = ("L = L0 + A*S1^(-alpha) - B*sum_k (eta_(k-1) - eta_k)*G(eta_k^(-gamma)*S_k(t)),"
               " G(x) = 1 - (C*x + 1)^(-beta)")
    params = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
    options = {"warmup_steps": 0, "max_terms": 256}
    n_local = 3

    def prepare(self, cols, opts):
        n = len(cols["step"])
        lS1 = np.zeros(n)
        rows, dl, leta, lS = [np.arange(n)], [np.zeros(n)], [np.zeros(n)], [np.zeros(n)]
        maxb = int(opts.get("max_terms", 256))
        for idx, steps, eta, w in self.curves(cols, opts):
            cum = np.cumsum(eta) - eta[0]          # cum[t] = sum_{1..t} eta
            lS1[idx] = np.log(cum[steps])
            k = np.arange(w + 1, len(eta))
            d = eta[k - 1] - eta[k]
            k, d = k[d != 0], d[d != 0]
            if k.size == 0:
                continue
            cuts = np.unique(np.concatenate([steps, k[np.linspace(0, k.size - 1, min(maxb, k.size)).astype(int)]]))
            lab = np.searchsorted(cuts, k, side="left")
            uniq, start = np.unique(lab, return_index=True)
            dsum = np.add.reduceat(d, start)
            cnt = np.diff(np.append(start, k.size))
            krep = k[start + cnt // 2]
            kend = k[np.append(start[1:], k.size) - 1]
            for r, t in zip(idx, steps):
                sel = kend <= t
                if not sel.any():
                    continue
                kk = krep[sel]
                rows.append(np.full(kk.size, r))
                dl.append(dsum[sel])
                leta.append(np.log(np.maximum(eta[kk], 1e-300)))
                lS.append(np.log(np.maximum(cum[t] - cum[kk - 1], 1e-300)))
        rows = np.concatenate(rows)
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        return {"lS1": lS1, "rows": rows, "start": start, "d": np.concatenate(dl)[order],
                "leta": np.concatenate(leta)[order], "lS": np.concatenate(lS)[order]}

    def _ld(self, theta, prep, jac):
        B, lC, be, ga = (theta[:, i:i + 1] for i in (3, 4, 5, 6))
        x = np.exp(lC - ga * prep["leta"] + prep["lS"])
        lx1 = np.log1p(x)
        pw = np.exp(-be * lx1)                           # (x+1)^-beta
        G = 1.0 - pw
        red = lambda v: np.add.reduceat(v * prep["d"], prep["start"], axis=1)  # noqa: E731
        sG = red(G)
        if not jac:
            return B * sG, None
        with np.errstate(divide="ignore"):
            dx = be * pw / (1.0 + 1.0 / x)               # dG/dlogC = beta*(x+1)^-beta * x/(x+1)
        dbe = np.where(pw > 0, pw * lx1, 0.0)            # finite when an LR of 0 makes x = inf
        return B * sG, [sG, B * red(dx), B * red(dbe), -B * red(dx * prep["leta"])]

    def model_jac(self, theta, prep):
        theta = np.atleast_2d(theta)
        L0, A, al = (theta[:, i:i + 1] for i in range(3))
        p = np.exp(-al * prep["lS1"])
        ld, dld = self._ld(theta, prep, True)
        f = L0 + A * p - ld
        jac = np.stack([np.ones_like(f), p + 0 * f, -A * p * prep["lS1"]] + [-v for v in dld], -1)
        return f, jac

    def model(self, theta, prep):
        theta = np.atleast_2d(theta)
        L0, A, al = (theta[:, i:i + 1] for i in range(3))
        return L0 + A * np.exp(-al * prep["lS1"]) - self._ld(theta, prep, False)[0]

    def grid(self, prep, y):
        nonlin = product_grid([0.2, 0.4, 0.6, 0.9], [-6.0, -3.0, -1.0, 1.0, 3.0], [0.3, 0.6, 1.0], [0.2, 0.5, 0.8])
        out = []
        for al, lC, be, ga in nonlin:
            th = np.array([[0, 1, al, 1, lC, be, ga]], float)
            g = self._ld(th, prep, False)[0][0]
            X = np.stack([np.ones_like(y), np.exp(-al * prep["lS1"]), -g], 1)
            coef, *_ = np.linalg.lstsq(X, y, rcond=None)
            out.append([coef[0], abs(coef[1]), al, abs(coef[2]), lC, be, ga])
        return np.array(out)

    def bounds(self, prep, y):
        return [(0.0, None), (0.0, None), (0.0, 5.0), (0.0, None), (-30.0, 30.0), (1e-3, 10.0), (0.0, 5.0)]

    def to_params(self, theta):
        d = super().to_params(theta)
        d["C"] = math.exp(d["C"])
        return d

    def from_params(self, params):
        p = dict(params)
        p["C"] = math.log(p["C"])
        return super().from_params(p)
