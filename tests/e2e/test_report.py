"""report.html from a synthetic sweep directory (DESIGN.md schemas): sections, embedded images,
and every table number checked against values computed here from the stored rows."""
from __future__ import annotations

import base64
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import laws
from orchestrator.report import ReportError, build_report

SECTIONS = ["what-was-run", "loss-curves", "law", "frontier", "tts", "plan", "extrapolation"]


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
        "loss_curves.png", "law_fit.png", "frontier.png", "tts.png"}
    assert (synth_sweep / "fits" / "report-law.json").exists()


def test_run_tables_match_runs_parquet(synth_sweep, report_reader):
    rep = report_reader(_build(synth_sweep))
    runs = pd.read_parquet(synth_sweep / "runs.parquet")
    counts = {r["status"]["text"]: _v(r["runs"]) for r in rep.tables["status-counts"]["rows"]}
    assert counts["total"] == len(runs) == 14
    for status, n in runs["status"].value_counts().items():
        assert counts[status] == n
    rows = {r["run_id"]["text"]: r for r in rep.tables["runs"]["rows"]}
    assert set(rows) == set(runs["run_id"])
    for r in runs.itertuples():
        got = rows[r.run_id]
        assert _v(got["N"]) == r.N and _v(got["D"]) == r.D
        assert got["status"]["text"] == r.status
        assert _close(_v(got["final_val_loss"]), float(r.final_val_loss))
    # law predictions in the runs table: recomputed from the stored fit's parameters
    p = json.loads((synth_sweep / "fits" / "report-law.json").read_text())["params"]
    for r in runs[runs.status == "done"].itertuples():
        pred = p["E"] + p["A"] / r.N ** p["alpha"] + p["B"] / r.D ** p["beta"]
        assert _close(_v(rows[r.run_id]["predicted_loss"]), pred, rel=1e-7)


def test_law_table_matches_an_independent_fit(synth_sweep, report_reader):
    rep = report_reader(_build(synth_sweep))
    runs = pd.read_parquet(synth_sweep / "runs.parquet")
    done = runs[runs.status == "done"]
    ref = laws.fit("chinchilla", pd.DataFrame({"N": done.N.astype(float), "D": done.D.astype(float),
                                                "loss": done.final_val_loss}), bootstrap=100, seed=0)
    table = {r["parameter"]["text"]: r for r in rep.tables["law-params"]["rows"]}
    assert set(table) == {"E", "A", "B", "alpha", "beta"}
    for k, v in ref.params.items():
        assert _close(_v(table[k]["estimate"]), v, rel=1e-6)
        assert _close(_v(table[k]["ci_lo"]), ref.ci[k][0], rel=1e-6)
        assert _close(_v(table[k]["ci_hi"]), ref.ci[k][1], rel=1e-6)
    rng = {r["quantity"]["text"]: r for r in rep.tables["law-range"]["rows"]}
    assert _v(rng["N"]["min"]) == done.N.min() and _v(rng["D"]["max"]) == done.D.max()


def test_frontier_table_matches_closed_form(synth_sweep, report_reader):
    rep = report_reader(_build(synth_sweep))
    p = json.loads((synth_sweep / "fits" / "report-law.json").read_text())["params"]
    a = p["beta"] / (p["alpha"] + p["beta"])
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    rows = rep.tables["frontier"]["rows"]
    assert len(rows) == 5
    runs = pd.read_parquet(synth_sweep / "runs.parquet")
    done = runs[runs.status == "done"]
    assert _close(_v(rows[1]["C"]), float((6 * done.N * done.D).max()))
    for r in rows:
        C = _v(r["C"])
        assert _close(_v(r["N"]), G * (C / 6) ** a, rel=1e-6)
        assert _close(_v(r["N"]) * _v(r["D"]) * 6, C, rel=1e-6)
        assert _v(r["N_lo"]) <= _v(r["N"]) * 1.0001 or _v(r["N_lo"]) <= _v(r["N_hi"])
    exps = {r["quantity"]["text"]: r for r in rep.tables["frontier-exponents"]["rows"]}
    assert _close(_v(exps["a (N* ∝ C^a)"]["estimate"]), a, rel=1e-6)


def test_tts_and_plan_tables_match_rows(synth_sweep, report_reader):
    rep = report_reader(_build(synth_sweep))
    t = pd.read_parquet(synth_sweep / "tts.parquet")
    t["label"] = np.where(t.reward_model != "", t.method + "[" + t.reward_model + "]", t.method)
    t["fl"] = t.policy_flops + t.reward_flops
    g = t.groupby(["model_id", "label", "budget"])
    acc, fl, cnt = g["correct"].mean(), g["fl"].mean(), g.size()
    rows = rep.tables["tts"]["rows"]
    assert len(rows) == len(acc) == 4 * 3 * 4
    for r in rows:
        key = (r["model_id"]["text"], r["method"]["text"], int(_v(r["budget"])))
        assert _close(_v(r["accuracy"]), float(acc[key]))
        assert _close(_v(r["flops"]), float(fl[key]), rel=1e-9)
        assert _v(r["n_problems"]) == cnt[key] == 12
    # frontier rows are measured rows, accuracy rising with FLOPs
    fr = [(_v(r["flops"]), _v(r["accuracy"])) for r in rep.tables["tts-frontier"]["rows"]]
    assert fr == sorted(fr) and all(b[1] > a[1] for a, b in zip(fr, fr[1:]))
    # plan table == stored plan; its target = the best measured accuracy
    stored = json.loads((synth_sweep / "fits" / "report-plan.json").read_text())
    assert stored["target_accuracy"] == pytest.approx(float(acc.max()))
    plan_rows = rep.tables["plan"]["rows"]
    assert len(plan_rows) == len(stored["table"]) > 0
    for got, want in zip(plan_rows, stored["table"]):
        for k in ("N", "D", "loss", "accuracy", "total_flops"):
            assert _close(_v(got[k]), float(want[k]))
        assert got["method"]["text"] == want["method"]
        assert _v(got["accuracy"]) >= stored["target_accuracy"]


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
