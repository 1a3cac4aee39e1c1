"""Data types shared by engines, reward models and strategies.

Every engine implements ``generate(prompts, sampling) -> list[list[Sample]]`` (one list of
``sampling.n`` samples per prompt). A prompt is either text or a list of token ids (step-wise
search continues from token ids: re-sending text re-tokenises differently). Engines may also
take ``n_per_prompt`` (``per_prompt_n = True``) and ``seeds`` (one request seed per prompt), and
may offer ``pipeline(requests, sampling, on_done)``: requests that feed new requests as soon as
each finishes, so a step-wise search never waits for a whole step of every problem.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, Union, runtime_checkable

Prompt = Union[str, Sequence[int]]


@dataclass(frozen=True)
class SamplingSpec:
    """Sampling parameters understood by every engine."""

    n: int = 1
    temperature: float = 0.8
    top_p: float = 1.0
    max_tokens: int = 64
    stop: tuple[str, ...] = ()
    include_stop: bool = True
    seed: int | None = None
    logprobs: bool = True


@dataclass(frozen=True)
class Request:
    """One request of a pipelined engine run (``engine.pipeline``): a prompt, the samples
    wanted, the request seed (sample ``j`` gets ``seed + j``) and a token cap; ``tag`` is the
    caller's own and comes back with the samples."""

    prompt: Prompt
    n: int = 1
    seed: int | None = None
    max_tokens: int = 64
    tag: Any = None


@dataclass
class Sample:
    """One completion with what it cost and how it ended."""

    text: str
    token_ids: list[int]
    logprobs: list[float]            # per generated token (empty if not requested)
    cumulative_logprob: float
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str               # "stop" | "length" | "eos"
    stop_reason: str | None = None   # the stop string hit, if any
    meta: dict = field(default_factory=dict)   # e.g. "cached_prompt_tokens" (prefix-cache hits)
    prompt_token_ids: list[int] = field(default_factory=list)  # the prompt as the engine saw it

    @property
    def mean_logprob(self) -> float:
        """Mean per-token logprob (0.0 for an empty completion)."""
        return self.cumulative_logprob / max(1, self.completion_tokens)


@runtime_checkable
class Engine(Protocol):
    """A text generator. Implementations live in ``evaluators/engines`` (a registry)."""

    model_id: str
    n_params: int          # non-embedding parameters N (for FLOP accounting)

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingSpec) -> list[list[Sample]]:
        """Generate ``sampling.n`` samples for every prompt."""
        ...

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        ...

    def detokenize(self, ids: Sequence[int]) -> str:
        """Text of token ids."""
        ...


@dataclass
class Score:
    """A reward model's verdict on one (partial) completion, and the tokens it read."""

    value: float            # in [0, 1] for PRMs/ORMs that output probabilities
    scored_tokens: int      # tokens the reward model processed (for FLOP accounting)
    flops: float = 0.0      # reward-model FLOPs spent (0 for oracles and the policy's logprob)


@runtime_checkable
class RewardModel(Protocol):
    """Outcome or process reward model. ``oracle`` is True for exact checkers."""

    name: str
    oracle: bool

    def score(self, problem, steps_list: Sequence[Sequence[str]],
              samples: Sequence[Sample] | None = None) -> list[Score]:
        """Score each candidate, given its steps so far (a PRM scores the last step; an ORM
        treats the joined steps as the whole answer)."""
        ...
