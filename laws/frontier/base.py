"""The :class:`Frontier` result shared by the three approaches (see :mod:`laws.frontier`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from laws.validate import boot_ci

_NAMES = ("a", "log_kN", "b", "log_kD")


@dataclass
class Frontier:
    """A compute-optimal frontier ``N*(C) = exp(log_kN)·C^a``, ``D*(C) = exp(log_kD)·C^b``.

    ``ci`` maps ``a, b, kN, kD`` to percentile intervals (empty without bootstrap); ``boot``
    holds the successful replicates as rows ``(a, log_kN, b, log_kD)``; ``points`` the optimal
    points the power laws were fitted to (C, N, D, loss); ``flops_range`` the FLOPs covered by
    the data (predictions outside it are extrapolations); ``notes`` what was skipped and why.
    """

    approach: str
    a: float
    log_kN: float
    b: float
    log_kD: float
    ci: dict = field(default_factory=dict)
    points: pd.DataFrame | None = None
    boot: np.ndarray | None = None
    n_boot: int = 0
    flops_range: tuple[float, float] | None = None
    level: float = 0.95
    notes: list[str] = field(default_factory=list)

    def N_opt(self, C: Any) -> np.ndarray:
        """Compute-optimal parameter count at FLOPs ``C``."""
        return np.exp(self.log_kN + self.a * np.log(np.asarray(C, dtype=float)))

    def D_opt(self, C: Any) -> np.ndarray:
        """Compute-optimal token count at FLOPs ``C``."""
        return np.exp(self.log_kD + self.b * np.log(np.asarray(C, dtype=float)))

    def predict(self, C: Any) -> pd.DataFrame:
        """Table of ``C, N, D`` (and ``N_lo, N_hi, D_lo, D_hi`` bands when bootstrapped)."""
        C = np.atleast_1d(np.asarray(C, dtype=float))
        out = pd.DataFrame({"C": C, "N": self.N_opt(C), "D": self.D_opt(C)})
        if self.boot is not None and len(self.boot) >= 2:
            lc = np.log(C)[None, :]
            q = [(1 - self.level) / 2 * 100, (1 + self.level) / 2 * 100]
            n = np.exp(self.boot[:, 1:2] + self.boot[:, 0:1] * lc)
            d = np.exp(self.boot[:, 3:4] + self.boot[:, 2:3] * lc)
            out["N_lo"], out["N_hi"] = np.percentile(n, q, axis=0)
            out["D_lo"], out["D_hi"] = np.percentile(d, q, axis=0)
        return out

    def to_dict(self) -> dict:
        """JSON-ready summary (no bootstrap replicates)."""
        return {
            "approach": self.approach, "a": self.a, "b": self.b,
            "kN": float(np.exp(self.log_kN)), "kD": float(np.exp(self.log_kD)),
            "ci": {k: [float(v[0]), float(v[1])] for k, v in self.ci.items()},
            "n_boot": self.n_boot, "level": self.level,
            "flops_range": None if self.flops_range is None else [float(x) for x in self.flops_range],
            "points": None if self.points is None else self.points.to_dict(orient="list"),
            "notes": list(self.notes),
        }


def _make(approach, est, boot, n_boot, points, flops_range, level, notes) -> Frontier:
    ci = {}
    if boot is not None and len(boot) >= 2:
        ci = boot_ci(boot, _NAMES, level)
        ci["kN"] = tuple(float(np.exp(v)) for v in ci.pop("log_kN"))
        ci["kD"] = tuple(float(np.exp(v)) for v in ci.pop("log_kD"))
        if len(boot) < n_boot:
            notes.append(f"{n_boot - len(boot)} of {n_boot} bootstrap replicates failed and were dropped")
    elif n_boot:
        notes.append(f"only {0 if boot is None else len(boot)} of {n_boot} bootstrap replicates succeeded: no CIs")
    return Frontier(approach, *[float(v) for v in est], ci=ci, points=points,
                    boot=boot if boot is not None and len(boot) else None, n_boot=n_boot,
                    flops_range=flops_range, level=level, notes=notes)
