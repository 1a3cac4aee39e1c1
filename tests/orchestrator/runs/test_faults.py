"""Faults on the real parts: one trial's worker process is SIGKILLed mid-run (not the driver);
Tune retries the trial (``FailureConfig(max_failures)``), the trainer resumes from the run's
last checkpoint (its ``starts.jsonl`` says from which step), and the sweep completes with
every logged step row exactly once."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from orchestrator import Sweep, SweepSpec
from orchestrator.runs.store import read_metrics
from orchestrator.train.loop import load_state

pytestmark = pytest.mark.slow

SPEC = {
    "name": "faults", "model": {"shapes": [[32, 1]], "head_dim": 32, "seq_len": 32},
    "tokens": {"D": [131072]}, "lr": {"values": [0.003]}, "batch_tokens": [1024],
    "schedule": {"kind": "cosine"}, "max_concurrent": 1, "max_failures": 2,
    "data": {"source": "arith", "options": {"level": 1, "pool_docs": 2000, "val_docs": 50}},
    "train": {"eval_every": 16, "eval_tokens": 1024, "log_every": 4},
}


def test_killed_trial_worker_is_retried_from_its_checkpoint(ray_local, tmp_path):
    spec = SweepSpec.from_dict({**SPEC, "storage": str(tmp_path)})
    ckpts = tmp_path / "faults" / "checkpoints"
    killed: dict = {}

    def killer() -> None:
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            for run in (ckpts.iterdir() if ckpts.exists() else []):
                state, log = run / "resume" / "state.pt", run / "starts.log"
                if state.exists() and log.exists():
                    time.sleep(0.2)                      # let the atomic write settle
                    step = load_state(state)["step"]
                    pid = int(log.read_text().split("pid=")[1].split()[0])
                    os.kill(pid, signal.SIGKILL)         # the trial's Ray worker, not the driver
                    killed.update(run=run.name, pid=pid, step=step)
                    return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    result = Sweep(spec, live_fit=False, progress=False).run()
    t.join(5)
    assert killed, "no checkpoint appeared to kill the worker at"
    runs = result.runs.set_index("run_id")
    run_id = killed["run"]
    assert runs.loc[run_id, "status"] == "done", runs.loc[run_id, "reason"]
    total = 131072 // 1024
    assert 0 < killed["step"] < total - 1
    pids = [ln.split("pid=")[1] for ln in (ckpts / run_id / "starts.log").read_text().splitlines()]
    assert len(pids) == 2 and int(pids[0]) == killed["pid"] and int(pids[1]) != killed["pid"]
    starts = [json.loads(ln) for ln in (ckpts / run_id / "starts.jsonl").read_text().splitlines()]
    assert [s["from"] for s in starts] == ["scratch", "resume"]
    # the retry started after the last checkpoint the killed worker wrote (it may have written
    # one more between our read and the kill, never fewer)
    assert starts[1]["start_step"] >= killed["step"] + 1
    state_step = starts[1]["start_step"] - 1
    m = read_metrics(result.sweep_dir)
    got = m[m.run_id == run_id].step
    want = {1, total} | set(range(4, total + 1, 4)) | set(range(16, total + 1, 16)) | {state_step + 2}
    assert set(got) == want and len(got) == len(want)
