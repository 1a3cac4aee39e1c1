"""What particle filtering and beam search share: their options, the strategy base (one
searcher per problem, run by :func:`evaluators.strategies.steps.drive`, pipelined or in
lock-step), the overlap of a separate reward engine, and the weights / resampling / merging
helpers. How paths grow by one step, with what seeds, is in :mod:`evaluators.strategies.steps`.
"""
from __future__ import annotations

import functools
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from evaluators.strategies.base import Candidate, Options, Strategy, engine_sampling, need
from evaluators.strategies.steps import Path, Searcher, drive

AGGREGATES = ("last", "min", "prod")
_EPS = 1e-6


def softmax_weights(scores, temperature: float) -> np.ndarray:
    """Weights ``softmax(logit(score) / temperature)`` (scores clipped into (0, 1))."""
    p = np.clip(np.asarray(scores, dtype=float), _EPS, 1 - _EPS)
    z = np.log(p) - np.log1p(-p)
    z = z / temperature
    w = np.exp(z - z.max())
    return w / w.sum()


def effective_sample_size(w) -> float:
    """ESS of normalised weights: ``1 / Σ w²``."""
    w = np.asarray(w, dtype=float)
    return float(1.0 / np.sum(w * w))


def resample_indices(w, n: int, method: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` ancestor indices drawn by ``multinomial`` or ``systematic`` resampling."""
    w = np.asarray(w, dtype=float)
    if method == "multinomial":
        return rng.choice(len(w), size=n, replace=True, p=w)
    positions = (rng.random() + np.arange(n)) / n
    cum = np.cumsum(w)
    cum[-1] = 1.0
    return np.searchsorted(cum, positions, side="right").clip(0, len(w) - 1)


def group_identical(paths: list[Path]) -> tuple[list[tuple[Path, int]], list[int]]:
    """Merge identical paths: returns ``(representative, count)`` requests and, for each input
    path, the index of its request (children are dealt back in input order)."""
    index: dict[tuple[int, ...], int] = {}
    reqs: list[tuple[Path, int]] = []
    owner = []
    for p in paths:
        j = index.get(p.ids)
        if j is None:
            j = index[p.ids] = len(reqs)
            reqs.append((p, 0))
        reqs[j] = (reqs[j][0], reqs[j][1] + 1)
        owner.append(j)
    return reqs, owner


def to_candidate(task, problem, p: Path, how: str, weight: float | None = None) -> Candidate:
    """A finished path as a :class:`Candidate` (score = aggregated step score)."""
    return Candidate(p.text, task.extract(p.text), bool(task.check(problem, p.text)),
                     p.aggregate(how), weight)


def check_positive_int(value) -> bool:
    """True for an int ≥ 1 (bools excluded)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class StepwiseOptions(Options):
    """Options every step-wise strategy shares; subclasses add theirs and check them in
    :meth:`validate_own`."""

    aggregate: str = "last"           # last | min | prod of step scores
    max_steps: int = 16
    step_max_tokens: int | None = None  # per-step cap (default: what is left of max_tokens)
    overlap_reward: bool = True       # reward model on its own engine: score one half of the
    #                                   problems while the policy generates for the other
    pipeline: bool = True             # on an engine with ``pipeline``: each problem sends its
    #                                   next step as soon as its own step is back

    def validate(self, strategy: str) -> None:
        """Check the strategy's own options, then the shared ones; raises EvaluatorError."""
        self.validate_own(strategy)
        need(self.aggregate in AGGREGATES, strategy, "aggregate", f"must be one of {AGGREGATES}",
             self.aggregate)
        need(check_positive_int(self.max_steps), strategy, "max_steps", "must be an integer >= 1",
             self.max_steps)
        need(self.step_max_tokens is None or check_positive_int(self.step_max_tokens), strategy,
             "step_max_tokens", "must be null or an integer >= 1", self.step_max_tokens)
        need(isinstance(self.overlap_reward, bool), strategy, "overlap_reward",
             "must be true or false", self.overlap_reward)
        need(isinstance(self.pipeline, bool), strategy, "pipeline", "must be true or false",
             self.pipeline)

    def validate_own(self, strategy: str) -> None:
        """The subclass's own checks (none here)."""


class StepwiseStrategy(Strategy):
    """Base of strategies that grow answers step by step, scored by a process reward model.

    ``run`` checks its arguments and calls ``search``, which runs one ``searcher`` (the
    subclass's algorithm for one problem) per problem through :func:`drive`. When the
    reward model runs on an engine of its own (``separate_engine``, e.g. the vLLM classifier)
    and option ``overlap_reward`` is on, the problems are searched as two halves in two
    threads that share the policy engine and the reward model, each behind a lock: while one
    half's steps are scored, the other half's next step is generated, so neither engine
    waits for the other. Seeds are per problem, so the paths are those of a run without the
    overlap (the tokens spent can differ a little: a lock-step call's shared ``max_tokens`` is
    the largest remaining budget among the problems it holds).
    """

    needs_reward = True
    reward_mode = "prm"

    def run(self, engine, task, problems, budget, reward, seed, sampling):
        """Search every problem with ``budget`` particles/beams; one result per problem."""
        self.check_args(budget, reward)
        problems = list(problems)
        if not (self.options.overlap_reward and getattr(reward, "separate_engine", False)
                and len(problems) >= 2):
            return self.search(engine, task, problems, budget, reward, seed, sampling)
        eng, rm, half = Locked(engine), Locked(reward), (len(problems) + 1) // 2
        with ThreadPoolExecutor(2, thread_name_prefix="stepwise") as pool:
            parts = [pool.submit(self.search, eng, task, chunk, budget, rm, seed, sampling)
                     for chunk in (problems[:half], problems[half:])]
            return parts[0].result() + parts[1].result()

    def search(self, engine, task, problems, budget, reward, seed, sampling):
        """The search itself (arguments already checked): one :meth:`searcher` per problem,
        run by :func:`drive`, then each one's ``finish``."""
        sampling = engine_sampling(sampling, reward)
        o = self.options
        searchers = [self.searcher(p, budget, seed) for p in problems]
        drive(engine, task, searchers, sampling, seed, o.max_steps, o.step_max_tokens, reward,
              pipeline=o.pipeline)
        for s in searchers:
            s.finish(task)
        return [s.state.result for s in searchers]

    def searcher(self, problem, budget: int, seed: int) -> Searcher:
        """One problem's search (subclasses)."""
        raise NotImplementedError


class Locked:
    """An engine or reward model shared by threads: every method call holds one lock, so
    calls never run concurrently on it (attributes pass through)."""

    def __init__(self, target):
        self._target, self._lock = target, threading.Lock()

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args, **kwargs):
            with self._lock:
                return attr(*args, **kwargs)
        return call


def finite_positive(value) -> bool:
    """True for a finite number > 0."""
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0
