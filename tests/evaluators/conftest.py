"""Session fixture for evaluator tests: ONE shared vLLM engine on ``policy_dir`` (tests/conftest.py).

``vllm_engine`` is a
``VLLMActorEngine`` (vLLM owned by a Ray actor) on it, shared by every evaluator test of the
session — starting vLLM costs ~25–40 s and the first logprobs request compiles for up to 60 s.
"""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def vllm_engine(ray_local, policy_dir):
    """ONE vLLM engine (in a Ray actor) on the policy, shared by the whole test session."""
    from evaluators.engines import make_engine

    engine = make_engine("vllm", model=str(policy_dir), actor=True,
                         model_id="arith-policy")
    yield engine
    engine.shutdown()
