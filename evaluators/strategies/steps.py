"""Growing partial answers by one step: the engine side of step-wise search (particle filtering,
beam search; their shared options and strategy base are in :mod:`evaluators.strategies.stepwise`).

A :class:`Path` is a partial answer: the completion's token ids so far, its text, its steps and
one reward score per step. Each problem's search is a :class:`Searcher` (what its next step
wants, what it does with the children); :func:`drive` runs them all. A request is the problem
prompt's token ids plus the path's token ids (never re-sent text — re-tokenising a partial
answer gives different ids), stopping at the task's step delimiter. Identical paths are merged
into one request with ``n = k`` samples (``n_per_prompt`` where the engine takes it, else ``k``
``n = 1`` requests with the same seeds).

Two ways to drive them, same paths:

* **pipelined** (an engine with ``pipeline``, e.g. the in-process vLLM engine, and a reward
  model that needs no engine of its own): a problem's next step is sent as soon as its own
  step is back, so the engine's batch stays full while other problems are still decoding —
  no barrier at the slowest step of all problems. Each request asks for at most its own
  remaining tokens.
* **lock-step** (any other engine): all problems advance together, ONE engine call per step
  (small calls are what makes step-wise search slow); requests of one call share
  ``max_tokens`` (the largest remaining budget among them), and a path that would overrun its
  own remaining budget is cut to it and finished — its tokens beyond the cut were really
  generated, so they still count as spent.

Seeds: request ``r`` of problem ``p`` at step ``t`` gets ``request_seed(seed, p, "step", t)``
plus the samples of ``p``'s earlier requests of that step, and its sample ``j`` adds ``j``, so
clones after resampling explore different continuations, a problem's samples do not depend on
the other problems or on the order in which requests finish, and the rows are reproducible.
An engine whose ``generate`` does not take ``seeds`` gets one call per problem per step.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace

import numpy as np

from evaluators.strategies.base import PrefixLedger, ProblemResult, request_seed, score_batches
from evaluators.types import Request


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


@dataclass
class Member:
    """One engine request of a step: grow ``parent`` (request ``ri`` of problem ``pi``) by
    ``k`` samples from request seed ``seed`` (sample ``j`` gets ``seed + j``); ``left`` is what
    remains of the path's token budget."""

    pi: int
    ri: int
    parent: Path
    k: int
    seed: int
    left: int
    prompt: object


def plan_step(states: list[StepState], requests: list[list[tuple[Path, int]]], sampling,
              seed: int, step: int) -> list[list[Member]]:
    """The engine requests of one step, per problem. Each problem is seeded on its own (base
    ``request_seed(seed, problem_id, "step", step)`` plus the samples of its earlier requests),
    so its samples do not depend on which other problems share a call or in what order calls
    finish."""
    plans = []
    for pi, (st, reqs) in enumerate(zip(states, requests)):
        base, off, plan = request_seed(seed, st.problem.problem_id, "step", step), 0, []
        for ri, (path, k) in enumerate(reqs):
            plan.append(Member(pi, ri, path, k, base + off, sampling.max_tokens - len(path.ids),
                               _prompt(st, path)))
            off += k
        plans.append(plan)
    return plans


def extend(engine, task, states: list[StepState], requests: list[list[tuple[Path, int]]],
           sampling, seed: int, step: int, max_steps: int, step_max_tokens: int | None,
           reward) -> list[list[list[Path]]]:
    """Grow each ``(path, k)`` request of each problem by ``k`` sampled next steps, all
    problems in ONE engine call (one call per problem on an engine without ``seeds``).

    Returns children in the shape of ``requests`` (problem → request → k children), each child
    scored by ``reward`` (its step score appended). Token spend and reward tokens are recorded
    on each problem's result.
    """
    plans = plan_step(states, requests, sampling, seed, step)
    got: list[list[list]] = [[[] for _ in plan] for plan in plans]
    seeded = takes_keyword(engine, "seeds")
    calls = [[m for plan in plans for m in plan]] if seeded else plans
    for members in calls:
        if not members:
            continue
        # n = k when every request of the call wants the same k; uneven counts (after
        # resampling) become one request per path with its own n where the engine takes
        # ``n_per_prompt``, else one n = 1 request per wanted child (same seeds either way)
        uneven = len({m.k for m in members}) > 1
        per = uneven and takes_n_per_prompt(engine)
        n = members[0].k if not uneven else 1
        reqs = [(m, j) for m in members for j in range(0, m.k, 1 if uneven and not per else m.k)]
        lefts = [m.left for m in members]
        mt = max(1, min(max(lefts), step_max_tokens or max(lefts)))
        spec = replace(sampling, n=n, max_tokens=mt, stop=(task.step_delimiter,),
                       include_stop=True, seed=members[0].seed)
        kw = {}
        if per:
            kw["n_per_prompt"] = [m.k for m in members]
        if seeded:
            kw["seeds"] = [m.seed + j for m, j in reqs]
        outs = engine.generate([m.prompt for m, _ in reqs], spec, **kw)
        for (m, _), samples in zip(reqs, outs):
            got[m.pi][m.ri].extend(samples)
    return grow(engine, task, states, plans, got, step, max_steps, reward)


