"""Resume after SIGKILL: the CLI driver (and its local Ray) is killed once the short run is
``done`` and the long one has a checkpoint; re-running the same command never retrains the done
run, continues the unfinished one FROM ITS LAST CHECKPOINT STEP (recorded by the trainer in
``starts.jsonl`` and compared with the step stored in ``resume/state.pt`` at the kill), and
leaves ``metrics.parquet`` with every logged (run_id, step) row exactly once."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from orchestrator.runs.ledger import read_runs
from orchestrator.train.loop import load_state

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]

SPEC = {
    "name": "resume",
    "model": {"shapes": [[32, 1]], "head_dim": 32, "seq_len": 32},
    "tokens": {"D": [32768, 262144]},        # side by side: the short one ends, the long one is cut
    "lr": {"values": [0.003]},
    "batch_tokens": [1024],
    "schedule": {"kind": "cosine"},
    "data": {"source": "arith", "options": {"level": 1, "pool_docs": 2000, "val_docs": 50}},
    "max_concurrent": 2,
    "train": {"eval_every": 16, "eval_tokens": 1024, "log_every": 2},
}


def _kill_leftovers(marker: str) -> None:
    """SIGKILL processes (Ray's own daemons) whose command line names our private RAY_TMPDIR."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


def _run(cmd, env):
    return subprocess.Popen(cmd, env=env, cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkill_then_resume(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    ray_tmp = tempfile.mkdtemp(prefix="slres-", dir="/tmp")
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "RAY_AUTH_MODE": "disabled",
           "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "orchestrator.cli", "sweep", "run", str(spec),
           "--storage", str(tmp_path / "store")]
    sweep = tmp_path / "store" / "resume"
    try:
        proc = _run(cmd, env)
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            runs = read_runs(sweep) if (sweep / "runs").exists() else pd.DataFrame()
            if len(runs) and (runs.status == "done").sum() == 1:
                other = runs.run_id[runs.status != "done"].iloc[0]
                if (sweep / "checkpoints" / other / "resume" / "state.pt").exists():
                    break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        _kill_leftovers(ray_tmp)
        before = read_runs(sweep).set_index("run_id")
        done_first = list(before.index[before.status == "done"])
        assert len(done_first) == 1 and (before.status != "done").sum() == 1
        cut = before.index[before.status != "done"][0]
        saved = load_state(sweep / "checkpoints" / cut / "resume" / "state.pt")["step"]
        total = int(json.loads(before.loc[cut, "config_json"])["tokens"]) // 1024
        assert 0 < saved < total - 1, (saved, total)      # cut mid-way, after a checkpoint
        rows_before = pd.read_parquet(sorted((sweep / "metrics").glob("*.parquet")))

        proc = _run(cmd, env)
        out, _ = proc.communicate(timeout=400)
        assert proc.returncode == 0, out[-3000:]
    finally:
        _kill_leftovers(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    after = read_runs(sweep).set_index("run_id")
    assert set(after.status) == {"done"} and len(after) == 2
    ckpts = sweep / "checkpoints"
    for run_id in done_first:    # trained exactly once, in the killed session
        assert len((ckpts / run_id / "starts.log").read_text().splitlines()) == 1
    m = pd.read_parquet(sweep / "metrics.parquet")
    assert not m.duplicated(["run_id", "step"]).any()
    # every step row written before the kill is still there
    old = set(zip(rows_before.run_id, rows_before.step))
    assert old <= set(zip(m.run_id, m.step))
    # the interrupted run continued from its checkpoint, not from step 0 ...
    starts = [json.loads(ln) for ln in (ckpts / cut / "starts.jsonl").read_text().splitlines()]
    assert [s["from"] for s in starts] == ["scratch", "resume"], starts
    assert starts[0]["start_step"] == 0 and starts[1]["start_step"] == saved + 1
    assert len((ckpts / cut / "starts.log").read_text().splitlines()) == 2
    # ... and every logged step of every run is there exactly once (none lost, none doubled)
    for run_id in after.index:
        n = int(after.loc[run_id, "steps"])
        want = {1, n} | set(range(2, n + 1, 2)) | set(range(16, n + 1, 16))
        if run_id == cut:
            want.add(saved + 2)            # the first step after the resume is reported too
        got = m[m.run_id == run_id].step
        assert set(got) == want and len(got) == len(want), run_id
    assert after.loc[cut, "steps"] == total
