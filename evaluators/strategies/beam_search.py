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
from evaluators.strategies.base import ProblemResult, need
from evaluators.strategies.steps import Path, Searcher, StepState
from evaluators.strategies.stepwise import (
    StepwiseOptions,
    StepwiseStrategy,
    check_positive_int,
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

    def searcher(self, problem, budget, seed):
        """The beams of ``problem``."""
        return _Beams(problem, budget, self.options)


class _Beams(Searcher):
    """The open beams and completed answers of one problem."""

    def __init__(self, problem, budget: int, options: BeamOptions):
        self.state = StepState(problem, ProblemResult(problem.problem_id, None, False, []))
        self.o, self.budget, self.per_beam = options, budget, budget // options.beam_width
        self.beams: list[Path] = [Path()]
        self.done: list[Path] = []
        self.expansions: list[int] = []

    def wants(self):
        """``budget`` samples of the empty path first, then ``n/m`` per open beam."""
        if not self.beams:
            return []
        k = self.budget if not self.expansions else self.per_beam
        grouped, _ = group_identical([b for b in self.beams for _ in range(k)])
        self.expansions.append(sum(c for _, c in grouped))
        return grouped

    def take(self, children, step):
        """Keep the ``m`` best open children (ties keep their order); finished ones are done."""
        flat = [c for r in children for c in r]
        self.done += [c for c in flat if c.done]
        open_ = [c for c in flat if not c.done]
        open_.sort(key=lambda c: -c.aggregate(self.o.aggregate))
        m = self.o.beam_width
        self.beams = open_[:m] if len(self.done) < m else []

    def finish(self, task) -> None:
        """Candidates (completed answers, else the open beams) and the best-scored pick."""
        pool, st = self.done or self.beams, self.state
        res = st.result
        res.candidates = [to_candidate(task, st.problem, c, self.o.aggregate) for c in pool]
        if res.candidates:
            best = max(range(len(pool)), key=lambda i: (res.candidates[i].score, -i))
            res.answer, res.correct = res.candidates[best].answer, res.candidates[best].correct
        res.meta.update(expansions=self.expansions, completed=len(self.done))
