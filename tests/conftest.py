"""Session-wide test setup: offline, no Ray token auth, no usage stats, small vLLM caches.

Fixtures here are shared by several test packages:
- ``ray_local``: one local Ray instance for the session (2 CPUs), shut down at the end.
- ``vllm_engine``: ONE vLLM engine (in a Ray actor) on ``policy_dir`` for the whole session —
  starting vLLM costs ~20–45 s, so evaluator tests and reference tables share it.
- ``arith_checkpoint``: a tiny Llama trained on the arith task by the real trainer (≈1 min on
  CPU), saved as an HF directory with its tokenizer; ``policy_dir`` is the policy the
  evaluator and test-time-run tests use (that checkpoint unless ``SCALELAB_TEST_POLICY_DIR``). Set ``SCALELAB_TEST_MODEL_CACHE=<dir>``
  during development to reuse one across pytest sessions (CI always trains it fresh).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# vLLM engines without torch.compile: each of the suite's ~12 short-lived engines starts 8-28 s
# sooner (evaluators/engines/vllm_engine.py); subprocesses and Ray workers inherit it.
os.environ.setdefault("SCALELAB_VLLM_EAGER", "1")
# Threaded OpenBLAS makes the small scipy problems of laws/ ~20x slower on a busy 2-core box.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# A short, private Ray temp dir: unix socket paths must stay < 108 chars, and a private dir
# keeps ray.init() from attaching to a cluster someone else started on this machine.
os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="slray-", dir="/tmp"))
# Keep the torch-inductor cache stable across sessions (vLLM's first logprobs call compiles).
os.environ.setdefault("TMPDIR", os.path.join(tempfile.gettempdir(), "scalelab-vllm-tmp"))
os.makedirs(os.environ["TMPDIR"], exist_ok=True)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray instance shared by the session's tests (4 logical CPUs, no dashboard)."""
    import ray

    if not ray.is_initialized():
        # 4 logical CPUs on a 2-core box: the session-wide vLLM actor of the evaluator tests
        # holds one, and the DDP test needs two workers at once; with only 2 the DDP trial
        # would wait for resources forever.
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"RAY_AUTH_MODE": "disabled"}})
    yield ray
    ray.shutdown()


# --- arith_checkpoint (owned by the trainer engineer) -------------------------------------
# A width-64, depth-2, head_dim-32 Llama (N≈107K) trained on arith level 2 by the real trainer.
# Cached under $SCALELAB_TEST_MODEL_CACHE/arith-<run_id>/ when that variable is set (the run id
# changes whenever this config does, so a stale cache is never reused).
# Measured: 3.28M tokens, ~50k tokens/s on one idle core (~70 s); final val loss 0.48;
# on 100 held-out level-2 problems at T=0.8: pass@1 0.41, maj@8 0.47, pass@8 0.74.
# One thread on purpose: two OpenMP threads spin badly when the machine is shared.
ARITH_FIXTURE = dict(sweep="fixture", width=64, depth=2, head_dim=32, vocab_size=22, seq_len=128,
                     data={"source": "arith", "level": 2}, lr=1e-2, batch_tokens=2048,
                     tokens=2048 * 1600, schedule="cosine", warmup_frac=0.05, min_lr_frac=0.1,
                     eval_every=400, log_every=100, seed=0, cpus=1)


@pytest.fixture(scope="session")
def arith_checkpoint(tmp_path_factory) -> Path:
    """Path of an HF directory (model + tokenizer) trained on arith level 2 (≈70 s, 1 thread)."""
    import shutil

    from orchestrator.spec.run import RunSpec
    from orchestrator.train.loop import train_run

    cfg = RunSpec(**ARITH_FIXTURE)
    cache = os.environ.get("SCALELAB_TEST_MODEL_CACHE")
    cached = Path(cache) / f"arith-{cfg.run_id}" if cache else None
    if cached is not None and (cached / "config.json").exists():
        return cached
    res = train_run(cfg, tmp_path_factory.mktemp("arith_ckpt"))
    assert res.status == "done", f"arith fixture training {res.status}: {res.reason}"
    if cached is None:
        return Path(res.checkpoint)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(res.checkpoint, tmp)
    if cached.exists():  # another session cached it meanwhile
        shutil.rmtree(tmp)
    else:
        os.replace(tmp, cached)
    return cached


@pytest.fixture(scope="session")
def policy_dir(request) -> Path:
    """The arith policy: ``$SCALELAB_TEST_POLICY_DIR`` if set, else the trained fixture."""
    if os.environ.get("SCALELAB_TEST_POLICY_DIR"):
        return Path(os.environ["SCALELAB_TEST_POLICY_DIR"])
    return Path(request.getfixturevalue("arith_checkpoint"))


@pytest.fixture(scope="session")
def vllm_engine(ray_local, policy_dir):
    """ONE vLLM engine (in a Ray actor) on the policy, shared by the whole test session."""
    from evaluators.engines import make_engine

    engine = make_engine("vllm", model=str(policy_dir), actor=True,
                         model_id="arith-policy")
    yield engine
    engine.shutdown()
