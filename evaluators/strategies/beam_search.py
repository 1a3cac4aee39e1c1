"""Beam search over reasoning steps with a process reward model (search-and-learn style).

Budget ``n`` and beam width ``m`` (``n`` divisible by ``m``). Step 0 samples ``n`` first steps
from the prompt; afterwards each of the (at most ``m``) active beams is expanded with
``n / m`` sampled next steps, so every step costs at most ``n`` step generations. The PRM
scores each new step; children that finished (end of sequence, token budget spent or
``max_steps``) move to the completed pool, and the ``m`` best unfinished children (by the
aggregated score: ``last``, ``min`` or ``prod`` of step scores; ties keep generation order)
become the next beams. The search stops when ``m`` answers are completed or no beam is left;
the answer is the completed path with the highest score (an unfinished one if none completed).
"""
from __future__ import annotations

from dataclasses import dataclass

from evaluators.errors import EvaluatorError
from evaluators.strategies import register_strategy
from evaluators.strategies.base import ProblemResult, engine_sampling, need
from evaluators.strategies.stepwise import (
    Path,
    StepState,
    StepwiseOptions,
    StepwiseStrategy,
    check_positive_int,
    extend,
    group_identical,
    to_candidate,
)


@dataclass(frozen=True)
class BeamOptions(StepwiseOptions):
    """Options of ``beam_search`` (plus the shared step-wise ones)."""

    beam_width: int = 2               # m: beams kept per step; the budget must be divisible by it

    def validate_own(self, strategy: str) -> None:
        """``beam_width`` is a positive integer."""
        need(check_positive_int(self.beam_width), strategy, "beam_width",
             "must be an integer >= 1", self.beam_width)


@register_strategy("beam_search")
class BeamSearch(StepwiseStrategy):
    """PRM-guided beam search: ``m`` beams, ``n/m`` expansions each."""

    Options = BeamOptions

    def check_args(self, budget, reward):
        """Also require ``budget`` to be a multiple of ``beam_width`` (and at least it)."""
        super().check_args(budget, reward)
        m = self.options.beam_width
        if budget < m or budget % m:
            raise EvaluatorError(f"beam_search: budget {budget} must be a multiple of option "
                                 f"'beam_width' ({m})")

    def search(self, engine, task, problems, budget, reward, seed, sampling):
        """Beam search with ``budget`` step samples per step; one result per problem."""
        sampling = engine_sampling(sampling, reward)
        o = self.options
        m, per_beam = o.beam_width, budget // o.beam_width
        states = [StepState(p, ProblemResult(p.problem_id, None, False, [])) for p in problems]
        beams: list[list[Path]] = [[Path()] for _ in problems]
        done: list[list[Path]] = [[] for _ in problems]
        expansions = [[] for _ in problems]
        for step in range(o.max_steps):
            if not any(beams):
                break
            reqs = []
            for pi, bs in enumerate(beams):
                k = budget if step == 0 else per_beam
                grouped, _ = group_identical([b for b in bs for _ in range(k)])
                reqs.append(grouped)
                if bs:
                    expansions[pi].append(sum(c for _, c in grouped))
            kids = extend(engine, task, states, reqs, sampling,
                          seed, step, o.max_steps, o.step_max_tokens, reward)
            for pi in range(len(problems)):
                children = [c for r in kids[pi] for c in r]
                done[pi] += [c for c in children if c.done]
                open_ = [c for c in children if not c.done]
                open_.sort(key=lambda c: -c.aggregate(o.aggregate))  # stable: ties keep order
                beams[pi] = open_[:m] if len(done[pi]) < m else []
        for pi, st in enumerate(states):
            pool = done[pi] or beams[pi]
            res = st.result
            res.candidates = [to_candidate(task, st.problem, c, o.aggregate) for c in pool]
            if res.candidates:
                best = max(range(len(pool)), key=lambda i: (res.candidates[i].score, -i))
                res.answer, res.correct = res.candidates[best].answer, res.candidates[best].correct
            res.meta.update(expansions=expansions[pi], completed=len(done[pi]))
        return [st.result for st in states]
