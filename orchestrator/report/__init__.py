"""``report.html``: one self-contained page that explains a sweep to someone who never saw it.

    from orchestrator.report import build_report
    path = build_report("scalelab_runs/quickstart")      # -> .../quickstart/report.html

Its first section is the answer for a target training compute (N*, D*, loss, accuracy, with
intervals), the audit's verdict with its reasons and the runs to make next (from
``fits/report-audit.json``).  It reads the stored rows through
:class:`~orchestrator.runs.sweepdir.SweepDir`, audits the training law (:func:`laws.audit`:
every form backtested, one chosen), the compute-optimal frontier and the test-time frontier
(:mod:`orchestrator.report.analysis`), the schedule laws on each WSD trunk and its branches
(:mod:`orchestrator.report.schedules`) and the joint plan (:mod:`orchestrator.report.plan`),
draws the figures with :mod:`laws.plots` (:mod:`orchestrator.report.figures`, also saved as
``figures/*.png``), writes the fits to ``fits/report-*.json`` and assembles the sections
(:mod:`orchestrator.report.sections`). A section without data says so instead of failing.
Images are base64-embedded, CSS is inline.
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path

from laws.atomic import atomic_write
from orchestrator.errors import ReportError
from orchestrator.report import analysis as A
from orchestrator.report.analysis import Analysis, SweepData, load_sweep

__all__ = ["analyse", "build_report", "make_report", "ReportResult", "ReportError", "SECTION_IDS"]

SECTION_IDS = ("answer", "what-was-run", "loss-curves", "schedules", "law", "frontier", "tts", "plan", "extrapolation")


def analyse(data: SweepData, *, bootstrap: int = 200, seed: int = 0,
            queries: float = 1e6, target: float | None = None, target_C: float | None = None) -> Analysis:
    """Run every analysis step; each one that fails leaves a note instead of raising.
    ``target_C``: training FLOPs of the answer (default: 10× the largest run's exact FLOPs)."""
    from orchestrator.report.plan import run_plan
    from orchestrator.report.schedules import fit_schedules

    an = Analysis()
    an.live = A.live_history(data)
    A.fit_law(data, an, bootstrap, seed, target_C)
    A.fit_frontiers(data, an, bootstrap, seed)
    A.fit_tts(data, an, bootstrap, seed)
    fit_schedules(data, an)
    run_plan(data, an, queries, target)
    return an


def render_figures(data: SweepData, an: Analysis) -> dict[str, bytes | None]:
    """Draw every figure, save it as ``figures/<name>.png``, return name -> PNG bytes (or None)."""
    import matplotlib.pyplot as plt

    from orchestrator.report.figures import FIGURES
    from orchestrator.report.html import png_b64

    out: dict[str, bytes | None] = {}
    figdir = data.path / "figures"
    figdir.mkdir(exist_ok=True)
    for name, draw in FIGURES.items():
        try:
            fig = draw(data, an)
        except Exception as exc:  # noqa: BLE001 - a figure that fails is reported in its section
            an.note({"loss_curves": "curves", "law_fit": "law", "backtest": "law"}.get(name, name),
                    f"Figure {name!r} could not be drawn: {type(exc).__name__}: {exc}")
            fig = None
        if fig is None:
            out[name] = None
            continue
        png = png_b64(fig)
        plt.close(fig)
        atomic_write(figdir / f"{name}.png", png)
        out[name] = png
    return out


@dataclass
class ReportResult:
    """The written report and what it was built from (for summaries)."""

    path: Path
    data: SweepData
    analysis: Analysis


def build_report(sweep_dir: str | os.PathLike, *, bootstrap: int = 200, seed: int = 0,
                 queries: float = 1e4, target_accuracy: float | None = None,
                 target_C: float | None = None) -> Path:
    """Write ``<sweep_dir>/report.html`` from the stored rows and return its path.

    ``bootstrap``: resamples for the law's CIs; ``queries``: expected number of queries for the
    joint plan; ``target_accuracy``: the plan's target (default: 90 % of the best accuracy
    measured); ``target_C``: training FLOPs of the answer on the first screen (default: 10× the
    largest run's exact FLOPs).  Raises :class:`ReportError` (exit code 2) when the directory
    has no sweep tables.
    """
    return make_report(sweep_dir, bootstrap=bootstrap, seed=seed, queries=queries,
                       target_accuracy=target_accuracy, target_C=target_C).path


def make_report(sweep_dir: str | os.PathLike, *, bootstrap: int = 200, seed: int = 0,
                queries: float = 1e4, target_accuracy: float | None = None,
                target_C: float | None = None) -> ReportResult:
    """Like :func:`build_report`, also returning the loaded rows and the analysis."""
    from orchestrator.report.html import esc, page
    from orchestrator.report.sections import SECTIONS

    data = load_sweep(sweep_dir)
    an = analyse(data, bootstrap=bootstrap, seed=seed, queries=queries, target=target_accuracy,
                 target_C=target_C)
    figs = render_figures(data, an)
    sections = [make(data, an, figs) for make in SECTIONS]
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    html = page(f"scalelab report — {data.name}",
                f"Generated {esc(stamp)} by <code>scalelab report {esc(data.path)}</code>. "
                "Every number in the tables below is read from the sweep's stored rows "
                "(runs.parquet, metrics.parquet, tts.parquet) or from the fits written beside them "
                "(fits/report-*.json).", sections)
    out = data.path / "report.html"
    atomic_write(out, html.encode())
    return ReportResult(out, data, an)
