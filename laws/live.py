"""Live refitting: feed metric rows one at a time, refit when new final points arrive.

:class:`LiveFitter` accepts the rows of ARCHITECTURE.md's metric schema in any order (training step
rows and run rows, typically from a Ray Tune callback on another thread):

* ``chinchilla``/``kaplan``/``power_law``: a point per finished run (``status == 'done'``,
  finite ``final_val_loss``): ``(N, D, loss)``; ``power_law`` uses ``x = C`` (or 6·N·D),
  ``y = final_val_loss``. A run reported again replaces its point.
* ``lr_annealing``/``multi_power``: every step row with ``lr`` and a loss (``val_loss``, else
  ``train_loss``) is a curve point ``(run, step, lr, loss)``.
* anything else: pass ``point_fn(row) -> dict | None`` (``None`` = not a point); the dict may
  carry ``key`` (deduplication key, default: a new key per row).

Refits are debounced: at least ``min_points`` points, ``min_new_points`` new ones since the last
attempt and ``min_interval_s`` seconds since it (a point held back by the interval is fitted by
the next due refit or by :meth:`LiveFitter.flush`). ``background=True`` runs refits on a worker
thread so the caller (a Tune callback) never waits for a fit; :meth:`LiveFitter.close` joins it
and fits what is left. A failing fit is recorded in the history and never raised; bad rows are counted in ``skipped``. With ``out_dir`` every successful fit is
written atomically to ``<out_dir>/<form>_<k>.json`` and ``<form>_latest.json``, and the
history (successes and errors) to ``<form>_history.json``.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pandas as pd

from laws.atomic import atomic_write

__all__ = ["LiveFitter", "FitRecord", "default_point"]

_CURVE_FORMS = ("lr_annealing", "multi_power")


def _num(row: Mapping, key: str) -> float | None:
    v = row.get(key)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def default_point(form: str, row: Mapping, flops_per_token: float = 6.0) -> dict | None:
    """Map one metric row to a fit point for ``form`` (see module doc), or None."""
    if form in _CURVE_FORMS:
        if "step" not in row or row.get("status") is not None:
            return None
        loss = _num(row, "val_loss")
        loss = loss if loss is not None else _num(row, "train_loss")
        step, lr = _num(row, "step"), _num(row, "lr")
        if loss is None or step is None or lr is None or row.get("run_id") is None:
            return None
        return {"key": (row["run_id"], step), "run": str(row["run_id"]), "step": step, "lr": lr, "loss": loss}
    if row.get("status") != "done" or row.get("run_id") is None:
        return None
    loss, N, D = _num(row, "final_val_loss"), _num(row, "N"), _num(row, "D")
    if loss is None or N is None or D is None:
        return None
    if form == "power_law":
        C = _num(row, "C") or flops_per_token * N * D
        return {"key": row["run_id"], "x": C, "y": loss}
    return {"key": row["run_id"], "N": N, "D": D, "loss": loss}


@dataclass
class FitRecord:
    """One refit attempt: number ``k``, time, points used, the fit (or the error)."""

    k: int
    time: float
    n_points: int
    fit: Any = None
    error: str | None = None
    path: str | None = None

    @property
    def ok(self) -> bool:
        """True when the attempt produced a fit."""
        return self.fit is not None

    def summary(self) -> dict:
        """JSON-ready summary (parameters and CIs, or the error)."""
        d = {"k": self.k, "time": self.time, "n_points": self.n_points, "error": self.error, "path": self.path}
        if self.fit is not None:
            d.update(params=self.fit.params, ci={k: list(v) for k, v in self.fit.ci.items()}, r2=self.fit.r2)
        return d


def _write_json(path: str, obj: Any) -> None:
    """Atomic JSON write (:func:`laws.atomic.atomic_write`)."""
    atomic_write(path, json.dumps(obj, indent=1, default=str))


@dataclass
class LiveFitter:
    """Thread-safe incremental fitter of one law form (see the module doc).

    ``fit_kwargs`` go to :func:`laws.fit` (``bootstrap``, ``seed``, form options …).
    ``min_points`` defaults to the number of parameters + 1.
    """

    form: str = "chinchilla"
    out_dir: str | os.PathLike | None = None
    min_points: int | None = None
    min_new_points: int = 1
    min_interval_s: float = 0.0
    point_fn: Callable[[Mapping], dict | None] | None = None
    flops_per_token: float = 6.0
    fit_kwargs: dict = field(default_factory=dict)
    background: bool = False
    history: list[FitRecord] = field(default_factory=list, init=False)
    skipped: int = field(default=0, init=False)

    def __post_init__(self):
        import laws

        if self.form not in laws.forms():
            raise laws.LawFitError(f"LiveFitter: unknown form {self.form!r}; known: {sorted(laws.forms())}")
        if self.min_points is None:
            self.min_points = len(laws.forms()[self.form].params) + 1
        self._points: dict[Any, dict] = {}
        self._serial = 0          # counts accepted points (new or replaced)
        self._fitted_serial = 0   # serial at the last attempt
        self._last_t = -math.inf
        self._lock = threading.Lock()       # guards points and history
        self._fit_lock = threading.Lock()   # one fit at a time
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------------ ingestion
    def add(self, row: Mapping) -> FitRecord | None:
        """Feed one metric row; returns the new FitRecord if this call refitted. Never raises."""
        try:
            pt = self.point_fn(row) if self.point_fn else default_point(self.form, row, self.flops_per_token)
        except Exception:  # noqa: BLE001 - a bad row must not kill the caller's loop
            pt = None
        with self._lock:
            if pt is None:
                self.skipped += 1
                return None
            pt = dict(pt)
            key = pt.pop("key", ("row", self._serial))
            if self._points.get(key) == pt:
                return None  # exact duplicate: nothing new
            self._points[key] = pt
            self._serial += 1
            if self.background:
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self.maybe_refit, name="LiveFitter", daemon=True)
                    self._worker.start()
                return None
        return self.maybe_refit()

    def feed(self, rows) -> FitRecord | None:
        """Feed many rows (iterable of mappings or a DataFrame); returns the last refit."""
        if isinstance(rows, pd.DataFrame):
            rows = rows.to_dict(orient="records")
        last = None
        for r in rows:
            last = self.add(r) or last
        return last

    @property
    def n_points(self) -> int:
        """Number of fit points collected so far."""
        with self._lock:
            return len(self._points)

    def data(self) -> pd.DataFrame:
        """The collected fit points as a DataFrame."""
        with self._lock:
            return pd.DataFrame(list(self._points.values()))

    @property
    def latest(self):
        """The most recent successful :class:`laws.LawFit`, or None."""
        with self._lock:
            return next((r.fit for r in reversed(self.history) if r.ok), None)

    # ------------------------------------------------------------------ refitting
    def _due(self, force: bool) -> bool:
        new = self._serial - self._fitted_serial
        if len(self._points) < self.min_points or new <= 0:
            return False
        if force:
            return True
        return new >= self.min_new_points and time.monotonic() - self._last_t >= self.min_interval_s

    def maybe_refit(self, force: bool = False, blocking: bool = False) -> FitRecord | None:
        """Refit if due (``force`` skips the debounce, not ``min_points``); never raises.

        If another thread is fitting, returns None at once (unless ``blocking``): that thread
        re-checks for new points when it finishes.
        """
        if not self._fit_lock.acquire(blocking=blocking):
            return None
        last = None
        try:
            while True:
                with self._lock:
                    if not self._due(force):
                        break
                    force = False
                    serial = self._serial
                    df = pd.DataFrame(list(self._points.values()))
                    self._fitted_serial, self._last_t = serial, time.monotonic()
                    k = len(self.history)
                last = self._attempt(k, df)
                with self._lock:
                    self.history.append(last)
        finally:
            self._fit_lock.release()
        return last

    def flush(self) -> FitRecord | None:
        """Refit now if any point arrived since the last attempt (end of a sweep).

        Waits for a background fit in progress first."""
        with self._lock:
            worker = self._worker
        if worker is not None:
            worker.join()
        return self.maybe_refit(force=True, blocking=True)

    def close(self) -> FitRecord | None:
        """Join the background worker and fit the remaining points (alias of :meth:`flush`)."""
        return self.flush()

    def _attempt(self, k: int, df: pd.DataFrame) -> FitRecord:
        import laws

        rec = FitRecord(k=k, time=time.time(), n_points=len(df))
        try:
            if self.form in _CURVE_FORMS:
                df = df.sort_values(["run", "step"], kind="mergesort").reset_index(drop=True)
            rec.fit = laws.fit(self.form, df, **self.fit_kwargs)
        except Exception as exc:  # noqa: BLE001 - recorded, never raised
            rec.error = f"{type(exc).__name__}: {exc}"
        try:
            self._write(rec)
        except OSError as exc:
            rec.error = (rec.error + "; " if rec.error else "") + f"writing fit JSON failed: {exc}"
        return rec

    def _write(self, rec: FitRecord) -> None:
        if self.out_dir is None:
            return
        out = os.fspath(self.out_dir)
        if rec.fit is not None:
            d = rec.fit.to_dict()
            d["live"] = {"k": rec.k, "time": rec.time, "n_points": rec.n_points}
            rec.path = os.path.join(out, f"{self.form}_{rec.k:04d}.json")
            _write_json(rec.path, d)
            _write_json(os.path.join(out, f"{self.form}_latest.json"), d)
        with self._lock:
            hist = [r.summary() for r in self.history] + [rec.summary()]
        _write_json(os.path.join(out, f"{self.form}_history.json"), hist)
