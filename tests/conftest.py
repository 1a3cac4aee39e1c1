"""Session-wide test setup: offline, no Ray token auth, no usage stats, small vLLM caches.

Fixtures here are shared by several test packages:
- ``ray_local``: one local Ray instance for the session (2 CPUs), shut down at the end.
- ``arith_checkpoint``: a tiny Llama trained on the arith task by the real trainer (≈1 min on
  CPU), saved as an HF directory with its tokenizer. Set ``SCALELAB_TEST_MODEL_CACHE=<dir>``
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
# A short, private Ray temp dir: unix socket paths must stay < 108 chars, and a private dir
# keeps ray.init() from attaching to a cluster someone else started on this machine.
os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="slray-", dir="/tmp"))

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray instance shared by the session's tests (2 CPUs, no dashboard)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"RAY_AUTH_MODE": "disabled"}})
    yield ray
    ray.shutdown()
