"""Strategy bookkeeping with a deterministic fake engine: tokens, seeds, resampling, beams."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[2]))
from fake_engine import FakeArithEngine, StepOracle  # noqa: E402

from evaluators.errors import EvaluatorError  # noqa: E402
from evaluators.strategies import STRATEGIES, get_strategy  # noqa: E402
from evaluators.strategies.stepwise import effective_sample_size, resample_indices, softmax_weights  # noqa: E402
from evaluators.tasks import get_task  # noqa: E402
from evaluators.types import SamplingSpec  # noqa: E402

TASK = get_task("arith", level=2, n_problems=8, seed=3)
PROBS = TASK.problems()
SPEC = SamplingSpec(temperature=0.8, max_tokens=64)
ALL = ["sample", "majority", "best_of_n", "weighted_best_of_n", "particle_filtering",
       "beam_search"]


def run(name, budget=4, seed=0, p_err=0.3, probs=PROBS, spec=SPEC, **opts):
    eng = FakeArithEngine(p_err)
    res = get_strategy(name, **opts).run(eng, TASK, probs, budget, StepOracle(TASK), seed, spec)
    return eng, res


def test_registry_has_every_strategy():
    get_strategy("sample")
    assert set(ALL) <= set(STRATEGIES)
    with pytest.raises(EvaluatorError, match="unknown strategy 'nope'"):
        get_strategy("nope")


@pytest.mark.parametrize("name,opts,field", [
    ("particle_filtering", {"temperature": 0}, "temperature"),
    ("particle_filtering", {"resampling": "stratified"}, "resampling"),
    ("particle_filtering", {"ess_threshold": 1.5}, "ess_threshold"),
    ("particle_filtering", {"bogus": 1}, "bogus"),
    ("beam_search", {"beam_width": 0}, "beam_width"),
    ("beam_search", {"aggregate": "mean"}, "aggregate"),
    ("majority", {"temperature": 1.0}, "temperature"),
])
def test_bad_options_name_the_field(name, opts, field):
    with pytest.raises(EvaluatorError, match=f"{name}: .*'{field}'"):
        get_strategy(name, **opts)


def test_reward_required_and_budget_checked():
    eng = FakeArithEngine()
    with pytest.raises(EvaluatorError, match="needs a reward model"):
        get_strategy("best_of_n").run(eng, TASK, PROBS, 4, None, 0, SPEC)
    with pytest.raises(EvaluatorError, match="budget"):
        get_strategy("majority").run(eng, TASK, PROBS, 0, None, 0, SPEC)
    with pytest.raises(EvaluatorError, match="beam_width"):
        get_strategy("beam_search", beam_width=3).run(eng, TASK, PROBS, 4, StepOracle(TASK), 0,
                                                      SPEC)


def test_independent_sampling_token_bookkeeping():
    eng, res = run("majority", budget=4)
    assert len(eng.calls) == 1 and eng.calls[0][1].n == 4   # one call, n samples per prompt
    for p, r in zip(PROBS, res):
        L = len(p.prompt)
        assert r.prompt_tokens == 4 * L
        assert r.cached_prompt_tokens == 3 * (L - 1)         # prompt prefilled once
        assert r.completion_tokens == sum(len(c.text) for c in r.candidates)
        assert len(r.candidates) == 4 and r.reward_tokens == 0


def test_picks_follow_their_rules():
    _, samp = run("sample")
    _, maj = run("majority")
    _, bon = run("best_of_n")
    _, wbon = run("weighted_best_of_n")
    for s, m, b, w in zip(samp, maj, bon, wbon):
        texts = [c.text for c in s.candidates]
        assert texts == [c.text for c in m.candidates]      # same seed, same samples
        assert s.correct == any(c.correct for c in s.candidates)
        answers = [c.answer for c in m.candidates if c.answer is not None]
        assert answers.count(m.answer) == max(answers.count(a) for a in answers)
        # with the exact checker as ORM, best-of-n is right whenever any sample is
        assert b.correct == s.correct and w.correct == s.correct
        assert b.reward_tokens > 0


def test_seeds_reproduce():
    _, a = run("particle_filtering", seed=5)
    _, b = run("particle_filtering", seed=5)
    _, m5 = run("majority", seed=5)
    _, m6 = run("majority", seed=6)
    key = lambda rs: [[x.text for x in r.candidates] for r in rs]  # noqa: E731
    assert key(a) == key(b)
    assert key(m5) != key(m6)


def test_particle_filter_population_and_spend():
    eng, res = run("particle_filtering", budget=6, p_err=0.4)
    gen = sum(sum(ns) for _, _, ns in eng.calls)
    assert gen == sum(len(r.calls) for r in res)            # every generated sequence counted
    for r in res:
        assert len(r.candidates) == 6                        # population size is constant
        assert abs(sum(c.weight for c in r.candidates) - 1) < 1e-9
        assert r.meta["finished"] == 6 and r.meta["resamples"] >= 1
        assert r.reward_tokens > 0
        assert r.completion_tokens == sum(c.completion_tokens for c in r.calls)
    for prompts, sp, _ in eng.calls:
        assert sp.stop == ("\n\n",) and sp.include_stop


def test_particle_filter_makes_one_engine_call_per_step():
    # a flat PRM temperature keeps wrong and right paths alive in uneven clone counts
    eng, res = run("particle_filtering", budget=6, p_err=0.5, temperature=50.0)
    assert len(eng.calls) == max(r.meta["steps"] for r in res) >= 2
    assert eng.calls[0][1].n == 6                            # step 0: all particles identical
    # uneven clone counts: one request per distinct path, with its own n
    uneven = [ns for _, _, ns in eng.calls[1:] if len(set(ns)) > 1]
    assert uneven
    for prompts, _, ns in eng.calls:
        assert len(set(prompts)) == len(prompts)             # no prompt sent twice in a call
    gen = sum(sum(ns) for _, _, ns in eng.calls)
    assert gen == sum(len(r.calls) for r in res)


class _NoPerPromptN(FakeArithEngine):
    """An engine without ``n_per_prompt`` (e.g. a user's): uneven counts become n = 1 each."""

    per_prompt_n = False

    def generate(self, prompts, sampling):
        return super().generate(prompts, sampling)


def test_a_two_argument_generate_wrapper_gets_n1_requests():
    # callers wrap generate (fault injection, logging) with the two-argument signature
    eng = FakeArithEngine(0.5)
    inner = eng.generate
    eng.generate = lambda prompts, sampling: inner(prompts, sampling)
    res = get_strategy("particle_filtering", temperature=50.0).run(eng, TASK, PROBS, 6,
                                                                   StepOracle(TASK), 1, SPEC)
    assert all(len(set(ns)) == 1 for _, _, ns in eng.calls) and len(res) == len(PROBS)


def test_per_prompt_n_gives_the_same_samples_as_n1_requests():
    key = lambda rs: [[(c.text, c.weight) for c in r.candidates] for r in rs]  # noqa: E731
    slows = []
    for name, opts in (("particle_filtering", {"temperature": 50.0}),
                       ("beam_search", {"beam_width": 2})):
        fast, slow = FakeArithEngine(0.5), _NoPerPromptN(0.5)
        slows.append(slow)
        a = get_strategy(name, **opts).run(fast, TASK, PROBS, 6, StepOracle(TASK), 1, SPEC)
        b = get_strategy(name, **opts).run(slow, TASK, PROBS, 6, StepOracle(TASK), 1, SPEC)
        assert key(a) == key(b)                              # same seeds -> same rows
        assert [r.completion_tokens for r in a] == [r.completion_tokens for r in b]
        sent = lambda e: sum(len(p) for p, _, _ in e.calls)  # noqa: E731
        assert sent(fast) <= sent(slow)
    # without per-prompt n the same path is sent once per wanted child
    assert any(len(set(p)) < len(p) for slow in slows for p, _, _ in slow.calls)
    # and without ``seeds`` each problem is its own call (its seeds do not depend on the others)
    assert all(len({q.split("\n")[0] for q in p}) == 1
               for slow in slows for p, _, _ in slow.calls)


def test_logprobs_requested_only_when_the_reward_reads_them():
    from evaluators.rewards import make_reward_model

    eng = FakeArithEngine()
    get_strategy("best_of_n").run(eng, TASK, PROBS, 2, make_reward_model("logprob"), 0, SPEC)
    get_strategy("best_of_n").run(eng, TASK, PROBS, 2, make_reward_model("oracle", task=TASK),
                                  0, SPEC)
    get_strategy("majority").run(eng, TASK, PROBS, 2, None, 0, SPEC)
    get_strategy("particle_filtering").run(eng, TASK, PROBS, 2,
                                           make_reward_model("oracle", task=TASK, mode="prm"), 0,
                                           SPEC)
    assert [c[1].logprobs for c in eng.calls[:3]] == [True, False, False]
    assert not any(sp.logprobs for _, sp, _ in eng.calls[3:])
    # a reward model that does not say is assumed to read them
    get_strategy("best_of_n").run(eng, TASK, PROBS, 2, StepOracle(TASK), 0, SPEC)
    assert eng.calls[-1][1].logprobs


def test_particle_filter_keeps_finished_particles_and_respects_token_budget():
    tight = SamplingSpec(max_tokens=12)
    eng, res = run("particle_filtering", budget=4, spec=tight, p_err=0.0)
    for r in res:
        assert r.meta["finished"] == 4
        assert all(len(c.text) <= 12 for c in r.candidates)
        assert r.completion_tokens <= 4 * 12 * r.meta["steps"]
    # with no errors, every particle finishes correct; the finished ones stay in the population
    _, ok = run("particle_filtering", budget=4, p_err=0.0, resample_when="ess")
    for r in ok:
        assert r.correct and all(c.correct for c in r.candidates)
        assert r.meta["resamples"] == 0                      # equal weights: ESS = n


def test_particle_filter_beats_majority_with_exact_prm_on_fake_engine():
    _, pf = run("particle_filtering", budget=4, p_err=0.4)
    _, maj = run("majority", budget=4, p_err=0.4)
    assert np.mean([r.correct for r in pf]) >= np.mean([r.correct for r in maj])


def test_beam_search_expansion_counts():
    eng, res = run("beam_search", budget=6, beam_width=2, p_err=0.3)
    for r in res:
        ex = r.meta["expansions"]
        assert ex[0] == 6                                    # n first steps from the prompt
        assert all(e <= 6 and e % 3 == 0 for e in ex[1:])    # n/m = 3 per surviving beam
        assert sum(ex) == len(r.calls)
        assert r.meta["completed"] >= 1 and r.candidates
    assert all(sp.n in (6, 3) for _, sp, _ in eng.calls)


def test_resampling_helpers():
    w = softmax_weights([0.9, 0.1, 0.5], temperature=1.0)
    assert w.sum() == pytest.approx(1.0) and w[0] > w[2] > w[1]
    assert w[0] / w[2] == pytest.approx(9.0)                 # exp(logit .9 - logit .5) = 9
    assert effective_sample_size([0.25] * 4) == pytest.approx(4)
    rng = np.random.default_rng(0)
    idx = resample_indices([0.5, 0.5, 0.0, 0.0], 4, "systematic", rng)
    assert sorted(idx.tolist()) == [0, 0, 1, 1]              # systematic: exact proportions
    counts = np.bincount(resample_indices([0.7, 0.3], 10_000, "multinomial", rng), minlength=2)
    assert counts[0] / 10_000 == pytest.approx(0.7, abs=0.02)


class _SeparateRM(StepOracle):
    """A PRM that says it runs on its own engine; records which threads called it."""

    separate_engine = True

    def __init__(self, task):
        super().__init__(task)
        self.threads = set()

    def score(self, problem, steps_list, samples=None):
        import threading

        self.threads.add(threading.current_thread().name)
        return super().score(problem, steps_list, samples)


@pytest.mark.parametrize("name,opts", [("particle_filtering", {"temperature": 5.0}),
                                       ("beam_search", {"beam_width": 2})])
def test_separate_reward_engine_overlaps_two_halves_reproducibly(name, opts):
    key = lambda rs: [(r.problem_id, [c.text for c in r.candidates], r.answer,  # noqa: E731
                       r.completion_tokens, r.reward_tokens) for r in rs]
    rm = _SeparateRM(TASK)
    res = get_strategy(name, **opts).run(FakeArithEngine(0.4), TASK, PROBS, 4, rm, 2, SPEC)
    assert rm.threads and all(t.startswith("stepwise") for t in rm.threads)   # pool threads
    again = get_strategy(name, **opts).run(FakeArithEngine(0.4), TASK, PROBS, 4,
                                           _SeparateRM(TASK), 2, SPEC)
    assert key(res) == key(again)                            # same seeds -> same rows
    # each half is exactly the search of that half alone
    strat = get_strategy(name, **opts)
    halves = [strat.run(FakeArithEngine(0.4), TASK, part, 4, StepOracle(TASK), 2, SPEC)
              for part in (PROBS[:4], PROBS[4:])]
    assert key(res) == key(halves[0] + halves[1])
    # overlap off: one search over all problems, on the calling thread
    off = _SeparateRM(TASK)
    flat = get_strategy(name, overlap_reward=False, **opts).run(FakeArithEngine(0.4), TASK,
                                                                 PROBS, 4, off, 2, SPEC)
    plain = get_strategy(name, **opts).run(FakeArithEngine(0.4), TASK, PROBS, 4,
                                           StepOracle(TASK), 2, SPEC)
    assert key(flat) == key(plain) and len(off.threads) == 1
    # per-problem seeds: the overlapped halves find the paths of the search over all problems
    paths = lambda rs: [(r.answer, [c.text for c in r.candidates]) for r in rs]  # noqa: E731
    assert paths(res) == paths(flat)


STEPWISE = [("particle_filtering", {"temperature": 50.0}),
            ("particle_filtering", {"temperature": 0.5, "resampling": "multinomial",
                                    "resample_when": "ess", "final_pick": "sample"}),
            ("beam_search", {"beam_width": 2})]


def _rows(res):
    return [(r.answer, r.correct, [(c.text, c.score, c.weight) for c in r.candidates],
             r.meta, [c.prompt_tokens for c in r.calls], r.cached_prompt_tokens) for r in res]


@pytest.mark.parametrize("name,opts", STEPWISE)
def test_pipelined_search_gives_the_lockstep_paths(name, opts):
    from fake_engine import PipelinedFakeEngine

    spec = SamplingSpec(temperature=0.8, max_tokens=20)  # some paths run out of tokens
    lock = FakeArithEngine(0.4)
    a = get_strategy(name, **opts).run(lock, TASK, PROBS, 6, StepOracle(TASK), 7, spec)
    for order_seed in (0, 1):
        pipe = PipelinedFakeEngine(0.4, order_seed)
        b = get_strategy(name, **opts).run(pipe, TASK, PROBS, 6, StepOracle(TASK), 7, spec)
        assert _rows(b) == _rows(a)                      # same paths, scores, weights, ledger
        # each request asks for its own remaining tokens: never more spent than lock-step
        assert all(rb.completion_tokens <= ra.completion_tokens for ra, rb in zip(a, b))
        assert sum(rb.completion_tokens for rb in b) < sum(ra.completion_tokens for ra in a)
        # no barrier: a problem's step-1 request came back before another problem's step 0
        # (step 0 is one request per problem: the empty path with n = budget)
        done_at = {}
        for k, (pi, _) in enumerate(pipe.order):
            done_at.setdefault(pi, []).append(k)
        last_first_step = max(ks[0] for ks in done_at.values())
        assert any(len(ks) > 1 and ks[1] < last_first_step for ks in done_at.values())
        assert all(len(p) == 1 for p, _, _ in pipe.calls)     # one request at a time
    # option pipeline: false keeps the lock-step calls on a pipelined engine
    off = PipelinedFakeEngine(0.4)
    c = get_strategy(name, pipeline=False, **opts).run(off, TASK, PROBS, 6, StepOracle(TASK), 7,
                                                       spec)
    assert _rows(c) == _rows(a) and not off.order
    assert max(len(p) for p, _, _ in off.calls) > 1


@pytest.mark.parametrize("name,opts", STEPWISE)
def test_a_problem_gets_the_same_search_alone_or_among_others(name, opts):
    from fake_engine import PipelinedFakeEngine

    for engine in (FakeArithEngine, PipelinedFakeEngine):
        together = get_strategy(name, **opts).run(engine(0.4), TASK, PROBS, 4, StepOracle(TASK),
                                                  3, SPEC)
        alone = [get_strategy(name, **opts).run(engine(0.4), TASK, [p], 4, StepOracle(TASK), 3,
                                                SPEC)[0] for p in PROBS[::-1]][::-1]
        assert _rows(alone) == _rows(together)


def test_prefix_ledger_counts_the_longest_prefix_shared_with_any_earlier_sequence():
    import random

    from evaluators.strategies.base import PrefixLedger

    rng = random.Random(5)
    ledger, seen = PrefixLedger(), []
    for _ in range(300):
        base = list(rng.choice(seen)) if seen and rng.random() < 0.8 else []
        prompt = base[:rng.randint(0, len(base))] + [rng.randrange(4)
                                                     for _ in range(rng.randint(0, 6))]
        completion = [rng.randrange(4) for _ in range(rng.randint(0, 5))]
        # brute force: longest common prefix with every earlier prompt + completion[:-1]
        best = 0
        for s in seen:
            m = 0
            while m < min(len(s), len(prompt)) and s[m] == prompt[m]:
                m += 1
            best = max(best, m)
        call = ledger.record(prompt, completion)
        assert (call.prompt_tokens, call.completion_tokens, call.cached_prompt_tokens) == \
            (len(prompt), len(completion), min(best, max(0, len(prompt) - 1)))
        seen.append(prompt + completion[:-1])
