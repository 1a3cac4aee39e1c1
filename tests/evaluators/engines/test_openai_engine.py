"""The openai engine against a real vLLM OpenAI-compatible server process started here."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from dataclasses import replace

import httpx
import pytest

from evaluators.engines import make_engine
from evaluators.errors import EvaluatorError
from evaluators.types import SamplingSpec

pytestmark = pytest.mark.slow
PROMPT = "Q: 12+7+35\n\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(policy_dir, tmp_path_factory):
    """``python -m vllm.entrypoints.openai.api_server`` on the policy; terminated afterwards."""
    port = _free_port()
    log = tmp_path_factory.mktemp("oai") / "server.log"
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(policy_dir),
           "--served-model-name", "arith", "--host", "127.0.0.1", "--port", str(port),
           "--block-size", "32", "--enable-prefix-caching"]
    if os.environ.get("SCALELAB_VLLM_EAGER") == "1":         # tests/conftest.py: faster start
        cmd.append("--enforce-eager")
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 400
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline:
                pytest.fail(f"server not healthy in time: {log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def engine(server, policy_dir):
    eng = make_engine("openai", base_url=server + "/v1", model="arith", model_dir=str(policy_dir),
                      concurrency=4)
    yield eng
    eng.shutdown()


def test_generate_text_and_token_prompts(engine):
    sp = SamplingSpec(n=3, temperature=1.0, max_tokens=12, seed=3, stop=("\n",))
    plain = engine.tokenize(PROMPT)  # without special tokens; the server may add a BOS
    out = engine.generate([PROMPT, "Q: 1+2\n\n"], sp)
    assert [len(o) for o in out] == [3, 3]
    ids = out[0][0].prompt_token_ids
    for s in out[0]:
        assert s.prompt_token_ids == ids and s.prompt_tokens == len(ids)
        assert ids[-len(plain):] == plain and len(ids) <= len(plain) + 1
        assert s.completion_tokens == len(s.token_ids) == len(s.logprobs) > 0
        assert s.cumulative_logprob == pytest.approx(sum(s.logprobs))
        assert engine.detokenize(s.token_ids) == s.text.replace("<eos>", "")
        assert s.finish_reason in ("stop", "eos", "length")
        if s.finish_reason == "stop":
            assert s.stop_reason == "\n" and s.text.endswith("\n")
    # token-id prompt with the same seed: the same samples as the text prompt (reproducible)
    by_ids = engine.generate([ids, "Q: 1+2\n\n"], sp)
    assert [s.token_ids for s in by_ids[0]] == [s.token_ids for s in out[0]]
    assert [s.token_ids for s in by_ids[1]] == [s.token_ids for s in out[1]]
    assert len({tuple(s.token_ids) for o in out for s in o}) > 1
    assert engine.n_params > 0 and engine.shape.n_layers >= 1


def test_seeds_give_each_prompt_its_own_request_seed(engine):
    sp = SamplingSpec(n=2, temperature=2.0, max_tokens=12)
    both = engine.generate([PROMPT, PROMPT], sp, seeds=[4096, 8192])
    alone = [engine.generate([PROMPT], replace(sp, seed=s))[0] for s in (4096, 8192)]
    assert [[x.token_ids for x in o] for o in both] == [[x.token_ids for x in o] for o in alone]
    assert [x.text for x in both[0]] != [x.text for x in both[1]]
    with pytest.raises(EvaluatorError, match="one integer per prompt"):
        engine.generate([PROMPT], sp, seeds=[1, 2])


def test_server_tokenize_endpoint(server, engine):
    remote = make_engine("openai", base_url=server, model="arith")
    try:
        assert remote.tokenize(PROMPT) == engine.tokenize(PROMPT)
        assert remote.detokenize(engine.tokenize(PROMPT)) == PROMPT
        assert remote.n_params == 0
    finally:
        remote.shutdown()


def test_4xx_is_one_clear_line(server):
    bad = make_engine("openai", base_url=server, model="no-such-model", max_retries=3)
    try:
        with pytest.raises(EvaluatorError) as info:
            bad.generate([PROMPT], SamplingSpec(max_tokens=4))
        msg = str(info.value)
        assert "HTTP 404" in msg and "no-such-model" in msg and "\n" not in msg
    finally:
        bad.shutdown()


def test_connection_errors_retried_then_clear():
    eng = make_engine("openai", base_url=f"http://127.0.0.1:{_free_port()}", model="x",
                      max_retries=2, backoff=0.01)
    try:
        with pytest.raises(EvaluatorError, match="failed after 3 attempts: ConnectError"):
            eng.generate([PROMPT], SamplingSpec(max_tokens=4))
    finally:
        eng.shutdown()


def test_bad_options():
    with pytest.raises(EvaluatorError, match="base_url"):
        make_engine("openai", base_url="localhost:8000", model="x")
    with pytest.raises(EvaluatorError, match="concurrency"):
        make_engine("openai", base_url="http://h", model="x", concurrency=0)
