"""Step-wise generation shared by particle filtering and beam search.

A :class:`Path` is a partial answer: the completion's token ids so far, its text, its steps and
one reward score per step. :func:`extend` grows many paths by one step in as few engine calls
as possible: each request is the problem prompt's token ids plus the path's token ids (never
re-sent text — re-tokenising a partial answer gives different ids), stopping at the task's step
delimiter. All problems advance in lock-step with ONE engine call per step (small calls are
what makes step-wise search slow). When every path wants the same number of children ``k``
(the first step; beam search) a path is one request with ``n = k`` samples; otherwise, on an
engine that takes per-prompt ``n`` (``per_prompt_n``), a path is one request with its own
``n = k`` (measured: 1024 requests of a resampled step become ~65), else each wanted child is
its own ``n = 1`` request. Either way the samples get the same seeds: sample ``j`` of the
member at sample offset ``o`` of the call gets ``seed + o + j``, so clones
after resampling explore different continuations while staying reproducible; the seed depends
only on the run seed and the step (results are reproducible for a fixed problem list — the
runner keeps problem chunks fixed for that reason). Requests of one
call share ``max_tokens`` (the largest remaining budget among them); a path that would overrun
its own remaining budget is cut to it and finished — its tokens beyond the cut were really
generated, so they still count as spent.
"""
from __future__ import annotations

import functools
import inspect
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from evaluators.strategies.base import (
    Candidate,
    Options,
    PrefixLedger,
    ProblemResult,
    Strategy,
    need,
    request_seed,
    score_batches,
)

AGGREGATES = ("last", "min", "prod")
_EPS = 1e-6


@dataclass
class Path:
    """A partial (or finished) answer of one problem."""

    ids: tuple[int, ...] = ()
    text: str = ""
    steps: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    done: bool = False

    def aggregate(self, how: str) -> float:
        """The path's score: its last step's, the minimum, or the product of step scores."""
        if not self.scores:
            return 0.5
        if how == "last":
            return self.scores[-1]
        if how == "min":
            return min(self.scores)
        return float(np.prod(self.scores))


@dataclass
class StepState:
    """Per-problem bookkeeping of a step-wise search: its result, ledger and prompt ids."""

    problem: object
    result: ProblemResult
    prompt_ids: list[int] | None = None   # learnt from the first call (as the engine saw it)
    ledger: PrefixLedger = field(default_factory=PrefixLedger)


