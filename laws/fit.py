"""Robust fitting: vectorised grid of starts -> L-BFGS-B from the best few -> LawFit.

The objective is Huber (default, ``delta`` 1e-3) or squared error on residuals in the form's
fit space (log loss for loss laws), optionally weighted (bootstrap replicates are multinomial
weights, so the precomputed features are shared by every replicate).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from laws import validate
from laws._blas import single_thread
from laws.errors import LawFitError
from laws.forms import Form, get_form

N_LOCAL = 8  # refine this many best (distinct) grid starts
_STRATA_MAX = 12  # a parameter with at most this many grid values is stratified in solve()
_LBFGS = {"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-10, "maxls": 50}


def objective(r: np.ndarray, w: np.ndarray | None, loss: str, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Loss values per batch row and d loss / d r for residuals ``r`` (k, n).

    Huber is divided by ``delta`` so its linear part reads as mean |r|; both losses are
    weighted means over points (weights ``w`` (n,), e.g. bootstrap counts).
    """
    if loss == "huber":
        a = np.abs(r)
        quad = a <= delta
        h = np.where(quad, 0.5 * r * r / delta, a - 0.5 * delta)
        dh = np.where(quad, r / delta, np.sign(r))
    else:
        h, dh = 0.5 * r * r, r
    if w is None:
        n = r.shape[-1]
        return h.sum(-1) / n, dh / n
    wn = w / w.sum()
    return h @ wn, dh * wn


