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
    gen = sum(len(prompts) * sp.n for prompts, sp in eng.calls)
    assert gen == sum(len(r.calls) for r in res)            # every generated sequence counted
    for r in res:
        assert len(r.candidates) == 6                        # population size is constant
        assert abs(sum(c.weight for c in r.candidates) - 1) < 1e-9
        assert r.meta["finished"] == 6 and r.meta["resamples"] >= 1
        assert r.reward_tokens > 0
        assert r.completion_tokens == sum(c.completion_tokens for c in r.calls)
    for prompts, sp in eng.calls:
        assert sp.stop == ("\n\n",) and sp.include_stop


def test_particle_filter_makes_one_engine_call_per_step():
    # a flat PRM temperature keeps wrong and right paths alive in uneven clone counts
    eng, res = run("particle_filtering", budget=6, p_err=0.5, temperature=50.0)
    assert len(eng.calls) == max(r.meta["steps"] for r in res) >= 2
    assert eng.calls[0][1].n == 6                            # step 0: all particles identical
    assert any(sp.n == 1 for _, sp in eng.calls[1:])         # uneven clone counts → n = 1 each
    gen = sum(len(prompts) * sp.n for prompts, sp in eng.calls)
    assert gen == sum(len(r.calls) for r in res)


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
    assert all(sp.n in (6, 3) for _, sp in eng.calls)


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
