"""Reward models (a registry): outcome (ORM) and process (PRM) scorers with their compute.

Every reward model implements :class:`evaluators.types.RewardModel`: ``score(problem,
steps_list, samples=None) -> list[Score]``; ``Score.scored_tokens`` and ``Score.flops`` are the
tokens it read and the FLOPs it spent (0 for those that run no model). ``needs_logprobs`` says
whether it reads the samples' token logprobs (strategies ask the engine for them only then).

* ``oracle`` — the task's exact checker: ``mode="orm"`` checks the final answer of the joined
  steps, ``mode="prm"`` checks the last step with the task's step checker. ``oracle = True``
  so result rows say the reward was exact, not learned.
* ``logprob`` — the policy's own confidence: ``exp(mean token logprob)`` of the candidate's
  :class:`Sample` (the last step's sample for a PRM); no extra compute.
* ``classifier`` — a sequence-classification model (e.g. ``LlamaForSequenceClassification``)
  served by vLLM's pooling runner; the score is ``sigmoid(logit)`` for one label, else the
  softmax probability of label ``positive_label``; FLOPs by
  :func:`evaluators.accounting.score_cost`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from evaluators.accounting import ModelShape, score_cost
from evaluators.errors import EvaluatorError
from evaluators.types import Sample, Score
from laws.registry import Registry

REWARD_MODELS = Registry("reward model", EvaluatorError)   # the built-ins are defined below
register_reward_model = REWARD_MODELS.register


def make_reward_model(name: str, **options):
    """Build reward model ``name`` with ``options``; unknown names raise EvaluatorError."""
    return REWARD_MODELS.build(name, **options)


def _check_mode(mode: str) -> str:
    if mode not in ("orm", "prm"):
        raise EvaluatorError(f"reward model: mode must be 'orm' or 'prm', got {mode!r}")
    return mode


@register_reward_model("oracle")
class OracleReward:
    """The task's exact answer checker (ORM) or step checker (PRM): 1.0 correct, 0.0 not."""

    oracle = True
    needs_logprobs = False

    def __init__(self, task, mode: str = "orm"):
        self.task, self.mode = task, _check_mode(mode)
        if self.mode == "prm" and not getattr(task, "stepwise", False):
            raise EvaluatorError(f"reward model: task {getattr(task, 'name', task)!r} has no step "
                                 "checker, so the oracle cannot be a PRM (use mode='orm')")
        self.name = f"oracle-{self.mode}"

    def score(self, problem, steps_list: Sequence[Sequence[str]],
              samples: Sequence[Sample] | None = None) -> list[Score]:
        """1.0/0.0 per candidate; no model runs, so 0 tokens and 0 FLOPs."""
        delim = getattr(self.task, "step_delimiter", "\n\n")
        out = []
        for steps in steps_list:
            steps = list(steps)
            if self.mode == "orm":
                ok = self.task.check(problem, delim.join(steps))
            else:
                ok = bool(steps) and self.task.check_step(problem, steps[:-1], steps[-1])
            out.append(Score(1.0 if ok else 0.0, 0, 0.0))
        return out


@register_reward_model("logprob")
class LogprobReward:
    """The policy's mean token logprob, as ``exp(mean)`` in (0, 1]; free (read from samples)."""

    oracle = False
    needs_logprobs = True            # reads Sample.logprobs (engines return them on request)

    def __init__(self, task=None, mode: str = "orm"):
        self.mode = _check_mode(mode)
        self.name = f"logprob-{self.mode}"

    def score(self, problem, steps_list: Sequence[Sequence[str]],
              samples: Sequence[Sample] | None = None) -> list[Score]:
        """One score per sample; needs the samples (generated with ``logprobs=True``)."""
        if samples is None or len(samples) != len(steps_list):
            raise EvaluatorError("reward model: 'logprob' needs one Sample per candidate "
                                 "(generate with SamplingSpec(logprobs=True))")
        return [Score(math.exp(min(0.0, s.mean_logprob)), 0, 0.0) for s in samples]


