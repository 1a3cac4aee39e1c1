"""`scalelab audit DIR|FILE`: a real subprocess on a sweep directory and on a CSV table."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[3]
TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def scalelab(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", COLUMNS="160")
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", "audit", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def _loss(N, D):
    return TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A sweep directory with the run-row schema: 2 sizes only (the law cannot be determined)."""
    d = tmp_path_factory.mktemp("audit") / "s"
    d.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i, N in enumerate((1e7, 2e7)):
        for j, D in enumerate((2e8, 4e8, 8e8)):
            rows.append(dict(sweep="s", run_id=f"r{i}{j}", parent_run_id=None, status="done", reason="",
                             N=int(N), N_total=int(N), D=int(D), C=7.2 * N * D, C_6nd=6.0 * N * D,
                             final_val_loss=float(_loss(N, D) * np.exp(rng.normal(0, 0.01))),
                             schedule="cosine"))
    rows.append(dict(rows[-1], run_id="bad", status="diverged", final_val_loss=float("nan")))
    pd.DataFrame(rows).to_parquet(d / "runs.parquet")
    return d


def test_audit_of_a_sweep_directory_prints_verdict_answer_and_next_runs(sweep, tmp_path):
    out = tmp_path / "audit.json"
    r = scalelab(str(sweep), "--bootstrap", "30", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "verdict: unidentifiable" in r.stdout and "Only 2 model size(s)" in r.stdout
    d = json.loads(out.read_text())
    assert d["verdict"] == "unidentifiable" and d["data"]["n_points"] == 6     # the diverged run is out
    assert d["answer"]["C"] == pytest.approx(10 * 7.2 * 2e7 * 8e8)              # exact FLOPs, not 6ND
    assert "answer at C = 1.152e+18" in " ".join(r.stdout.split())
    assert "next runs" in r.stdout and len(d["next_runs"]) >= 1


def test_audit_of_a_table_with_column_names(tmp_path):
    rng = np.random.default_rng(1)
    rows = [{"Model Size": N, "Tokens": D, "Final loss": _loss(N, D) * np.exp(rng.normal(0, 0.005))}
            for N in np.logspace(6.5, 9, 6) for D in np.logspace(8.5, 11, 6)]
    path = tmp_path / "t.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    r = scalelab(str(path), "--col", "N=Model Size", "--col", "D=Tokens", "--col", "loss=Final loss",
                 "--forms", "chinchilla,overtrain", "--bootstrap", "30", "--target-C", "1e21")
    assert r.returncode == 0, r.stderr
    assert "verdict: " in r.stdout and "answer at C = 1e+21" in " ".join(r.stdout.split())
    for form in ("chinchilla", "overtrain"):
        assert form in r.stdout
    assert "kaplan" not in r.stdout


def test_bad_input_is_one_line_exit_2(sweep, tmp_path, capsys):
    from orchestrator.cli import main

    cases = [
        ((str(tmp_path / "nope.csv"),), "no such file"),
        ((str(sweep), "--bootstrap", "3"), "--bootstrap"),
        ((str(sweep), "--target-C", "-1"), "--target-C"),
        ((str(sweep), "--forms", "chinchilla,nope"), "unknown law form 'nope'"),
        ((str(sweep), "--col", "N=x"), "only for a FILE"),
        ((str(sweep), "--json", str(tmp_path / "no" / "a.json")), "--json"),
    ]
    for args, msg in cases:
        assert main(["audit", *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], (args, err)
    assert not (tmp_path / "no").exists()
