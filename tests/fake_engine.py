"""A deterministic fake engine for strategy bookkeeping tests (not a stand-in for vLLM).

It "solves" arith prompts character by character (token id = ``ord(char)``): each step adds the
next operand to the running total of the *previous generated step* and is wrong (+1) with
probability ``p_err``; after the last operation it writes ``A: <total>`` and ends with EOS.
Randomness is a function of (request seed, prompt), with the vllm engine's seed rule (prompt
``pos`` of a call gets ``seed`` plus the samples of the prompts before it — ``pos·n`` for a uniform
``n`` — and its sample ``i`` adds ``i``); ``n_per_prompt`` is supported. Every call is logged in
``calls`` as ``(prompts, sampling, n per prompt)`` for assertions.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from evaluators.tasks.arith import STEP_DELIMITER, parse_expr, split_steps
from evaluators.types import Sample, Score


class FakeArithEngine:
    """Character-level arith 'model' with a per-step error rate."""

    model_id = "fake-arith"
    n_params = 1000

    def __init__(self, p_err: float = 0.3):
        self.p_err = p_err
        self.calls: list[tuple[list, object]] = []
        self._counter = 0

    def tokenize(self, text):
        """One token per character."""
        return [ord(c) for c in text]

    def detokenize(self, ids):
        """Inverse of tokenize."""
        return "".join(chr(i) for i in ids)

    per_prompt_n = True

    def generate(self, prompts, sampling, n_per_prompt=None, seeds=None):
        """``sampling.n`` (or ``n_per_prompt[pos]``) completions per prompt; ``seeds[pos]``
        is prompt ``pos``'s request seed when given."""
        prompts = [p if isinstance(p, str) else self.detokenize(p) for p in prompts]
        ns = list(n_per_prompt) if n_per_prompt is not None else [sampling.n] * len(prompts)
        self.calls.append((prompts, sampling, ns))
        out, offset = [], 0
        for pos, text in enumerate(prompts):
            samples = []
            for i in range(ns[pos]):
                if seeds is not None:
                    base = str(seeds[pos] + i)
                elif sampling.seed is None:
                    self._counter += 1
                    base = f"auto{self._counter}"
                else:  # like the vllm engine: seed + the samples of earlier prompts + i
                    base = str(sampling.seed + offset + i)
                h = hashlib.sha256((base + "|" + text).encode()).digest()
                samples.append(self._one(text, sampling, random.Random(h)))
            offset += ns[pos]
            out.append(samples)
        return out

    def _one(self, text, sampling, rng):
        head, _, partial = text.partition(STEP_DELIMITER)
        prob = parse_expr(head.removeprefix("Q:").strip())
        steps = split_steps(partial)
        acc = prob.operands[0]
        if steps:
            try:
                acc = int(steps[-1].split("=")[-1])
            except ValueError:
                pass
        pieces = []
        for j in range(len(steps), len(prob.ops) + 1):
            if j == len(prob.ops):
                pieces.append(f"A: {acc}")
                break
            op, x = prob.ops[j], prob.operands[j + 1]
            new = (acc + x if op == "+" else acc - x) + (1 if rng.random() < self.p_err else 0)
            pieces.append(f"{acc}{op}{x}={new}{STEP_DELIMITER}")
            acc = new
        full = "".join(pieces)
        finish, stop_reason = "eos", None
        delim = STEP_DELIMITER if STEP_DELIMITER in sampling.stop else None
        if delim and delim in full:
            full = full[: full.index(delim) + len(delim)]
            finish, stop_reason = "stop", delim
        if len(full) > sampling.max_tokens:
            full, finish, stop_reason = full[: sampling.max_tokens], "length", None
        ids = self.tokenize(full)
        lps = [-0.1 - 0.01 * (k % 3) for k in range(len(ids))]
        return Sample(full, ids, lps, sum(lps), len(text), len(ids), finish, stop_reason,
                      prompt_token_ids=self.tokenize(text))


class PipelinedFakeEngine(FakeArithEngine):
    """The fake engine with ``pipeline``: requests finish in a seeded random order (as in a
    real engine, where short steps come back first), and follow-ups join the queue at once.
    ``order`` logs the tags in the order they finished; ``calls`` logs one entry per request."""

    def __init__(self, p_err: float = 0.3, order_seed: int = 0):
        super().__init__(p_err)
        self.rng, self.order = random.Random(order_seed), []

    def pipeline(self, requests, sampling, on_done):
        """Run ``requests`` and the follow-ups ``on_done`` returns, in random finish order."""
        from dataclasses import replace

        live = list(requests)
        while live:
            r = live.pop(self.rng.randrange(len(live)))
            spec = replace(sampling, n=r.n, max_tokens=r.max_tokens, seed=r.seed)
            samples = self.generate([r.prompt], spec, seeds=None if r.seed is None else [r.seed])[0]
            self.order.append(r.tag)
            live.extend(on_done(r, samples))


@dataclass
class StepOracle:
    """Exact step checker as a PRM (score 1.0/0.0 per last step), counting scored chars."""

    task: object
    name: str = "oracle"
    oracle: bool = True

    def score(self, problem, steps_list, samples=None):
        """Score each candidate's last step (an ORM-style call scores the answer line)."""
        out = []
        for steps in steps_list:
            steps = list(steps)
            ok = bool(steps) and self.task.check_step(problem, steps[:-1], steps[-1])
            out.append(Score(1.0 if ok else 0.0, sum(len(s) for s in steps)))
        return out


def tts_spec_dict(tmp_path, **over):
    """A small test-time spec (4 strategies, 3 budget points, 10 arith problems) as a mapping."""
    d = {"name": "t", "storage": str(tmp_path), "models": [str(tmp_path)],
         "task": {"name": "arith", "options": {"n_problems": 10}},
         "strategies": ["majority", "best_of_n", "particle_filtering",
                        {"name": "beam_search", "options": {"beam_width": 2}}],
         "budgets": {"parallel": [2, 4], "sequential": [16], "n": 2}, "chunk_size": 4}
    d.update(over)
    return d
