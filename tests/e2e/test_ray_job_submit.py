"""`ray job submit` against a real Ray head: the documented command runs a sweep unchanged.

The test starts its own head (private RAY_TMPDIR, free dashboard port), submits
``scalelab sweep run examples/ray_job_tiny.yaml`` with ``--working-dir <repo>`` and the
runtime env of ``deploy/runtime_env.yaml``, waits for SUCCEEDED, checks the outputs and always
stops the head it started. It does NOT use ``ray stop``: that command kills every Ray process
on the machine by name (other sessions' clusters included); the test ends only the processes
that belong to its own head (its temp dir in their command line or RAY_TMPDIR in their env).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = "examples/ray_job_tiny.yaml"
RUNTIME_ENV = REPO / "deploy" / "runtime_env.yaml"
EXCLUDES = [".git", ".venv", "scalelab_runs", "runs", "bench/results", "__pycache__",
            "*.egg-info", ".pytest_cache", "checkpoints/", "*.parquet", "*.safetensors"]
TIMEOUT_S = 240   # generous: a busy shared CI box; the job itself takes ~30-60 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ours(proc: psutil.Process, tmpdir: str) -> bool:
    """A process of the head this test started: its temp dir in the command line or env."""
    try:
        if any(tmpdir in a for a in proc.cmdline()):
            return True
        return proc.environ().get("RAY_TMPDIR") == tmpdir
    except (psutil.Error, OSError):
        return False


def stop_head(tmpdir: str, grace_s: float = 10.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process of our head (found by pid, never by name)."""
    me = os.getpid()
    procs = [p for p in psutil.process_iter() if p.pid != me and _ours(p, tmpdir)]
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in procs]


@pytest.fixture
def ray_head():
    """A real Ray head (dashboard on 127.0.0.1:<free port>) in a private temp dir."""
    tmpdir = tempfile.mkdtemp(prefix="rj-", dir="/tmp")   # short: unix socket paths < 108 chars
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", RAY_TMPDIR=tmpdir,
               HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               # the job's entrypoint runs with the head's PATH: put this venv's scripts first
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    ray = str(Path(sys.executable).parent / "ray")
    try:
        subprocess.run([ray, "start", "--head", "--dashboard-host", "127.0.0.1", "--port", "0",
                        "--num-cpus", "2", "--include-dashboard=true", "--dashboard-port", str(port),
                        "--temp-dir", tmpdir, "--disable-usage-stats"],
                       env=env, check=True, capture_output=True, text=True, timeout=90)
        yield {"address": f"http://127.0.0.1:{port}", "env": env, "ray": ray, "tmpdir": tmpdir}
    finally:
        stop_head(tmpdir)
        shutil.rmtree(tmpdir, ignore_errors=True)


def _client(address: str, deadline: float):
    """A job client once the dashboard's job API answers."""
    from ray.job_submission import JobSubmissionClient

    while True:
        try:
            return JobSubmissionClient(address)
        except Exception:  # noqa: BLE001 - not up yet
            if time.time() > deadline:
                raise
            time.sleep(1)


@pytest.mark.slow
def test_ray_job_submit_runs_a_sweep(ray_head, tmp_path):
    address, env, ray = ray_head["address"], ray_head["env"], ray_head["ray"]
    deadline = time.time() + TIMEOUT_S
    client = _client(address, deadline)
    storage = tmp_path / "sweeps"
    job_id = f"scalelab-test-{uuid.uuid4().hex[:8]}"
    runtime = ["--runtime-env", str(RUNTIME_ENV)] if RUNTIME_ENV.is_file() else \
        ["--runtime-env-json", json.dumps({"excludes": EXCLUDES})]
    cmd = [ray, "job", "submit", "--address", address, "--submission-id", job_id,
           "--working-dir", str(REPO), *runtime, "--no-wait", "--",
           "scalelab", "sweep", "run", SPEC, "--storage", str(storage)]
    while True:   # right after `ray start` the head's job agent may not be registered yet
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
        if r.returncode == 0 or "No available agent" not in r.stderr or time.time() > deadline:
            break
        time.sleep(2)
    assert r.returncode == 0, r.stdout + r.stderr
    status = "PENDING"
    while time.time() < deadline and status not in ("SUCCEEDED", "FAILED", "STOPPED"):
        time.sleep(2)
        status = str(client.get_job_status(job_id).value)
    if status != "SUCCEEDED":
        subprocess.run([ray, "job", "stop", "--address", address, job_id], env=env,
                       capture_output=True, timeout=30)
        logs = subprocess.run([ray, "job", "logs", "--address", address, job_id], env=env,
                              capture_output=True, text=True, timeout=30).stdout
        pytest.fail(f"job {job_id} ended {status}; last log lines:\n" + "\n".join(logs.splitlines()[-30:]))
    sweep = storage / "ray-job-tiny"
    runs = pd.read_parquet(sweep / "runs.parquet")
    assert len(runs) == 2 and set(runs["status"]) == {"done"}
    assert sorted(runs["N"]) == sorted(set(runs["N"]))          # two different sizes
    for ck in runs["checkpoint"]:
        ck = Path(ck) if Path(ck).is_absolute() else sweep / ck
        assert (ck / "config.json").is_file() and (ck / "tokenizer.json").is_file()
    metrics = pd.read_parquet(sweep / "metrics.parquet")
    assert set(metrics["run_id"]) == set(runs["run_id"])
    assert not metrics.duplicated(["run_id", "step"]).any()
