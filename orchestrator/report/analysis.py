"""The numbers behind ``report.html``: load a sweep directory, fit, build frontiers and a plan.

Everything here is computed from the stored rows (``runs.parquet``, ``metrics.parquet``,
``tts.parquet``) with :mod:`laws`; results are also written to ``fits/report-*.json`` so every
number in the report can be traced to a file. A section without data (no done runs, no
test-time rows, a fit that cannot be made) records *why* in ``notes`` instead of raising.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import laws
from laws.atomic import atomic_write
from orchestrator.errors import ReportError
from orchestrator.runs.sweepdir import SweepDir, law_runs, roles

FLOPS_PER_TOKEN = 6.0       # 6·N·D, shown beside the exact FLOPs the runs record
TARGET_BEYOND = 10.0        # default target compute: this many times the largest run's exact C


@dataclass
class SweepData:
    """The stored rows of one sweep directory (empty frames where a file is missing)."""

    path: Path
    spec: dict
    runs: pd.DataFrame
    metrics: pd.DataFrame
    tts: pd.DataFrame
    dir: SweepDir | None = None

    @property
    def name(self) -> str:
        """Sweep name (spec ``name``, else the runs' ``sweep`` column, else the folder name)."""
        if self.spec.get("name"):
            return str(self.spec["name"])
        if "sweep" in self.runs.columns and len(self.runs):
            return str(self.runs["sweep"].iloc[0])
        return self.path.name

    @property
    def trunks(self) -> pd.Series:
        """Mask of WSD trunk runs (:func:`orchestrator.runs.sweepdir.roles`): their final loss
        has no cooldown, so it is not the loss of a finished run of that D."""
        return roles(self.runs) == "trunk"

    @property
    def done(self) -> pd.DataFrame:
        """Finished runs for the law (:meth:`orchestrator.runs.sweepdir.SweepDir.law_runs`)."""
        return law_runs(self.runs)


@dataclass
class Analysis:
    """Fits, frontiers and plan derived from a :class:`SweepData` (None where not possible)."""

    law: Any = None                 # laws.LawFit of the audit's chosen form, with bootstrap CIs
    audit: Any = None               # laws.Audit: backtest, verdict, reasons, answer, next runs
    compute: Any = None             # laws.ComputeModel: exact training FLOPs (fitted to runs' C)
    target_C: float | None = None   # the training FLOPs the answer is given for
    frontier: Any = None            # laws.frontier.Frontier (the law's own, exact FLOPs)
    isoflop: Any = None             # laws.frontier.Frontier (approach 2), when the grid allows
    tts: Any = None                 # laws.tts.TTSFrontier
    tts_task: str | None = None
    plan: Any = None                # whatever laws.plan returns, normalised to a DataFrame
    plan_notes: list = field(default_factory=list)
    live: list = field(default_factory=list)    # rows of fits/chinchilla_history.json (live refits)
    schedules: list = field(default_factory=list)  # per WSD trunk: curves, held-out branch, schedule-law fits
    notes: dict = field(default_factory=dict)   # section -> list of plain-language notes

    def note(self, section: str, text: str) -> None:
        """Record a note for ``section`` (shown in the report)."""
        self.notes.setdefault(section, []).append(text)


def load_sweep(sweep_dir: str | os.PathLike) -> SweepData:
    """Read a sweep directory through :class:`~orchestrator.runs.sweepdir.SweepDir`; missing
    tables are empty frames."""
    p = Path(sweep_dir)
    if not p.is_dir():
        raise ReportError(f"sweep directory {str(p)!r} does not exist")
    sd = SweepDir(p)
    if not sd.has_runs() and not sd.has_tts():
        raise ReportError(f"sweep directory {str(p)!r} has neither runs.parquet nor tts.parquet")
    return SweepData(p, sd.spec(), sd.runs(), sd.metrics(), sd.tts(), dir=sd)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (:func:`laws.atomic.atomic_write`)."""
    atomic_write(path, json.dumps(obj, indent=1, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, pd.DataFrame):
        return o.to_dict(orient="list")
    return str(o)


def law_data(data: SweepData) -> pd.DataFrame:
    """The points the training law is fitted to: one per done run, ``N, D, loss``, ``C`` (the
    exact training FLOPs the run recorded, when it did) and ``C_6nd`` (6·N·D), with run ids."""
    d = data.done
    cols = [c for c in ("run_id", "N", "D", "C", "final_val_loss") if c in d.columns]
    out = d[cols].rename(columns={"final_val_loss": "loss"}).astype({"N": float, "D": float})
    if "C" in out.columns:
        out["C"] = pd.to_numeric(out["C"], errors="coerce")
        if not (np.isfinite(out["C"]) & (out["C"] > 0)).all():
            out = out.drop(columns="C")
    out["C_6nd"] = FLOPS_PER_TOKEN * out["N"] * out["D"]
    return out


def flops_of(an: "Analysis", pts: pd.DataFrame) -> np.ndarray:
    """Exact training FLOPs of the law's points (recorded C, else the compute model's)."""
    if "C" in pts.columns:
        return pts["C"].to_numpy(float)
    return np.asarray(an.compute.flops(pts["N"], pts["D"]), float) if an.compute is not None \
        else pts["C_6nd"].to_numpy(float)


def fit_law(data: SweepData, an: Analysis, bootstrap: int, seed: int,
            target_C: float | None = None) -> None:
    """Audit every L(N, D) form on the done runs (:func:`laws.audit`): backtest, chosen form,
    verdict, the answer at ``target_C`` (default: 10× the largest run's exact FLOPs), next runs.
    Writes ``fits/report-audit.json`` and the chosen fit as ``fits/report-law.json``."""
    pts = law_data(data)
    n_trunks = int(data.trunks.sum())
    if n_trunks:
        an.note("law", f"{n_trunks} WSD trunk run(s) (constant LR, no cooldown) are not used for the "
                       "fit; their cooled-down branches are.")
    if pts.empty:
        an.note("law", "No run has finished with a finite validation loss, so no law was fitted.")
        return
    an.compute = laws.ComputeModel.fit(pts["N"], pts["D"], pts["C"] if "C" in pts.columns else None)
    an.target_C = float(target_C) if target_C is not None else TARGET_BEYOND * float(flops_of(an, pts).max())
    cols = [c for c in ("run_id", "N", "D", "C", "loss") if c in pts.columns]
    try:
        an.audit = laws.audit(pts[cols], bootstrap=bootstrap, seed=seed, target_C=an.target_C,
                              compute=an.compute)
    except Exception as exc:  # noqa: BLE001 - a failed audit is reported, not raised
        an.note("law", f"The law could not be fitted to {len(pts)} runs: {exc}")
        return
    an.law = an.audit.fit
    write_json(data.path / "fits" / "report-audit.json", an.audit.to_dict())
    if an.law is None:
        an.note("law", "No law form could be fitted: " + "; ".join(an.audit.reasons))
        return
    d = an.law.to_dict()
    d["data_range"] = {c: [float(pts[c].min()), float(pts[c].max())] for c in ("N", "D")}
    d["verdict"] = an.audit.verdict
    write_json(data.path / "fits" / "report-law.json", d)


def live_history(data: SweepData) -> list[dict]:
    """The live refits the sweep made while training (``fits/chinchilla_history.json``,
    written by ``laws.LiveFitter``): one row per refit with its point count, R² and parameters."""
    path = data.path / "fits" / "chinchilla_history.json"
    if not path.exists():
        return []
    try:
        hist = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    rows = []
    for h in hist if isinstance(hist, list) else []:
        if isinstance(h, dict) and h.get("params"):
            rows.append({"refit": h.get("k"), "n_points": h.get("n_points"), "r2": h.get("r2"),
                         **{k: float(v) for k, v in h["params"].items()}})
    return rows


def fit_frontiers(data: SweepData, an: Analysis, bootstrap: int, seed: int) -> None:
    """The law's own frontier N*(C), D*(C) at exact FLOPs (CIs from its replicates) and the
    IsoFLOP frontier when the runs allow; writes ``fits/report-frontier.json``."""
    if an.law is None:
        an.note("frontier", "No training law, so no compute-optimal frontier.")
        return
    pts = law_data(data)
    c = flops_of(an, pts)
    rng = (float(c.min()), float(c.max()))
    try:
        an.frontier = laws.frontier_closed_form(an.law, compute=an.compute, flops_range=rng)
    except Exception as exc:  # noqa: BLE001
        an.note("frontier", f"The law gives no compute-optimal frontier: {exc}")
        return
    out = {"law": an.frontier.to_dict(), "compute": an.compute.to_dict(),
           "verdict": an.audit.verdict if an.audit is not None else None}
    iso = pts[["N", "D", "loss"]].assign(C=c)
    try:
        an.isoflop = laws.frontier_isoflop(iso, bootstrap=bootstrap, seed=seed, compute=an.compute)
        out["isoflop"] = an.isoflop.to_dict()
    except Exception as exc:  # noqa: BLE001
        an.note("frontier", f"IsoFLOP parabolas (approach 2) were not possible: {exc}")
    write_json(data.path / "fits" / "report-frontier.json", out)


def fit_tts(data: SweepData, an: Analysis, bootstrap: int, seed: int) -> None:
    """Test-time frontier (accuracy vs inference FLOPs) from ``tts.parquet``."""
    t = data.tts
    if t.empty:
        an.note("tts", "This sweep has no test-time rows (tts.parquet is missing or empty).")
        return
    if "task" in t.columns and t["task"].nunique() > 1:
        an.tts_task = str(sorted(t["task"].unique())[0])
        an.note("tts", f"Rows cover several tasks; this section shows task {an.tts_task!r}.")
        t = t[t["task"] == an.tts_task]
    elif "task" in t.columns:
        an.tts_task = str(t["task"].iloc[0])
    try:
        an.tts = laws.tts_frontier(t, forms=(), seed=seed)
    except Exception as exc:  # noqa: BLE001
        an.note("tts", f"The test-time frontier could not be computed: {exc}")
        return
    an.notes.setdefault("tts", []).extend(an.tts.notes)
    write_json(data.path / "fits" / "report-tts.json", an.tts.to_dict())
