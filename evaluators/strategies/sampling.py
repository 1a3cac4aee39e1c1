"""Strategies over ``n`` independent samples: ``sample``, ``majority``, ``best_of_n``,
``weighted_best_of_n``.

All four draw ``n`` full answers per problem in one engine call (``n`` samples per prompt) and differ only in the pick:

* ``sample`` (repeated sampling / coverage): correct when *any* sample is correct (pass@n with
  the task's exact checker — an oracle pick); the reported answer is the first correct one, or
  the most frequent one when none is.
* ``majority`` (self-consistency): the most frequent canonical answer.
* ``best_of_n``: the candidate with the highest ORM score.
* ``weighted_best_of_n``: the canonical answer with the largest sum of ORM scores.

Ties are broken at random with a generator seeded by the run seed and the problem id.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace

import numpy as np

from evaluators.strategies import register_strategy
from evaluators.strategies.base import (
    Candidate,
    Options,
    PrefixLedger,
    ProblemResult,
    Strategy,
    engine_sampling,
    request_seed,
    score_candidates,
    split_steps,
)
from evaluators.strategies.steps import prompt_ids_of


def _tie_rng(seed: int, problem_id: str) -> np.random.Generator:
    return np.random.default_rng(request_seed(seed, problem_id, "tie"))


@dataclass(frozen=True)
class NoOptions(Options):
    """These strategies take no options."""


class _IndependentSamples(Strategy):
    """Draw ``budget`` independent answers per problem, score them if needed, then pick."""

    Options = NoOptions
    uses_reward = False

    def run(self, engine, task, problems, budget, reward, seed, sampling):
        """Generate ``budget`` samples per problem and pick one answer per problem."""
        self.check_args(budget, reward)
        reward = reward if (self.needs_reward or self.uses_reward) else None
        prompts = [p.prompt for p in problems]
        results = []
        # one call for all problems (the engine gives each prompt its own seed, offset by its
        # position: results are reproducible for a fixed problem list)
        spec = replace(engine_sampling(sampling, reward), n=budget,
                       seed=request_seed(seed, "samples"))
        outs = engine.generate(prompts, spec)
        for problem, text, samples in zip(problems, prompts, outs):
            ids = prompt_ids_of(engine, text, samples)
            ledger = PrefixLedger()
            res = ProblemResult(problem.problem_id, None, False, [])
            res.calls = [ledger.record(ids, s.token_ids) for s in samples]
            texts = [s.text for s in samples]
            scores = score_candidates(reward, problem, [split_steps(task, t) for t in texts],
                                      samples, res)
            res.candidates = [Candidate(t, task.extract(t), bool(task.check(problem, t)), sc)
                              for t, sc in zip(texts, scores)]
            res.answer, res.correct = self.pick(res.candidates, _tie_rng(seed, problem.problem_id))
            results.append(res)
        return results

    def pick(self, cands: list[Candidate], rng) -> tuple[str | None, bool]:
        """Choose one answer among the candidates; returns (answer, correct)."""
        raise NotImplementedError


def _vote(cands, weights, rng):
    votes: dict = defaultdict(float)
    for c, w in zip(cands, weights):
        if c.answer is not None:
            votes[c.answer] += w
    if not votes:
        return None, False
    keys = list(votes)
    vals = np.array([votes[k] for k in keys])
    best = np.flatnonzero(vals == vals.max())
    winner = keys[int(best[0] if len(best) == 1 else rng.choice(best))]
    return winner, next(c.correct for c in cands if c.answer == winner)


@register_strategy("sample")
class RepeatedSampling(_IndependentSamples):
    """Repeated sampling: correct if any of the ``n`` samples is (coverage, oracle pick)."""

    oracle = True

    def pick(self, cands, rng):
        """First correct candidate, else the most frequent answer."""
        for c in cands:
            if c.correct:
                return c.answer, True
        counts = Counter(c.answer for c in cands if c.answer is not None)
        return (counts.most_common(1)[0][0] if counts else None), False


@register_strategy("majority")
class Majority(_IndependentSamples):
    """Self-consistency: the most frequent canonical answer."""

    def pick(self, cands, rng):
        """Most frequent answer (ties at random)."""
        return _vote(cands, [1.0] * len(cands), rng)


@register_strategy("best_of_n")
class BestOfN(_IndependentSamples):
    """Best-of-n: argmax of the outcome reward."""

    needs_reward = True

    def pick(self, cands, rng):
        """Highest-scoring candidate (ties at random)."""
        vals = np.array([c.score for c in cands], dtype=float)
        best = np.flatnonzero(vals == vals.max())
        c = cands[int(best[0] if len(best) == 1 else rng.choice(best))]
        return c.answer, c.correct


@register_strategy("weighted_best_of_n")
class WeightedBestOfN(_IndependentSamples):
    """Weighted best-of-n: the answer with the largest summed score."""

    needs_reward = True

    def pick(self, cands, rng):
        """Answer with the largest sum of scores (ties at random)."""
        return _vote(cands, [c.score for c in cands], rng)
