"""Learning-rate schedules: ``cosine | wsd | constant``, each with linear warmup.

``lr_at`` works on a Python int or a numpy array of steps (vectorised). With ``T`` total
steps, ``W = round(warmup_frac·T)`` warmup steps and ``K = round(cooldown_frac·T)`` cooldown
steps (wsd only):

- warmup (step < W): ``peak · (step + 1) / W``
- cosine: ``min + (peak − min) · ½(1 + cos(π·p))``, ``p = (step − W) / (T − W)``
- wsd: ``peak`` until ``T − K``, then linear to ``min``: ``peak − (peak − min)·(step − (T−K)) / K``
- constant: ``peak``

``min = min_lr_frac · peak``. The value at step ``T`` (one past the last step) is exactly min.
"""
from __future__ import annotations

import numpy as np

from orchestrator.errors import OrchestratorError

SCHEDULES = ("cosine", "wsd", "constant")


class ScheduleError(OrchestratorError):
    """Bad schedule parameters (one line; CLI exit 2)."""


def lr_at(step, total_steps: int, peak_lr: float, schedule: str = "cosine",
          warmup_frac: float = 0.0, cooldown_frac: float = 0.2, min_lr_frac: float = 0.0):
    """Learning rate at ``step`` (int or array) of a ``total_steps`` run (see module doc)."""
    if schedule not in SCHEDULES:
        raise ScheduleError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not isinstance(total_steps, (int, np.integer)) or total_steps < 1:
        raise ScheduleError(f"total_steps must be a positive integer, got {total_steps!r}")
    for name, v in (("warmup_frac", warmup_frac), ("cooldown_frac", cooldown_frac),
                    ("min_lr_frac", min_lr_frac)):
        if not 0.0 <= v <= 1.0:
            raise ScheduleError(f"{name} must be in [0, 1], got {v!r}")
    s = np.asarray(step, dtype=np.float64)
    t = float(total_steps)
    w = float(round(warmup_frac * total_steps))
    lo = min_lr_frac * peak_lr
    if schedule == "constant":
        main = np.full_like(s, peak_lr)
    elif schedule == "cosine":
        p = np.clip((s - w) / max(t - w, 1.0), 0.0, 1.0)
        main = lo + (peak_lr - lo) * 0.5 * (1.0 + np.cos(np.pi * p))
    else:
        k = float(round(cooldown_frac * total_steps))
        start = t - k
        p = np.clip((s - start) / k, 0.0, 1.0) if k > 0 else np.zeros_like(s)
        main = peak_lr - (peak_lr - lo) * p
    warm = peak_lr * (s + 1.0) / max(w, 1.0)
    out = np.where(s < w, np.minimum(warm, main if schedule != "cosine" else peak_lr), main)
    return float(out) if out.ndim == 0 else out
