"""Real object storage: a sweep, a test-time run on that sweep's checkpoints and the report,
all against an S3-compatible server (moto's standalone server) on 127.0.0.1 started here, with
the URI form the README documents and credentials from the usual environment variables.
The CLI runs in subprocesses (each with its own local Ray and these variables); nothing of the
sweep lands on the local disk except the staging dirs below the subprocesses' HOME."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from orchestrator.cli import main
from orchestrator.runs.store import Store
from orchestrator.runs.sweepdir import SweepDir

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
CREDS = {"AWS_ACCESS_KEY_ID": "scalelab-test", "AWS_SECRET_ACCESS_KEY": "scalelab-test-secret",
         "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 with bucket ``sweeps``; yields the storage URI."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {**os.environ, **CREDS}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http"
    old = {k: os.environ.get(k) for k in CREDS}
    os.environ.update(CREDS)
    try:
        import pyarrow.fs as pafs

        fs, _ = pafs.FileSystem.from_uri(f"s3://sweeps?{query}&allow_bucket_creation=true")
        fs.create_dir("sweeps")
        yield f"s3://sweeps/team?{query}"
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _cli(args: list[str], home: Path, timeout: int) -> subprocess.CompletedProcess:
    ray_tmp = tempfile.mkdtemp(prefix="sls3-", dir="/tmp")
    env = {**os.environ, **CREDS, "HOME": str(home), "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    try:
        return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout)
    finally:
        for pid in os.listdir("/proc"):               # Ray daemons of this private RAY_TMPDIR
            if pid.isdigit():
                try:
                    if ray_tmp.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(ray_tmp, ignore_errors=True)


SWEEP = {"name": "s3sweep", "model": {"shapes": [[32, 1]], "head_dim": 32, "seq_len": 32},
         "tokens": {"D": [8192]}, "lr": {"values": [0.003]}, "batch_tokens": [1024],
         "data": {"source": "arith", "options": {"level": 1, "pool_docs": 500, "val_docs": 20}},
         "train": {"eval_every": 4, "eval_tokens": 1024, "log_every": 2}}


def test_sweep_tts_and_report_on_s3(s3, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    proc = _cli(["sweep", "run", str(spec), "--storage", s3, "--no-progress"], home, 300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep_uri = Store(s3).uri_of("s3sweep")
    sd = SweepDir(sweep_uri)
    runs = sd.runs()
    assert list(runs.status) == ["done"] and runs.checkpoint.iloc[0].startswith("checkpoints/")
    assert len(sd.metrics()) and sd.store.exists("spec.yaml") and sd.store.exists("runs.parquet")
    assert sd.store.exists("tokenizer/tokenizer.json")
    assert sd.store.exists(f"checkpoints/{runs.run_id.iloc[0]}/final/config.json")

    tts = {"name": "s3tts", "storage": s3, "models": [{"sweep": sweep_uri}],
           "task": {"name": "arith", "options": {"level": 1, "n_problems": 4}},
           "strategies": ["majority"], "budgets": {"parallel": [1, 2], "max_tokens": 24},
           "chunk_size": 2, "engine": {"name": "vllm", "cpus": 1, "options": {"max_model_len": 128}}}
    tspec = tmp_path / "tts.yaml"
    tspec.write_text(yaml.safe_dump(tts))
    proc = _cli(["tts", "run", str(tspec)], home, 500)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    rows = SweepDir(Store(s3).uri_of("s3tts")).tts()
    assert len(rows) == 2 * 4 and set(rows.model_id) == {runs.run_id.iloc[0]}
    assert not rows.duplicated(["problem_id", "budget"]).any()

    local = set(p.name for p in tmp_path.rglob("*.parquet"))
    assert not local, f"tables landed on the local disk: {local}"
    assert main(["report", sweep_uri, "--bootstrap", "0"]) == 0
    assert sd.store.exists("report.html") and b"<html" in sd.store.read_bytes("report.html")[:200].lower()
    assert sd.store.listdir("figures")
