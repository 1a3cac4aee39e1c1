"""`scalelab fit` end to end: a subprocess on a CSV written from known parameters."""
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
    # single-threaded BLAS: tiny L-BFGS-B problems are far slower with threaded OpenBLAS
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", "fit", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for N in np.logspace(6.5, 9, 6):
        for D in np.logspace(8.5, 11, 6):
            L = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
            rows.append({"Model Size": N, "Tokens": D, "Final loss": L * np.exp(rng.normal(0, 0.001)),
                         "note": "x"})
    path = tmp_path_factory.mktemp("cli") / "ladder.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_fit_prints_table_and_writes_json_and_plot(csv, tmp_path):
    out, png = tmp_path / "fit.json", tmp_path / "fit.png"
    r = scalelab("chinchilla", str(csv), "--col", "N=Model Size", "--col", "D=Tokens",
                 "--col", "loss=Final loss", "--bootstrap", "40", "--seed", "1",
                 "--json", str(out), "--plot", str(png))
    assert r.returncode == 0, r.stderr
    for name in ("E", "A", "B", "alpha", "beta", "95% CI low"):
        assert name in r.stdout
    d = json.loads(out.read_text())
    assert d["form"] == "chinchilla" and d["n_points"] == 36 and d["n_boot"] == 40
    for k in ("E", "alpha", "beta"):
        assert d["params"][k] == pytest.approx(TRUE[k], rel=0.05)
        lo, hi = d["ci"][k]
        assert lo <= d["params"][k] <= hi
    assert png.read_bytes()[:4] == b"\x89PNG"
    # an L(N, D) law is audited: 6 sizes x 6 budgets at 0.1 % noise on a chinchilla truth
    assert "verdict: sound" in r.stdout and "backtest error" in r.stdout


def test_fit_of_a_law_that_is_not_L_of_N_D_says_it_was_not_audited(tmp_path):
    x = np.geomspace(1, 1e3, 12)
    path = tmp_path / "pl.csv"
    pd.DataFrame({"x": x, "y": 0.5 + 3 * x ** -0.4}).to_csv(path, index=False)
    r = scalelab("power_law", str(path))
    assert r.returncode == 0, r.stderr
    assert "verdict: not audited" in r.stdout
    quiet = scalelab("chinchilla", str(tmp_path / "none.csv"), "--no-audit")
    assert quiet.returncode == 2 and "no such file" in quiet.stderr


def test_bad_input_is_one_line_exit_2(csv, tmp_path, capsys):
    r = scalelab("chinchilla", str(csv))  # no --col mapping: a real process, exit status 2
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing column" in lines[0]
    from orchestrator.cli import main

    bad = tmp_path / "bad.txt"
    bad.write_text("x")
    cases = [
        (("nosuchform", str(csv)), "unknown law form"),
        (("chinchilla", str(tmp_path / "none.csv")), "no such file"),
        (("chinchilla", str(csv), "--col", "N=Size"), "column 'Size' not in"),
        (("chinchilla", str(csv), "--col", "N"), "expected NAME=VALUE"),
        (("power_law", str(bad)), "unsupported type"),
        (("power_law", str(csv), "--col", "x=Model Size", "--col", "y=note"), "'y'"),
    ]
    for args, msg in cases:  # the same dispatcher in-process (saves a Python start per case)
        assert main(["fit", *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], (args, err)


def test_cli_fit_module_imports_no_torch_or_ray():
    code = ("import sys, orchestrator.cli.fit, laws, pandas, rich; "
            "bad = [m for m in ('torch', 'ray', 'vllm', 'transformers') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