class FitProblem:
    """One prepared fitting problem: form, features, fit-space target, loss settings."""

    def __init__(self, form: Form, prep: Any, y: np.ndarray, loss: str, delta: float):
        self.form, self.prep, self.y, self.loss, self.delta = form, prep, y, loss, delta
        self.bounds = form.bounds(prep, y)

    def values(self, thetas: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
        """Objective for a batch of parameter vectors (k, p) -> (k,), non-finite -> inf."""
        with np.errstate(all="ignore"):
            r = self.form.model(thetas, self.prep) - self.y
            v = objective(r, w, self.loss, self.delta)[0]
        return np.where(np.isfinite(v), v, np.inf)

    def fun_grad(self, theta: np.ndarray, w: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Objective and gradient at one parameter vector (for L-BFGS-B)."""
        with np.errstate(all="ignore"):
            f, jac = self.form.model_jac(theta[None, :], self.prep)
            v, dh = objective(f - self.y, w, self.loss, self.delta)
            g = np.einsum("kn,knp->p", dh, jac)
        v = float(v[0])
        if not np.isfinite(v) or not np.all(np.isfinite(g)):
            return 1e30, np.zeros_like(theta)
        return v, g

    def local(self, x0: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """One L-BFGS-B run from ``x0``; returns (theta, objective)."""
        x0 = np.clip(x0, [b[0] if b[0] is not None else -np.inf for b in self.bounds],
                     [b[1] if b[1] is not None else np.inf for b in self.bounds])
        from scipy.optimize import minimize  # here, not at import: `import laws` stays light
        res = minimize(self.fun_grad, x0, args=(w,), jac=True, method="L-BFGS-B",
                       bounds=self.bounds, options=_LBFGS)
        return res.x, float(res.fun)

    def solve(self, starts: np.ndarray, n_local: int = N_LOCAL,
              w: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """Evaluate all starts at once; refine the ``n_local`` best distinct ones and the best
        at every grid level of every parameter (:func:`stratified_starts`) together (batched
        Levenberg-Marquardt), then polish the best with L-BFGS-B."""
        prep = self.prep if isinstance(self.prep, dict) else {}
        width = max([self.y.shape[-1]] + [np.size(v) for v in prep.values()])
        parts = max(1, -(-len(starts) * width // 2_000_000))     # bound memory: ~2M cells per block
        vals = np.concatenate([self.values(c, w) for c in np.array_split(starts, parts)])
        order = np.argsort(vals, kind="stable")
        picked: list[np.ndarray] = []
        for i in order:
            if not np.isfinite(vals[i]) or len(picked) >= n_local:
                break
            if all(np.max(np.abs(starts[i] - q)) > 1e-9 for q in picked):
                picked.append(starts[i])
        for i in stratified_starts(starts, vals):
            if all(np.max(np.abs(starts[i] - q)) > 1e-9 for q in picked):
                picked.append(starts[i])
        if not picked:
            raise LawFitError(f"form {self.form.name!r}: the objective is not finite at any start "
                              "(check the data's scale and columns)")
        from laws.bootstrap import batched_lm

        starts = np.array(picked)
        W = np.ones((len(starts), self.y.shape[-1])) if w is None else np.tile(w, (len(starts), 1))
        thetas, objs = batched_lm(self, starts, W)
        self.refined = (thetas, objs)         # every refined start: the audit's basin check
        best = thetas[int(np.argmin(objs))]
        x, v = self.local(best, w)            # polish the best basin with L-BFGS-B
        v0 = float(self.values(best[None, :], w)[0])
        return (x, v) if v <= v0 else (best, v0)


def stratified_starts(starts: np.ndarray, vals: np.ndarray) -> list[int]:
    """Indices of the best start at each grid value of each parameter (finite objectives only).

    The best few starts of a grid often lie on one plateau (e.g. a term of the law switched
    off, where its parameters do not matter), and local refinement from all of them ends in
    the same degenerate basin while a much better one exists elsewhere. The best start at
    every level of every parameter covers each region of the grid at least once; refining
    those too costs a few more batched Levenberg-Marquardt runs. Parameters with more than
    ``_STRATA_MAX`` distinct grid values are skipped (they are not grid levels).
    """
    out: list[int] = []
    ok = np.isfinite(vals)
    for j in range(starts.shape[1]):
        levels = np.unique(starts[ok, j])
        if len(levels) < 2 or len(levels) > _STRATA_MAX:
            continue
        for v in levels:
            idx = np.flatnonzero(ok & (starts[:, j] == v))
            out.append(int(idx[np.argmin(vals[idx])]))
    return list(dict.fromkeys(out))


@dataclass
class LawFit:
    """Result of :func:`fit`: parameters, CIs, diagnostics; JSON round-trip via to_dict/from_dict.

    ``residuals`` are ``y - y_hat`` in the target's natural units; ``r2`` is computed there too.
    ``boot_params`` (n_boot, n_params) holds the bootstrap replicates (public parameter order,
    ``param_names``) or None; it is left out of :meth:`to_dict` unless asked for.  ``starts``
    holds ``(thetas, objectives)`` of the refined best grid starts (internal parameters; not
    serialised), which :mod:`laws.audit` compares to tell one basin from several.
    """

    form: str
    params: dict[str, float]
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    r2: float = float("nan")
    residuals: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_points: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    loss: str = "huber"
    delta: float = 1e-3
    objective: float = float("nan")
    n_boot: int = 0
    seed: int = 0
    boot_params: np.ndarray | None = None
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # input col -> (min, max)
    starts: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def param_names(self) -> list[str]:
        """Parameter names in the form's order."""
        return list(self.params)

    @property
    def formula(self) -> str:
        """The form's formula string."""
        return get_form(self.form).formula

    def predict(self, data: Any) -> np.ndarray:
        """Predict the form's target for ``data`` (the form's input columns; target not needed)."""
        form = get_form(self.form)
        cols = validate.columns(data, form.inputs, what="predict data", keys=form.keys)
        validate.signs(cols, tuple(c for c in form.positive if c in form.inputs),
                       tuple(c for c in form.nonnegative if c in form.inputs))
        form.check(cols, self.options, fitting=False)
        with np.errstate(all="ignore"):
            return form.predict(self.params, cols, self.options)

    def predict_band(self, data: Any, level: float = 0.95,
                     max_replicates: int = 200) -> tuple[np.ndarray, np.ndarray] | None:
        """``(lo, hi)``: the ``level`` percentile band of predictions over the bootstrap
        replicates (at most ``max_replicates``, evenly thinned); None without a bootstrap."""
        boot = self.boot_params
        if boot is None or len(boot) < 2:
            return None
        if not 0 < level < 1:
            raise LawFitError(f"predict_band: level must be in (0, 1), got {level}")
        step = max(1, len(boot) // max(1, int(max_replicates)))
        names = self.param_names
        preds = [LawFit(form=self.form, params=dict(zip(names, map(float, row))),
                        options=self.options).predict(data)
                 for row in np.asarray(boot)[::step]]
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        with np.errstate(all="ignore"):
            lo, hi = np.nanpercentile(np.asarray(preds, float), q, axis=0)
        return lo, hi

    def to_dict(self, include_boot: bool = False) -> dict[str, Any]:
        """JSON-safe dict (floats, lists); ``include_boot`` adds the replicate matrix."""
        d: dict[str, Any] = {
            "form": self.form, "formula": self.formula,
            "params": {k: float(v) for k, v in self.params.items()},
            "ci": {k: [float(lo), float(hi)] for k, (lo, hi) in self.ci.items()},
            "r2": _jf(self.r2), "residuals": [float(x) for x in np.asarray(self.residuals)],
            "n_points": int(self.n_points), "options": _json_opts(self.options),
            "loss": self.loss, "delta": float(self.delta), "objective": _jf(self.objective),
            "n_boot": int(self.n_boot), "seed": int(self.seed),
            "ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in self.ranges.items()},
        }
        if include_boot and self.boot_params is not None:
            d["boot_params"] = np.asarray(self.boot_params).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LawFit":
        """Rebuild a LawFit from :meth:`to_dict` output."""
        try:
            boot = d.get("boot_params")
            return cls(form=d["form"], params={k: float(v) for k, v in d["params"].items()},
                       ci={k: (float(v[0]), float(v[1])) for k, v in d.get("ci", {}).items()},
                       r2=_fj(d.get("r2")), residuals=np.asarray(d.get("residuals", []), float),
                       n_points=int(d.get("n_points", 0)), options=dict(d.get("options", {})),
                       loss=d.get("loss", "huber"), delta=float(d.get("delta", 1e-3)),
                       objective=_fj(d.get("objective")), n_boot=int(d.get("n_boot", 0)),
                       seed=int(d.get("seed", 0)),
                       ranges={k: (float(v[0]), float(v[1]))
                               for k, v in d.get("ranges", {}).items()},
                       boot_params=None if boot is None else np.asarray(boot, float))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise LawFitError(f"fit dict: malformed ({exc!r})") from None


def _input_ranges(form: Form, data: Any) -> dict[str, tuple[float, float]]:
    """(min, max) of each numeric input column of the data the fit saw (for extrapolation flags)."""
    out = {}
    for c in form.inputs:
        try:
            v = np.asarray(data[c], dtype=float)
        except (KeyError, TypeError, ValueError):
            continue
        if v.size and np.isfinite(v).any():
            out[c] = (float(np.nanmin(v)), float(np.nanmax(v)))
    return out


def _jf(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _fj(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _json_opts(opts: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in opts.items():
        out[k] = v.item() if isinstance(v, np.generic) else v
    return out


def prepare_problem(form: Form, data: Any, loss: str, delta: float,
                    opts: dict[str, Any]) -> tuple[FitProblem, dict[str, np.ndarray]]:
    """Validate ``data`` for ``form`` and build the fitting :class:`FitProblem`."""
    cols = validate.columns(data, form.columns, keys=form.keys)
    validate.signs(cols, form.positive, form.nonnegative)
    form.check(cols, opts, fitting=True)
    cols = form.reduce(cols, opts)
    validate.unique_counts(cols, form.min_unique)
    n = len(cols[form.target])
    if n < len(form.params):
        raise LawFitError(f"data: {n} point(s) but form {form.name!r} has {len(form.params)} "
                          f"parameters ({', '.join(form.params)}); need at least {len(form.params)}")
    prep = form.prepare(cols, opts)
    return FitProblem(form, prep, form.to_fit_space(cols[form.target]), loss, delta), cols


def fit(form: Any, data: Any, *, bootstrap: int = 0, seed: int = 0, loss: str = "huber",
        delta: float = 1e-3, workers: int | None = None, **form_options: Any) -> LawFit:
    """Fit law ``form`` (a name in :func:`laws.forms`) to ``data`` (DataFrame or mapping).

    Grid of starts evaluated at once, L-BFGS-B from the best few, Huber (``delta``) on the
    form's fit space.  ``bootstrap`` > 0 adds percentile 95 % CIs from that many resamples
    (each warm-started from the full-data optimum; ``workers`` processes, default: 2 for big
    jobs, 1 otherwise).  Bad input raises :class:`laws.LawFitError`.
    """
    with single_thread():
        return _fit(form, data, bootstrap, seed, loss, delta, workers, form_options)


def _fit(form: Any, data: Any, bootstrap: Any, seed: int, loss: Any, delta: Any,
         workers: int | None, form_options: dict[str, Any]) -> LawFit:
    from laws.bootstrap import run_bootstrap

    f = get_form(form)
    n_boot, loss, delta = validate.fit_settings(bootstrap, loss, delta)
    opts = validate.options(f.name, f.options, form_options)
    prob, cols = prepare_problem(f, data, loss, delta, opts)
    theta, obj = prob.solve(f.grid(prob.prep, prob.y), f.n_local)
    params = f.to_params(theta)
    with np.errstate(all="ignore"):
        yhat = f.to_natural(f.model(theta[None, :], prob.prep)[0])
    y = cols[f.target]
    resid = y - yhat
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    out = LawFit(form=f.name, params=params, r2=r2, residuals=resid, n_points=len(y), options=opts,
                 loss=loss, delta=delta, objective=obj, n_boot=n_boot, seed=int(seed),
                 ranges=_input_ranges(f, data), starts=getattr(prob, "refined", None))
    if n_boot:
        boot = run_bootstrap(prob, theta, n_boot, seed, workers)
        out.boot_params = boot
        lo, hi = np.nanpercentile(boot, [2.5, 97.5], axis=0)
        out.ci = {k: (float(a), float(b)) for k, a, b in zip(f.params, lo, hi)}
    return out
