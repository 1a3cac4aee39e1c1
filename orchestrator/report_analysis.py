"""The numbers behind ``report.html``: load a sweep directory, fit, build frontiers and a plan.

Everything here is computed from the stored rows (``runs.parquet``, ``metrics.parquet``,
``tts.parquet``) with :mod:`laws`; results are also written to ``fits/report-*.json`` so every
number in the report can be traced to a file. A section without data (no done runs, no
test-time rows, a fit that cannot be made) records *why* in ``notes`` instead of raising.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import laws

FLOPS_PER_TOKEN = 6.0


@dataclass
class SweepData:
    """The stored rows of one sweep directory (empty frames where a file is missing)."""

    path: Path
    spec: dict
    runs: pd.DataFrame
    metrics: pd.DataFrame
    tts: pd.DataFrame

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
        """Mask of WSD trunk runs: runs other runs branch from, trained at constant LR (their
        final loss has no cooldown, so it is not the loss of a finished run of that D)."""
        r = self.runs
        if r.empty or "parent_run_id" not in r.columns:
            return pd.Series(False, index=r.index)
        parents = set(r["parent_run_id"].dropna().astype(str))
        mask = r["run_id"].astype(str).isin(parents)
        if "schedule" in r.columns:
            mask &= r["schedule"].astype(str) == "constant"
        return mask

    @property
    def done(self) -> pd.DataFrame:
        """Finished runs for the law: status ``done``, finite positive final validation loss,
        not a WSD trunk (see :attr:`trunks`)."""
        r = self.runs
        if r.empty or "status" not in r.columns:
            return r.iloc[0:0]
        loss = pd.to_numeric(r["final_val_loss"], errors="coerce")
        ok = (r["status"] == "done") & np.isfinite(loss) & (loss > 0) & ~self.trunks
        return r[ok].sort_values(["N", "D"]).reset_index(drop=True)


@dataclass
class Analysis:
    """Fits, frontiers and plan derived from a :class:`SweepData` (None where not possible)."""

    law: Any = None                 # laws.LawFit (chinchilla) with bootstrap CIs
    frontier: Any = None            # laws.frontier.Frontier (closed form from the law)
    isoflop: Any = None             # laws.frontier.Frontier (approach 2), when the grid allows
    tts: Any = None                 # laws.tts.TTSFrontier
    tts_task: str | None = None
    plan: Any = None                # whatever laws.plan returns, normalised to a DataFrame
    plan_notes: list = field(default_factory=list)
    live: list = field(default_factory=list)    # rows of fits/chinchilla_history.json (live refits)
    notes: dict = field(default_factory=dict)   # section -> list of plain-language notes

    def note(self, section: str, text: str) -> None:
        """Record a note for ``section`` (shown in the report)."""
        self.notes.setdefault(section, []).append(text)


def _read_parquet(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def load_sweep(sweep_dir: str | os.PathLike) -> SweepData:
    """Read ``spec.yaml`` and the Parquet tables of ``sweep_dir``; missing files → empty."""
    import yaml

    p = Path(sweep_dir)
    if not p.is_dir():
        raise ReportError(f"sweep directory {str(p)!r} does not exist")
    spec = {}
    if (p / "spec.yaml").exists():
        spec = yaml.safe_load((p / "spec.yaml").read_text()) or {}
    runs = _read_parquet(p / "runs.parquet")
    if runs.empty and not (p / "tts.parquet").exists():
        raise ReportError(f"sweep directory {str(p)!r} has neither runs.parquet nor tts.parquet")
    return SweepData(p, spec, runs, _read_parquet(p / "metrics.parquet"),
                     _read_parquet(p / "tts.parquet"))


class ReportError(ValueError):
    """Bad input to the report (missing directory or tables): one line, exit code 2."""

    exit_code = 2


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (temp file in the same folder + os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=1, default=_json_default)
    os.replace(tmp, path)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, pd.DataFrame):
        return o.to_dict(orient="list")
    return str(o)


def law_data(data: SweepData) -> pd.DataFrame:
    """The points the training law is fitted to: one per done run, ``N, D, loss`` (+ ids)."""
    d = data.done
    cols = [c for c in ("run_id", "N", "D", "C", "final_val_loss") if c in d.columns]
    return d[cols].rename(columns={"final_val_loss": "loss"}).astype({"N": float, "D": float})


def fit_law(data: SweepData, an: Analysis, bootstrap: int, seed: int) -> None:
    """Fit ``chinchilla`` with bootstrap CIs on the done runs; write ``fits/report-law.json``."""
    pts = law_data(data)
    n_trunks = int(data.trunks.sum())
    if n_trunks:
        an.note("law", f"{n_trunks} WSD trunk run(s) (constant LR, no cooldown) are not used for the "
                       "fit; their cooled-down branches are.")
    if pts.empty:
        an.note("law", "No run has finished with a finite validation loss, so no law was fitted.")
        return
    try:
        an.law = laws.fit("chinchilla", pts[["N", "D", "loss"]], bootstrap=bootstrap, seed=seed)
    except Exception as exc:  # noqa: BLE001 - a failed fit is reported, not raised
        an.note("law", f"The chinchilla law could not be fitted to {len(pts)} runs: {exc}")
        return
    d = an.law.to_dict()
    d["data_range"] = {c: [float(pts[c].min()), float(pts[c].max())] for c in ("N", "D")}
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
    """Closed-form N*(C), D*(C) from the law (CIs from its replicates) and IsoFLOP when possible."""
    if an.law is None:
        an.note("frontier", "No training law, so no compute-optimal frontier.")
        return
    pts = law_data(data)
    c = FLOPS_PER_TOKEN * pts["N"] * pts["D"]
    rng = (float(c.min()), float(c.max()))
    an.frontier = laws.frontier_closed_form(an.law, flops_per_token=FLOPS_PER_TOKEN, flops_range=rng)
    out = {"closed_form": an.frontier.to_dict()}
    try:
        an.isoflop = laws.frontier_isoflop(pts[["N", "D", "loss"]], flops_per_token=FLOPS_PER_TOKEN,
                                           bootstrap=bootstrap, seed=seed)
        out["isoflop"] = an.isoflop.to_dict()
    except Exception as exc:  # noqa: BLE001
        an.note("frontier", f"IsoFLOP parabolas (approach 2) were not possible: {exc}")
    write_json(data.path / "fits" / "report-frontier.json", out)


def method_label(rows: pd.DataFrame, sequential: bool = True) -> pd.Series:
    """Label of a test-time configuration: ``method[reward_model]``, plus ``@<max_tokens> tok``
    for rows of a *sequential* budget (so n and max-token budgets never share a group)."""
    label = rows["method"].astype(str)
    if "reward_model" in rows.columns:
        rm = rows["reward_model"].fillna("").astype(str)
        label = label.where(rm == "", label + "[" + rm + "]")
    if sequential and "budget_axis" in rows.columns and "max_tokens" in rows.columns:
        seq = rows["budget_axis"].astype(str) == "sequential"
        label = label.where(~seq, label + " @" + rows["max_tokens"].astype("Int64").astype(str) + " tok")
    return label


def aggregate_tts(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (model_id, method label, budget): accuracy = mean(correct), flops = mean(
    policy_flops + reward_flops) per problem, problem count, and the budget axis / max tokens."""
    t = rows.copy()
    t["series"] = method_label(t, sequential=False)
    t["method"] = method_label(t)
    t["budget_axis"] = t["budget_axis"].astype(str) if "budget_axis" in t.columns else "parallel"
    if "max_tokens" not in t.columns:
        t["max_tokens"] = np.nan
    if "reward_flops" not in t.columns:
        t["reward_flops"] = 0.0
    t["flops"] = t["policy_flops"].astype(float) + t["reward_flops"].astype(float)
    t["correct"] = t["correct"].astype(float)
    agg = dict(N=("N", "mean"), accuracy=("correct", "mean"), flops=("flops", "mean"),
               policy_flops=("policy_flops", "mean"), reward_flops=("reward_flops", "mean"),
               n_problems=("correct", "size"), budget_axis=("budget_axis", "first"), max_tokens=("max_tokens", "first"),
               series=("series", "first"))
    out = t.groupby(["model_id", "method", "budget"], as_index=False, sort=True).agg(**agg)
    return out.sort_values(["method", "flops"]).reset_index(drop=True)


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
        an.tts = laws.tts_frontier(aggregate_tts(t), forms=(), seed=seed)
    except Exception as exc:  # noqa: BLE001
        an.note("tts", f"The test-time frontier could not be computed: {exc}")
        return
    an.notes.setdefault("tts", []).extend(an.tts.notes)
    write_json(data.path / "fits" / "report-tts.json", an.tts.to_dict())


def make_plan(data: SweepData, an: Analysis, queries: float, target: float | None) -> None:
    """Joint training + inference plan via ``laws.plan`` (when laws provides it)."""
    from orchestrator.report_plan import run_plan

    run_plan(data, an, queries, target)


def analyse(data: SweepData, *, bootstrap: int = 200, seed: int = 0,
            queries: float = 1e6, target: float | None = None) -> Analysis:
    """Run every analysis step; each one that fails leaves a note instead of raising."""
    an = Analysis()
    an.live = live_history(data)
    fit_law(data, an, bootstrap, seed)
    fit_frontiers(data, an, bootstrap, seed)
    fit_tts(data, an, bootstrap, seed)
    make_plan(data, an, queries, target)
    return an
