"""Session fixtures for evaluator tests: the policy checkpoint and ONE shared vLLM engine.

``policy_dir`` is the trained ``arith_checkpoint`` (tests/conftest.py). ``vllm_engine`` is a
``VLLMActorEngine`` (vLLM owned by a Ray actor) on it, shared by every evaluator test of the
session — starting vLLM costs ~25–40 s and the first logprobs request compiles for up to 60 s.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Keep the torch-inductor cache stable across sessions (the first logprobs call compiles).
os.environ.setdefault("TMPDIR", os.path.join(tempfile.gettempdir(), "scalelab-vllm-tmp"))
os.makedirs(os.environ["TMPDIR"], exist_ok=True)


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
