"""Particle filtering (its_hub style) with a process reward model.

``n`` particles per problem start from the prompt. Each step, every unfinished particle is
extended by one step (generation stops at the task's step delimiter; continuation from token
ids), the PRM scores the new step, and each particle's weight is
``softmax(logit(score) / temperature)`` over the whole population (score = last step's, the
minimum or the product of step scores: option ``aggregate``). The population is then resampled
(``multinomial`` or ``systematic``) every step, or only when the effective sample size
``1/Σw²`` falls below ``ess_threshold · n``. Finished particles (end of sequence, token budget
spent, or ``max_steps`` reached) stay in the population with their final score: they take part
in resampling but are never extended. When all are finished, the answer is the particle with
the largest weight (``final_pick: argmax``) or one drawn by weight (``sample``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluators.strategies import register_strategy
from evaluators.strategies.base import ProblemResult, need, request_seed
from evaluators.strategies.steps import Path, Searcher, StepState
from evaluators.strategies.stepwise import (
    StepwiseOptions,
    StepwiseStrategy,
    effective_sample_size,
    finite_positive,
    group_identical,
    resample_indices,
    softmax_weights,
    to_candidate,
)


@dataclass(frozen=True)
class PFOptions(StepwiseOptions):
    """Options of ``particle_filtering`` (plus the shared step-wise ones)."""

    temperature: float = 1.0          # softmax temperature on logit(PRM score)
    resampling: str = "systematic"    # multinomial | systematic
    resample_when: str = "every_step"  # every_step | ess
    ess_threshold: float = 0.5        # fraction of n (resample_when: ess)
    final_pick: str = "argmax"        # argmax | sample

    def validate_own(self, strategy: str) -> None:
        """Check the particle-filter options; raises EvaluatorError naming the bad one."""
        need(finite_positive(self.temperature), strategy, "temperature", "must be > 0",
             self.temperature)
        need(self.resampling in ("multinomial", "systematic"), strategy, "resampling",
             "must be multinomial|systematic", self.resampling)
        need(self.resample_when in ("every_step", "ess"), strategy, "resample_when",
             "must be every_step|ess", self.resample_when)
        need(finite_positive(self.ess_threshold) and self.ess_threshold <= 1, strategy,
             "ess_threshold", "must be in (0, 1]", self.ess_threshold)
        need(self.final_pick in ("argmax", "sample"), strategy, "final_pick",
             "must be argmax|sample", self.final_pick)


@register_strategy("particle_filtering")
class ParticleFiltering(StepwiseStrategy):
    """Sequential Monte Carlo over reasoning steps, weighted by a PRM."""

    Options = PFOptions

    def searcher(self, problem, budget, seed):
        """The particle population of ``problem``."""
        return _Filter(problem, budget, self.options, seed)


class _Filter(Searcher):
    """The particle population of one problem."""

    def __init__(self, problem, budget: int, options: PFOptions, seed: int):
        self.state = StepState(problem, ProblemResult(problem.problem_id, None, False, []))
        self.pop = [Path() for _ in range(budget)]
        self.o, self.seed = options, seed
        self.stats = {"resamples": 0, "steps": 0}
        self._alive: list[int] = []
        self._owner: list[int] = []

    def wants(self):
        """One request per distinct unfinished particle, ``k`` = its number of copies."""
        self._alive = [i for i, q in enumerate(self.pop) if not q.done]
        if not self._alive:
            return []
        reqs, self._owner = group_identical([self.pop[i] for i in self._alive])
        return reqs

    def take(self, children, step):
        """Deal the children back to the particles, then resample."""
        self.stats["steps"] += 1
        taken = [0] * len(children)
        for i, j in zip(self._alive, self._owner):
            self.pop[i] = children[j][taken[j]]
            taken[j] += 1
        self.pop = self._maybe_resample(step)

    def _maybe_resample(self, step):
        o, pop = self.o, self.pop
        if all(q.done for q in pop):
            return pop
        w = softmax_weights([q.aggregate(o.aggregate) for q in pop], o.temperature)
        if o.resample_when == "ess" and effective_sample_size(w) >= o.ess_threshold * len(pop):
            return pop
        pid = self.state.problem.problem_id
        rng = np.random.default_rng(request_seed(self.seed, pid, "resample", step))
        idx = resample_indices(w, len(pop), o.resampling, rng)
        self.stats["resamples"] += 1
        return [pop[i] for i in idx]

    def finish(self, task) -> None:
        """Weights, candidates and the final pick."""
        o, st, pop = self.o, self.state, self.pop
        w = softmax_weights([q.aggregate(o.aggregate) for q in pop], o.temperature)
        res = st.result
        res.candidates = [to_candidate(task, st.problem, q, o.aggregate, float(wi))
                          for q, wi in zip(pop, w)]
        done = np.array([q.done for q in pop])
        pool = np.flatnonzero(done) if done.any() else np.arange(len(pop))
        wp = w[pool] / w[pool].sum()
        if o.final_pick == "argmax":
            pick = int(pool[int(np.argmax(wp))])
        else:
            rng = np.random.default_rng(request_seed(self.seed, st.problem.problem_id, "pick"))
            pick = int(rng.choice(pool, p=wp))
        res.answer, res.correct = res.candidates[pick].answer, res.candidates[pick].correct
        res.meta.update(self.stats, finished=int(done.sum()))