@register_reward_model("classifier")
class ClassifierReward:
    """A sequence-classification reward model on vLLM's pooling runner (in this process).

    ``model`` is an HF directory whose ``architectures`` is a ``*ForSequenceClassification``.
    The scored text is ``problem.prompt + delimiter.join(steps)``; as an ORM it reads the whole
    candidate, as a PRM the same text up to the last step (one score per prefix).
    """

    oracle = False
    needs_logprobs = False
    separate_engine = True           # its own vLLM engine: step-wise search overlaps it

    def __init__(self, model: str, task=None, mode: str = "orm", positive_label: int = 1,
                 max_model_len: int | None = None, name: str | None = None, llm_kwargs: dict | None = None):
        from vllm import LLM

        if not (Path(str(model)) / "config.json").is_file():
            raise EvaluatorError(f"reward model: classifier directory {str(model)!r} has no config.json")
        self.mode, self.positive_label = _check_mode(mode), int(positive_label)
        self.delim = getattr(task, "step_delimiter", "\n\n")
        self.name = name or f"classifier-{Path(str(model)).name}-{self.mode}"
        self.shape = ModelShape.from_hf_dir(model)
        if self.shape.n_labels < 1:
            raise EvaluatorError(f"reward model: {str(model)!r} is not a sequence-classification "
                                 "model (its architectures lack '...ForSequenceClassification')")
        kwargs = dict(model=str(model), runner="pooling",
                      enable_prefix_caching=False)
        if max_model_len:
            kwargs["max_model_len"] = int(max_model_len)
        from evaluators.engines.vllm_engine import _on_gpu, eager_from_env

        if not _on_gpu():
            kwargs["block_size"] = 32
        if eager_from_env():
            kwargs["enforce_eager"] = True
        kwargs.update(llm_kwargs or {})
        self.llm = LLM(**kwargs)

    def logits(self, texts: Sequence[str]) -> list[tuple[list[float], int, int]]:
        """Raw class logits, token count and prefix-cache hits for each text."""
        from vllm import PoolingParams

        outs = self.llm.classify(list(texts), pooling_params=PoolingParams(use_activation=False),
                                 use_tqdm=False)
        return [(list(map(float, o.outputs.probs)), len(o.prompt_token_ids),
                 int(getattr(o, "num_cached_tokens", 0) or 0)) for o in outs]

    def _prob(self, logits: list[float]) -> float:
        if len(logits) == 1:
            return 1.0 / (1.0 + math.exp(-logits[0]))
        m = max(logits)
        z = [math.exp(x - m) for x in logits]
        return z[self.positive_label] / sum(z)

    def score(self, problem, steps_list: Sequence[Sequence[str]],
              samples: Sequence[Sample] | None = None) -> list[Score]:
        """Probability that each candidate (or its last step) is correct, with tokens and FLOPs."""
        return self.score_many([(problem, steps_list, samples)])[0]

    def score_many(self, items) -> list[list[Score]]:
        """:meth:`score` for many ``(problem, steps_list, samples)`` in ONE engine call."""
        texts = [problem.prompt + self.delim.join(steps)
                 for problem, steps_list, _ in items for steps in steps_list]
        flat = []
        for logits, n_tok, cached in (self.logits(texts) if texts else []):
            cost = score_cost(self.shape, n_tok, cached)
            flat.append(Score(self._prob(logits), n_tok, cost["flops"]))
        out, i = [], 0
        for _, steps_list, _ in items:
            out.append(flat[i:i + len(steps_list)])
            i += len(steps_list)
        return out

    def shutdown(self) -> None:
        """Stop the pooling engine; safe to call twice."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()


def random_classifier(tokenizer_dir, out, seed: int = 1):
    """Write a tiny random ``LlamaForSequenceClassification`` (1 label, width 64, 2 layers)
    with the tokenizer of ``tokenizer_dir`` to ``out``; returns ``out``. A reward model with
    real compute on its own engine for tests and benchmarks — its scores mean nothing."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                      head_dim=32, max_position_embeddings=512, num_labels=1,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    LlamaForSequenceClassification(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out
