"""report.html from a synthetic sweep directory (ARCHITECTURE.md schemas): sections, embedded images,
and every table number checked against values computed here from the stored rows."""
from __future__ import annotations

import base64
import html
import json
import math
import subprocess
import sys

import pandas as pd
import pytest

import laws
from orchestrator.report import ReportError, build_report

SECTIONS = ["answer", "what-was-run", "loss-curves", "schedules", "law", "frontier", "tts", "plan", "extrapolation"]


def _v(cell) -> float:
    return float(cell["value"])


def _close(a, b, rel=1e-9):
    if isinstance(b, float) and math.isnan(b):
        return math.isnan(a)
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


@pytest.fixture(scope="module")
def synth_sweep(tmp_path_factory, sweep_factory):
    """A synthetic sweep (runs, metrics, tts) with its report built once for the module."""
    d = sweep_factory(tmp_path_factory.mktemp("rep"))
    build_report(d, bootstrap=100, seed=0)
    return d


def _build(path):
    """The report of ``path`` (built by the fixture)."""
    return path / "report.html"


def test_sections_images_and_self_contained(synth_sweep, report_reader):
    out = _build(synth_sweep)
    assert out == synth_sweep / "report.html"
    text = out.read_text()
    rep = report_reader(out)
    assert rep.section_ids == SECTIONS
    assert len(rep.images) >= 4
    for src in rep.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing loaded from elsewhere: no external scripts, stylesheets or remote images
    for bad in ("<script", "<link", "src=\"http", "url(http"):
        assert bad not in text
    assert {p.name for p in (synth_sweep / "figures").glob("*.png")} >= {
        "loss_curves.png", "law_fit.png", "backtest.png", "frontier.png", "tts.png"}
    assert (synth_sweep / "fits" / "report-law.json").exists()
    assert (synth_sweep / "fits" / "report-audit.json").exists()


def test_every_table_number_matches_the_stored_rows(synth_sweep, report_reader, report_checks):
    rep = report_reader(_build(synth_sweep))
    checked = report_checks(synth_sweep, rep)
    audit = json.loads((synth_sweep / "fits" / "report-audit.json").read_text())
    n_params = len(audit["fits"][audit["chosen"]]["params"])
    # 12 done + 1 diverged + 1 failed runs; 4 models x 3 methods x 4 budgets of test-time rows
    assert checked == {"runs": 14, "law-params": n_params, "frontier": 5, "tts": 48,
                       "plan": checked["plan"], "answer": checked["answer"]}
    assert checked["plan"] > 0 and checked["answer"] >= 6


def test_first_section_states_the_answer_verdict_reasons_and_next_runs(synth_sweep, report_reader):
    rep = report_reader(_build(synth_sweep))
    audit = json.loads((synth_sweep / "fits" / "report-audit.json").read_text())
    text = _build(synth_sweep).read_text()
    first = text[text.index('<section id="answer">'):text.index('<section id="what-was-run">')]
    assert f"Verdict: <b>{audit['verdict']}</b>" in first
    for reason in audit["reasons"]:
        assert html.escape(reason) in first
    assert 'id="next-runs"' in first and 'id="answer"' in first
    assert rep.verdict == audit["verdict"] in ("sound", "weak", "unidentifiable")
    runs = pd.read_parquet(synth_sweep / "runs.parquet")
    done = runs[runs.status == "done"]
    assert audit["answer"]["C"] == pytest.approx(10 * done["C"].max())     # exact FLOPs, not 6ND
    assert audit["data"]["n_points"] == len(done) and audit["compute"]["exact"]
    # every proposed run lies off the ladder and costs its exact FLOPs under the stored model
    seen = set(zip(done.N.astype(float), done.D.astype(float)))
    cm = audit["compute"]
    for r in audit["next_runs"]:
        assert (r["N"], r["D"]) not in seen
        assert r["C"] == pytest.approx(cm["k"] * r["N"] * (1 + cm["rho"] * (r["N"] / cm["N0"]) ** -cm["s"]) * r["D"])


def test_law_ci_and_plan_target(synth_sweep, report_reader):
    rep = report_reader(_build(synth_sweep))
    runs = pd.read_parquet(synth_sweep / "runs.parquet")
    done = runs[runs.status == "done"]
    chosen = json.loads((synth_sweep / "fits" / "report-audit.json").read_text())["chosen"]
    ref = laws.fit(chosen, pd.DataFrame({"N": done.N.astype(float), "D": done.D.astype(float),
                                         "loss": done.final_val_loss}), bootstrap=100, seed=0)
    table = {r["parameter"]["text"]: r for r in rep.tables["law-params"]["rows"]}
    for k in ref.params:
        assert _close(_v(table[k]["ci_lo"]), ref.ci[k][0], rel=1e-6)
        assert _close(_v(table[k]["ci_hi"]), ref.ci[k][1], rel=1e-6)
    t = pd.read_parquet(synth_sweep / "tts.parquet")
    best = t.groupby(["model_id", "method", "reward_model", "budget"])["correct"].mean().max()
    stored = json.loads((synth_sweep / "fits" / "report-plan.json").read_text())
    assert stored["target_accuracy"] == pytest.approx(round(0.9 * float(best), 3))
    assert all(_v(r["accuracy"]) >= stored["target_accuracy"] - 1e-12 for r in rep.tables["plan"]["rows"])


def test_missing_tts_is_said_plainly(tmp_path, sweep_factory, report_reader):
    out = build_report(sweep_factory(tmp_path, tts=False), bootstrap=20)
    rep = report_reader(out)
    assert rep.section_ids == SECTIONS
    text = out.read_text()
    assert "no test-time rows" in text
    assert "tts" not in rep.tables and "plan" not in rep.tables
    assert "law-params" in rep.tables and "runs" in rep.tables


def test_bad_dir_is_a_one_line_error(tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        build_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="neither runs.parquet nor tts.parquet"):
        build_report(tmp_path / "empty")
    r = subprocess.run([sys.executable, "-m", "orchestrator.cli", "report", str(tmp_path / "nope")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "does not exist" in r.stderr and len(r.stderr.strip().splitlines()) == 1