def extend(engine, task, states: list[StepState], requests: list[list[tuple[Path, int]]],
           sampling, seed: int, step: int, max_steps: int, step_max_tokens: int | None,
           reward) -> list[list[list[Path]]]:
    """Grow each ``(path, k)`` request of each problem by ``k`` sampled next steps.

    Returns children in the shape of ``requests`` (problem → request → k children), each child
    scored by ``reward`` (its step score appended). Token spend and reward tokens are recorded
    on each problem's result.
    """
    delim = task.step_delimiter
    children: list[list[list[Path]]] = [[[] for _ in reqs] for reqs in requests]
    fresh: list[list[tuple[Path, object]]] = [[] for _ in requests]
    ks = {k for reqs in requests for _, k in reqs}
    if ks:
        # one engine call per step: n = k when every request wants the same k; uneven counts
        # (after resampling) become one request per path with its own n where the engine
        # takes ``n_per_prompt``, else one n = 1 request per wanted child. Seeds are the same
        # either way (sample j of the member at sample offset o gets seed + o + j).
        uneven = len(ks) > 1
        per = uneven and takes_n_per_prompt(engine)
        n = next(iter(ks)) if not uneven else 1
        members = [(pi, ri) for pi, reqs in enumerate(requests)
                   for ri, (_, k) in enumerate(reqs) for _ in range(1 if per else k // n)]
        lefts = [sampling.max_tokens - len(requests[pi][ri][0].ids) for pi, ri in members]
        mt = max(1, min(max(lefts), step_max_tokens or max(lefts)))
        spec = replace(sampling, n=n, max_tokens=mt, stop=(delim,), include_stop=True,
                       seed=request_seed(seed, "step", step, n))
        prompts = [_prompt(states[pi], requests[pi][ri][0]) for pi, ri in members]
        if per:
            outs = engine.generate(prompts, spec,
                                   n_per_prompt=[requests[pi][ri][1] for pi, ri in members])
        else:
            outs = engine.generate(prompts, spec)
        for (pi, ri), prompt, left, samples in zip(members, prompts, lefts, outs):
            parent = requests[pi][ri][0]
            if isinstance(prompt, str):
                prompt = states[pi].prompt_ids = prompt_ids_of(engine, prompt, samples)
            for s in samples:
                states[pi].result.calls.append(states[pi].ledger.record(prompt, s.token_ids))
                child = _child(engine, parent, s, delim, max(1, left), step, max_steps)
                children[pi][ri].append(child)
                fresh[pi].append((child, s))
    todo = [(st, flat) for st, flat in zip(states, fresh) if flat]
    if todo and reward is not None:
        # every problem's new steps in one reward call (score_many where the model has it)
        batches = [(st.problem, [list(c.steps) for c, _ in flat], [s for _, s in flat],
                    st.result) for st, flat in todo]
        for (_, flat), scores in zip(todo, score_batches(reward, batches)):
            for (c, _), v in zip(flat, scores):
                c.scores = c.scores + (float(v),)
    return children


def takes_n_per_prompt(engine) -> bool:
    """True when ``engine.generate`` takes ``n_per_prompt`` (the engine says ``per_prompt_n``
    and its ``generate`` — possibly a caller's wrapper — accepts the keyword)."""
    if not getattr(engine, "per_prompt_n", False):
        return False
    try:
        params = inspect.signature(engine.generate).parameters
    except (TypeError, ValueError):
        return False
    return "n_per_prompt" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _prompt(state: StepState, path: Path):
    """The request for growing ``path``: prompt ids + path ids (the prompt text until its ids,
    as the engine tokenised it, are known from a first call)."""
    if state.prompt_ids is None:
        if path.ids:
            raise RuntimeError("stepwise: prompt ids unknown for a non-empty path")
        return state.problem.prompt
    return state.prompt_ids + list(path.ids)


def prompt_ids_of(engine, text: str, samples) -> list[int]:
    """The prompt's token ids as the engine fed them (``Sample.prompt_token_ids``, which
    includes a BOS token where the tokenizer adds one), else ``engine.tokenize(text)``."""
    ids = list(getattr(samples[0], "prompt_token_ids", None) or []) if samples else []
    return ids or list(engine.tokenize(text))


def _child(engine, parent: Path, s, delim: str, left: int, step: int, max_steps: int) -> Path:
    """The path grown by sample ``s``; a step longer than the path's remaining token budget
    ``left`` (possible when requests with different budgets share one call) is cut to it."""
    ids, text = tuple(s.token_ids), s.text
    hit_delim = s.finish_reason == "stop" and (s.stop_reason == delim or text.endswith(delim))
    if len(ids) > left:
        ids, hit_delim = ids[:left], False
        text = engine.detokenize(ids)
    new_step = text[:-len(delim)] if text.endswith(delim) else text
    steps = parent.steps + ((new_step,) if new_step.strip() else ())
    done = (not hit_delim) or len(ids) >= left or step + 1 >= max_steps
    return Path(parent.ids + ids, parent.text + text, steps, parent.scores, done)


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

    def validate_own(self, strategy: str) -> None:
        """The subclass's own checks (none here)."""


class StepwiseStrategy(Strategy):
    """Base of strategies that grow answers step by step, scored by a process reward model.

    ``run`` checks its arguments and calls ``search`` (the subclass's algorithm). When the
    reward model runs on an engine of its own (``separate_engine``, e.g. the vLLM classifier)
    and option ``overlap_reward`` is on, the problems are searched as two halves in two
    threads that share the policy engine and the reward model, each behind a lock: while one
    half's steps are scored, the other half's next step is generated, so neither engine
    waits for the other. Each half is a fixed, contiguous part of the problem list and each
    engine call holds one half's requests only, so the rows stay reproducible for a fixed
    problem list (they differ from a run without the overlap, whose calls hold all problems).
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
        """The search itself (subclasses); arguments already checked."""
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