def grow(engine, task, states, plans, got, step: int, max_steps: int, reward):
    """Turn each member's samples into children (in plan order, so the prefix ledger sees the
    same sequence however the samples arrived), record their spend, and score them."""
    delim = task.step_delimiter
    children: list[list[list[Path]]] = [[[] for _ in plan] for plan in plans]
    fresh: list[list[tuple[Path, object]]] = [[] for _ in plans]
    for plan in plans:
        for m in plan:
            st, samples, prompt = states[m.pi], got[m.pi][m.ri], m.prompt
            if isinstance(prompt, str):
                prompt = st.prompt_ids = prompt_ids_of(engine, prompt, samples)
            for s in samples:
                st.result.calls.append(st.ledger.record(prompt, s.token_ids))
                child = _child(engine, m.parent, s, delim, max(1, m.left), step, max_steps)
                children[m.pi][m.ri].append(child)
                fresh[m.pi].append((child, s))
    todo = [(st, flat) for st, flat in zip(states, fresh) if flat]
    if todo and reward is not None:
        # every problem's new steps in one reward call (score_many where the model has it)
        batches = [(st.problem, [list(c.steps) for c, _ in flat], [s for _, s in flat],
                    st.result) for st, flat in todo]
        for (_, flat), scores in zip(todo, score_batches(reward, batches)):
            for (c, _), v in zip(flat, scores):
                c.scores = c.scores + (float(v),)
    return children


class Searcher:
    """One problem's step-wise search, driven by :func:`drive`: ``wants()`` returns the
    ``(path, k)`` requests of its next step (empty when it is done), ``take(children, step)``
    consumes their children, ``finish(task)`` fills in its result. ``state`` holds its result,
    ledger and prompt ids."""

    state: StepState

    def wants(self) -> list[tuple[Path, int]]:
        """The next step's requests (empty: finished)."""
        raise NotImplementedError

    def take(self, children: list[list[Path]], step: int) -> None:
        """Consume the children of the requests :meth:`wants` returned."""
        raise NotImplementedError

    def finish(self, task) -> None:
        """Fill in the result's candidates, answer and meta once the search is over."""
        raise NotImplementedError


def drive(engine, task, searchers: list[Searcher], sampling, seed: int, max_steps: int,
          step_max_tokens: int | None, reward, pipeline: bool = True) -> None:
    """Run every searcher to its end. On an engine with ``pipeline`` (and a reward model that
    needs no engine of its own), each problem moves to its next step as soon as its own step
    is back; otherwise all problems advance in lock-step, one engine call per step. Both give
    the same paths (same per-problem seeds); the pipelined run caps each request at its own
    remaining tokens, so it spends at most as many."""
    if pipeline and hasattr(engine, "pipeline") and not getattr(reward, "separate_engine", False):
        return _drive_pipelined(engine, task, searchers, sampling, seed, max_steps,
                                step_max_tokens, reward)
    for step in range(max_steps):
        active = [(s, w) for s in searchers for w in [s.wants()] if w]
        if not active:
            return
        kids = extend(engine, task, [s.state for s, _ in active], [w for _, w in active],
                      sampling, seed, step, max_steps, step_max_tokens, reward)
        for (s, _), k in zip(active, kids):
            s.take(k, step)


def _drive_pipelined(engine, task, searchers, sampling, seed, max_steps, step_max_tokens,
                     reward) -> None:
    """:func:`drive` on ``engine.pipeline``: a problem's next step is sent when the last
    request of its current step returns."""
    spec = replace(sampling, stop=(task.step_delimiter,), include_stop=True)
    steps = [0] * len(searchers)
    waiting: dict[int, list] = {}   # problem -> [plan, samples per member, members left]

    def send(pi: int) -> list[Request]:
        s = searchers[pi]
        want = s.wants() if steps[pi] < max_steps else []
        if not want:
            return []
        plan = plan_step([s.state], [want], sampling, seed, steps[pi])[0]
        waiting[pi] = [plan, [[] for _ in plan], len(plan)]
        return [Request(m.prompt, m.k, m.seed, max(1, min(m.left, step_max_tokens or m.left)),
                        (pi, ri)) for ri, m in enumerate(plan)]

    def on_done(req: Request, samples) -> list[Request]:
        pi, ri = req.tag
        entry = waiting[pi]
        entry[1][ri], entry[2] = list(samples), entry[2] - 1
        if entry[2]:
            return []
        del waiting[pi]
        s = searchers[pi]
        kids = grow(engine, task, [s.state], [entry[0]], [entry[1]], steps[pi], max_steps, reward)
        s.take(kids[0], steps[pi])
        steps[pi] += 1
        return send(pi)

    first = [r for pi in range(len(searchers)) for r in send(pi)]
    if first:
        engine.pipeline(first, spec, on_done)


def takes_keyword(engine, name: str) -> bool:
    """True when ``engine.generate`` — possibly a caller's wrapper — accepts keyword ``name``."""
    try:
        params = inspect.signature(engine.generate).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def takes_n_per_prompt(engine) -> bool:
    """True when ``engine.generate`` takes ``n_per_prompt`` (the engine says ``per_prompt_n``
    and its ``generate`` — possibly a caller's wrapper — accepts the keyword)."""
    return bool(getattr(engine, "per_prompt_n", False)) and takes_keyword(engine, "n_per_prompt")


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
