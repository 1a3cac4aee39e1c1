"""Training FLOPs as a function of N and D: the exact count the runs record, not 6·N·D.

The runs record ``C`` (exact training FLOPs: attention and the output layer included) beside
``C_6nd = 6·N·D``.  For small models the two differ a lot (the output layer and attention are a
large share: +17 % to +39 % on the quickstart ladder); for large ones C/(6·N·D) tends to 1.
Frontiers and the planner need C at model sizes nobody ran, so :class:`ComputeModel` fits the
per-token cost of the runs as

    c(N) = k·N·(1 + rho·(N/N0)^(-s)),      C(N, D) = c(N)·D

with ``k = 6`` (matmul FLOPs of a forward and backward pass per parameter), the excess share
``rho·(N/N0)^(-s)`` fitted to the runs' ``C / (6·N·D) - 1`` by least squares in log-log
(``s`` clipped to [0, 1.5]; ``N0`` the geometric mean of the sizes, for conditioning).  A table
whose C is not above 6·N·D everywhere (another FLOP convention) gets a constant per-parameter
cost ``k = median(C / (N·D))`` instead; a table without C gets ``k = 6`` (``source`` says which).
``max_rel_error`` is the model's largest relative error on the runs it was fitted to.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from laws.validate import err


@dataclass
class ComputeModel:
    """Per-token training FLOPs ``c(N) = k·N·(1 + rho·(N/N0)^(-s))`` (see the module doc)."""

    k: float = 6.0
    rho: float = 0.0
    s: float = 0.0
    N0: float = 1.0
    source: str = "6·N·D (no exact FLOPs given)"
    max_rel_error: float = 0.0
    exact: bool = False        # fitted to recorded FLOPs (not a k·N·D convention)

    def per_token(self, N: Any) -> np.ndarray:
        """Training FLOPs per token of a model with ``N`` non-embedding parameters."""
        N = np.asarray(N, dtype=float)
        return self.k * N * (1.0 + self.rho * (N / self.N0) ** (-self.s))

    def flops(self, N: Any, D: Any) -> np.ndarray:
        """Training FLOPs of ``D`` tokens on a model of size ``N``."""
        return self.per_token(N) * np.asarray(D, dtype=float)

    def tokens(self, N: Any, C: Any) -> np.ndarray:
        """Tokens ``D`` that ``C`` FLOPs buy on a model of size ``N``."""
        return np.asarray(C, dtype=float) / self.per_token(N)

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return {k: (v if isinstance(v, (bool, str)) else float(v)) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ComputeModel":
        """Rebuild from :meth:`to_dict`."""
        return cls(**{k: d[k] for k in ("k", "rho", "s", "N0", "source", "max_rel_error", "exact")
                      if k in d})

    @classmethod
    def fit(cls, N: Any, D: Any, C: Any = None, k: float = 6.0) -> "ComputeModel":
        """Fit to runs' sizes ``N``, tokens ``D`` and exact FLOPs ``C`` (None: ``k·N·D``)."""
        N, D = np.asarray(N, float).ravel(), np.asarray(D, float).ravel()
        if C is None:
            return cls(k=float(k), source=f"{k:g}·N·D (no exact FLOPs given)")
        C = np.asarray(C, float).ravel()
        ok = np.isfinite(C) & (C > 0) & np.isfinite(N) & (N > 0) & np.isfinite(D) & (D > 0)
        if not ok.any():
            return cls(k=float(k), source=f"{k:g}·N·D (no finite positive C)")
        N, D, C = N[ok], D[ok], C[ok]
        excess = C / (k * N * D) - 1.0
        n0 = float(np.exp(np.mean(np.log(N))))
        if np.all(excess > 1e-9):
            x = np.log(N / n0)
            y = np.log(excess)
            if np.ptp(x) > 1e-9:
                slope, icpt = np.polyfit(x, y, 1)
                s = float(np.clip(-slope, 0.0, 1.5))
                rho = float(np.exp(np.mean(y + s * x)))
            else:
                s, rho = 0.0, float(np.exp(y.mean()))
            out = cls(k=float(k), rho=rho, s=s, N0=n0,
                      source=f"fitted to {len(C)} runs' exact C: c(N) = {k:g}·N·(1 + rho·(N/N0)^-s)")
        else:
            out = cls(k=float(np.median(C / (N * D))), N0=n0,
                      source=f"constant per-parameter cost: median C/(N·D) of {len(C)} runs "
                             f"(their C is not above {k:g}·N·D everywhere)")
        out.exact = True
        out.max_rel_error = float(np.max(np.abs(out.flops(N, D) / C - 1.0)))
        return out


def as_compute(compute: Any, flops_per_token: float = 6.0) -> ComputeModel:
    """A :class:`ComputeModel` from None (``flops_per_token·N·D``), a number (FLOPs per
    parameter per token), a dict (:meth:`ComputeModel.to_dict`) or a ComputeModel."""
    if compute is None:
        return ComputeModel(k=float(flops_per_token), source=f"{flops_per_token:g}·N·D (no exact FLOPs given)")
    if isinstance(compute, ComputeModel):
        return compute
    if isinstance(compute, dict):
        return ComputeModel.from_dict(compute)
    if isinstance(compute, (int, float)) and not isinstance(compute, bool) and compute > 0:
        return ComputeModel(k=float(compute), source=f"{compute:g}·N·D (given)")
    raise err(f"compute: expected a ComputeModel, a dict or FLOPs per parameter-token, got {compute!r}")
