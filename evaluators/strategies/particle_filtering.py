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
from evaluators.strategies.base import ProblemResult, engine_sampling, need, request_seed
from evaluators.strategies.stepwise import (
    Path,
    StepState,
    StepwiseOptions,
    StepwiseStrategy,
    effective_sample_size,
    extend,
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

    def search(self, engine, task, problems, budget, reward, seed, sampling):
        """Run ``budget`` particles per problem; one :class:`ProblemResult` per problem."""
        sampling = engine_sampling(sampling, reward)
        o = self.options
        states = [StepState(p, ProblemResult(p.problem_id, None, False, [])) for p in problems]
        pops = [[Path() for _ in range(budget)] for _ in problems]
        stats = [{"resamples": 0, "steps": 0} for _ in problems]
        for step in range(o.max_steps):
            alive = [[i for i, q in enumerate(pop) if not q.done] for pop in pops]
            if not any(alive):
                break
            grouped = [group_identical([pop[i] for i in idx]) for pop, idx in zip(pops, alive)]
            kids = extend(engine, task, states, [g[0] for g in grouped], sampling, seed, step,
                          o.max_steps, o.step_max_tokens, reward)
            for pi, (pop, idx) in enumerate(zip(pops, alive)):
                if not idx:
                    continue
                stats[pi]["steps"] += 1
                taken = [0] * len(grouped[pi][0])
                for i, j in zip(idx, grouped[pi][1]):
                    pop[i] = kids[pi][j][taken[j]]
                    taken[j] += 1
                pops[pi] = self._maybe_resample(pop, seed, states[pi].problem.problem_id, step,
                                                stats[pi])
        for st, pop, stat in zip(states, pops, stats):
            self._finish(task, st, pop, seed, stat)
        return [st.result for st in states]

    def _maybe_resample(self, pop, seed, pid, step, stat):
        o = self.options
        if all(q.done for q in pop):
            return pop
        w = softmax_weights([q.aggregate(o.aggregate) for q in pop], o.temperature)
        if o.resample_when == "ess" and effective_sample_size(w) >= o.ess_threshold * len(pop):
            return pop
        rng = np.random.default_rng(request_seed(seed, pid, "resample", step))
        idx = resample_indices(w, len(pop), o.resampling, rng)
        stat["resamples"] += 1
        return [pop[i] for i in idx]

    def _finish(self, task, st, pop, seed, stat) -> None:
        o = self.options
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
            rng = np.random.default_rng(request_seed(seed, st.problem.problem_id, "pick"))
            pick = int(rng.choice(pool, p=wp))
        res.answer, res.correct = res.candidates[pick].answer, res.candidates[pick].correct
        res.meta.update(stat, finished=int(done.sum()))
