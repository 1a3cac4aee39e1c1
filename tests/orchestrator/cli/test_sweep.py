"""`scalelab sweep ...`: bad specs exit 2 with one line before Ray starts; status/runs output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from orchestrator.cli import main
from orchestrator.runs.ledger import Ledger
from orchestrator.spec.run import RunSpec

REPO = Path(__file__).resolve().parents[3]


def _cfg(**kw):
    base = dict(sweep="s", width=32, depth=1, head_dim=32, vocab_size=20, seq_len=64,
                data={"source": "arith"}, lr=3e-3, batch_tokens=2048, tokens=8192)
    base.update(kw)
    return RunSpec(**base)


def _quickstart_with(tmp_path, **changes) -> Path:
    """examples/quickstart.yaml with top-level sections updated (a real edit, checked)."""
    spec = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    for key, value in changes.items():
        spec[key] = {**spec[key], **value} if isinstance(value, dict) else value
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _sweep_cli(spec: Path, store: Path, ray_address: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_ADDRESS": ray_address}
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", "run", str(spec),
                           "--storage", str(store)], capture_output=True, text=True,
                          env=env, timeout=120, cwd=REPO)


def test_bad_spec_one_line_exit_2_without_ray(tmp_path):
    spec = _quickstart_with(tmp_path, lr={"values": [0.003, -0.1]})
    # an address where nothing listens: the spec error must come before any attempt to connect
    proc = _sweep_cli(spec, tmp_path / "store", "127.0.0.1:1")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "spec.lr.values[1]: must be > 0, got -0.1" in lines[0]
    assert not (tmp_path / "store").exists()


def test_unreachable_ray_address_fails_fast_with_one_line(tmp_path):
    spec = _quickstart_with(tmp_path)
    proc = _sweep_cli(spec, tmp_path / "store", "127.0.0.1:1")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "RAY_ADDRESS=127.0.0.1:1: no Ray head answers" in lines[0]


def test_missing_spec_file(tmp_path, capsys):
    assert main(["sweep", "run", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read spec file" in capsys.readouterr().err


def _sweep_dir(tmp_path):
    led = Ledger(tmp_path / "s")
    a, b = _cfg(seed=0), _cfg(seed=1)
    led.add_pending([a, b])
    led.record(a, "done", final_val_loss=1.234, D=8192)
    led.record(b, "diverged", reason="loss is nan at step 3")
    return tmp_path / "s", a, b


def test_status_table(tmp_path, capsys):
    d, a, b = _sweep_dir(tmp_path)
    assert main(["sweep", "status", str(d)]) == 0
    out = capsys.readouterr().out
    assert a.run_id in out and b.run_id in out and "diverged" in out and "1.2340" in out


def test_runs_csv_and_json(tmp_path, capsys):
    d, a, b = _sweep_dir(tmp_path)
    assert main(["sweep", "runs", str(d), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["run_id"]: r["status"] for r in rows} == {a.run_id: "done", b.run_id: "diverged"}
    assert main(["sweep", "runs", str(d), "--format", "csv"]) == 0
    import io
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(df.run_id) == {a.run_id, b.run_id} and "final_val_loss" in df.columns


def test_status_of_non_sweep_dir(tmp_path, capsys):
    assert main(["sweep", "status", str(tmp_path)]) == 2
    assert "not a sweep directory" in capsys.readouterr().err
