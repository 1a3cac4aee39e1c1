"""The :class:`Form` base class of a law form and the helpers forms share (see :mod:`laws.forms`)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np


def lse(*terms: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Log-sum-exp of broadcastable arrays; returns (value, softmax weights per term)."""
    m = terms[0]
    for t in terms[1:]:
        m = np.maximum(m, t)
    ex = [np.exp(np.maximum(t - m, -600.0)) for t in terms]  # no denormals (100x slower)
    s = ex[0]
    for e in ex[1:]:
        s = s + e
    return m + np.log(s), [e / s for e in ex]


class Form:
    """Base class of a law form; subclasses set the class attributes and implement ``model``.

    Attributes:
        name: registry key.
        formula: the law in words/symbols (for docs and reports).
        inputs: columns needed to predict.
        target: the predicted column.
        params: public parameter names (order of ``theta``'s public counterpart).
        extra_columns: further columns needed to fit but not to predict.
        positive: columns that must be strictly positive.
        nonnegative: columns that must be >= 0.
        min_unique: column -> minimum number of distinct values needed to fit.
        options: form option -> default (passed as ``**form_options`` to :func:`laws.fit`).
        log_target: fit in log space of the target (residuals are log ratios).
        keys: non-numeric grouping columns (e.g. ``run``), kept as given.
        n_local: L-BFGS-B runs from this many of the best grid starts.
    """

    name: str = ""
    formula: str = ""
    inputs: tuple[str, ...] = ()
    target: str = ""
    params: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()
    nonnegative: tuple[str, ...] = ()
    min_unique: dict[str, int] = {}
    options: dict[str, Any] = {}
    log_target: bool = True
    keys: tuple[str, ...] = ()
    n_local: int = 8

    @property
    def columns(self) -> tuple[str, ...]:
        """All columns needed to fit (inputs, extra columns, target)."""
        return tuple(dict.fromkeys(self.inputs + self.extra_columns + (self.target,)))

    def __repr__(self) -> str:
        return (f"Form({self.name!r}: {self.formula}; inputs={list(self.inputs)}, "
                f"target={self.target!r}, params={list(self.params)})")

    # ---- hooks (override as needed) -------------------------------------------------
    def check(self, cols: dict[str, np.ndarray], opts: dict[str, Any], fitting: bool) -> None:
        """Form-specific validation of validated numeric columns; raise LawFitError."""

    def reduce(self, cols: dict[str, np.ndarray], opts: dict[str, Any]) -> dict[str, np.ndarray]:
        """Turn the raw table into the points that are fitted (default: unchanged)."""
        return cols

    def prepare(self, cols: dict[str, np.ndarray], opts: dict[str, Any]) -> Any:
        """Precompute features from the input columns (default: the columns themselves)."""
        return cols

    def grid(self, prep: Any, y: np.ndarray) -> np.ndarray:
        """Start grid, shape (m, p), in internal parameter space; ``y`` is in fit space."""
        raise NotImplementedError

    def bounds(self, prep: Any, y: np.ndarray) -> list[tuple[float | None, float | None]]:
        """L-BFGS-B bounds in internal parameter space."""
        return [(None, None)] * len(self.params)

    def model(self, theta: np.ndarray, prep: Any) -> np.ndarray:
        """Prediction in fit space for a batch ``theta`` (k, p) -> (k, n)."""
        raise NotImplementedError

    def model_jac(self, theta: np.ndarray, prep: Any) -> tuple[np.ndarray, np.ndarray]:
        """Prediction (k, n) and Jacobian (k, n, p); default: central finite differences."""
        theta = np.atleast_2d(theta)
        k, p = theta.shape
        h = 1e-6 * np.maximum(1.0, np.abs(theta))
        steps = np.concatenate([theta[:, None, :] + np.eye(p) * h[:, None, :],
                                theta[:, None, :] - np.eye(p) * h[:, None, :]], axis=1)
        out = self.model(np.concatenate([theta, steps.reshape(-1, p)]), prep)
        f0 = out[:k]
        fs = out[k:].reshape(k, 2, p, -1)
        jac = (fs[:, 0] - fs[:, 1]) / (2 * h[:, :, None])
        return f0, np.transpose(jac, (0, 2, 1))

    def to_params(self, theta: np.ndarray) -> dict[str, float]:
        """Internal ``theta`` (p,) -> public parameter dict (default: identity)."""
        return {n: float(v) for n, v in zip(self.params, theta)}

    def from_params(self, params: dict[str, float]) -> np.ndarray:
        """Public parameter dict -> internal ``theta`` (p,) (default: identity)."""
        return np.array([float(params[n]) for n in self.params])

    def to_fit_space(self, y: np.ndarray) -> np.ndarray:
        """Target in natural units -> fit space."""
        return np.log(y) if self.log_target else y

    def to_natural(self, f: np.ndarray) -> np.ndarray:
        """Fit-space prediction -> natural units."""
        return np.exp(f) if self.log_target else f

    def predict(self, params: dict[str, float], cols: dict[str, np.ndarray],
                opts: dict[str, Any]) -> np.ndarray:
        """Predict the target in natural units from public params and validated columns."""
        prep = self.prepare(cols, opts)
        return self.to_natural(self.model(self.from_params(params)[None, :], prep)[0])


def product_grid(*axes: Any) -> np.ndarray:
    """Cartesian product of 1-D axes -> array (m, len(axes))."""
    mesh = np.meshgrid(*[np.asarray(a, float) for a in axes], indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


FormHook = Callable[..., Any]
