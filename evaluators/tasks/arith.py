"""The ``arith`` task: multi-step arithmetic with a worked chain of verifiable steps.

Format (character-level friendly; steps are separated by the delimiter ``"\\n\\n"``)::

    Q: 12+7+35\\n\\n            <- prompt (ends with the delimiter)
    12+7=19\\n\\n               <- step 1: running total (op) next operand = new total
    19+35=54\\n\\n              <- step 2
    A: 54                     <- final answer line, then end of sequence

Every step is checkable on its own (:func:`check_step`), which makes the task's step checker
an exact process reward model (an *oracle*), and the final line is checked by
:func:`check_answer`. Problems are split into train and held-out sets by a hash of the
expression, so a model trained on ``train`` text is evaluated on problems it never saw.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Iterator

from evaluators.errors import EvaluatorError
from evaluators.tasks import Problem, register_task

STEP_DELIMITER = "\n\n"
ANSWER_PREFIX = "A: "

# Difficulty levels (measured on a ~100K-parameter model, see ARCHITECTURE.md): 1 is nearly solved,
# 2 leaves clear room for test-time scaling, 3 is too hard at tiny scale.
LEVELS: dict[int, dict] = {
    1: {"operands": (2, 3), "digits": (1, 1), "ops": "+"},
    2: {"operands": (2, 4), "digits": (1, 2), "ops": "+"},
    3: {"operands": (3, 4), "digits": (1, 3), "ops": "+-"},
}

_STEP_RE = re.compile(r"^\s*(-?\d+)\s*([+-])\s*(\d+)\s*=\s*(-?\d+)\s*$")
_ANSWER_RE = re.compile(r"A:\s*(-?\d+)")


@dataclass(frozen=True)
class ArithProblem:
    """Operands and operators of one problem (``ops[i]`` joins operand i and i+1)."""

    operands: tuple[int, ...]
    ops: tuple[str, ...]

    @property
    def expr(self) -> str:
        """The expression as shown in the prompt, e.g. ``12+7-3``."""
        out = str(self.operands[0])
        for op, x in zip(self.ops, self.operands[1:]):
            out += f"{op}{x}"
        return out

    def totals(self) -> list[int]:
        """Running totals after each operation (the last is the answer)."""
        acc, out = self.operands[0], []
        for op, x in zip(self.ops, self.operands[1:]):
            acc = acc + x if op == "+" else acc - x
            out.append(acc)
        return out

    @property
    def answer(self) -> int:
        """The final value of the expression."""
        return self.totals()[-1]


def parse_expr(expr: str) -> ArithProblem:
    """Parse ``12+7-3`` into an :class:`ArithProblem`; raises EvaluatorError if malformed."""
    tokens = re.findall(r"\d+|[+-]", expr.replace(" ", ""))
    if len(tokens) < 3 or len(tokens) % 2 == 0 or "".join(tokens) != expr.replace(" ", ""):
        raise EvaluatorError(f"arith: cannot parse expression {expr!r}")
    return ArithProblem(tuple(int(t) for t in tokens[0::2]), tuple(tokens[1::2]))


def prompt_of(p: ArithProblem) -> str:
    """The prompt text for a problem (ends with the step delimiter)."""
    return f"Q: {p.expr}{STEP_DELIMITER}"


def steps_of(p: ArithProblem) -> list[str]:
    """The worked steps (without delimiters), e.g. ``["12+7=19", "19+35=54"]``."""
    steps, acc = [], p.operands[0]
    for op, x, total in zip(p.ops, p.operands[1:], p.totals()):
        steps.append(f"{acc}{op}{x}={total}")
        acc = total
    return steps


def solution_of(p: ArithProblem) -> str:
    """The full worked solution that follows the prompt: steps, delimiters, answer line."""
    return "".join(s + STEP_DELIMITER for s in steps_of(p)) + f"{ANSWER_PREFIX}{p.answer}"


def is_heldout(p: ArithProblem, heldout_fraction: float = 0.1) -> bool:
    """True when the problem belongs to the held-out split (stable hash of the expression)."""
    h = int.from_bytes(hashlib.sha256(p.expr.encode()).digest()[:8], "big")
    return (h % 10_000) < heldout_fraction * 10_000


def generate(level: int = 2, seed: int = 0, split: str = "train",
             heldout_fraction: float = 0.1) -> Iterator[ArithProblem]:
    """Yield an endless stream of problems of ``level`` from ``split`` (train|heldout|all)."""
    if level not in LEVELS:
        raise EvaluatorError(f"arith: level must be one of {sorted(LEVELS)}, got {level!r}")
    if split not in ("train", "heldout", "all"):
        raise EvaluatorError(f"arith: split must be train|heldout|all, got {split!r}")
    cfg, rng = LEVELS[level], random.Random(seed)
    while True:
        k = rng.randint(*cfg["operands"])
        operands = tuple(rng.randint(0, 10 ** rng.randint(*cfg["digits"]) - 1) for _ in range(k))
        ops = tuple(rng.choice(cfg["ops"]) for _ in range(k - 1))
        p = ArithProblem(operands, ops)
        if split != "all" and is_heldout(p, heldout_fraction) != (split == "heldout"):
            continue
        yield p


def training_documents(n: int, level: int = 2, seed: int = 0) -> list[str]:
    """``n`` train-split documents (prompt + worked solution); the trainer appends EOS."""
    gen = generate(level, seed, "train")
    return [prompt_of(p) + solution_of(p) for p in (next(gen) for _ in range(n))]


def extract_answer(text: str) -> str | None:
    """The final answer in a completion (the first ``A: <int>`` line), or None."""
    m = _ANSWER_RE.search(text)
    return m.group(1) if m else None


def check_answer(text: str, reference: str | int) -> bool:
    """True when the completion's final answer equals ``reference``."""
    got = extract_answer(text)
    return got is not None and int(got) == int(reference)


def check_step(problem: ArithProblem | str, previous_steps: list[str], step: str) -> bool:
    """Exact step checker: is ``step`` the correct next step after ``previous_steps``?

    The answer line (``A: x``) is correct when all operations are done and x is the answer.
    ``problem`` may be an :class:`ArithProblem` or its expression / prompt text.
    """
    if isinstance(problem, str):
        problem = parse_expr(problem.removeprefix("Q:").strip())
    step = step.strip()
    i = len(previous_steps)
    if step.startswith("A:"):
        got = extract_answer(step)
        return i == len(problem.ops) and got is not None and int(got) == problem.answer
    m = _STEP_RE.match(step)
    if not m or i >= len(problem.ops):
        return False
    lhs, op, rhs, res = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
    acc = problem.operands[0] if i == 0 else problem.totals()[i - 1]
    return (lhs, op, rhs, res) == (acc, problem.ops[i], problem.operands[i + 1], problem.totals()[i])


def split_steps(completion: str) -> list[str]:
    """Split a completion into its non-empty steps (the answer line is the last step)."""
    return [s for s in completion.split(STEP_DELIMITER) if s.strip()]


@register_task("arith")
class ArithTask:
    """Held-out arith problems for evaluation, with exact answer and step checkers."""

    name = "arith"
    step_delimiter = STEP_DELIMITER
    stepwise = True

    def __init__(self, level: int = 2, n_problems: int = 50, seed: int = 1234):
        if not isinstance(n_problems, int) or n_problems < 1:
            raise EvaluatorError(f"arith: n_problems must be a positive integer, got {n_problems!r}")
        self.level, self.n_problems, self.seed = level, n_problems, seed
        gen, seen, self._problems = generate(level, seed, "heldout"), set(), []
        while len(self._problems) < n_problems:
            p = next(gen)
            if p.expr in seen:
                continue
            seen.add(p.expr)
            self._problems.append(p)

    def problems(self) -> list[Problem]:
        """The evaluation problems (held-out split, deterministic for a seed)."""
        return [Problem(f"arith-L{self.level}-{p.expr}", prompt_of(p), str(p.answer),
                        {"expr": p.expr, "n_steps": len(p.ops) + 1}) for p in self._problems]

    def check(self, problem: Problem, completion: str) -> bool:
        """Is the completion's final answer correct?"""
        return check_answer(completion, problem.answer)

    def extract(self, completion: str) -> str | None:
        """The canonical answer of a completion (for majority voting), or None."""
        return extract_answer(completion)

    def check_step(self, problem: Problem, previous_steps: list[str], step: str) -> bool:
        """Exact per-step check (oracle PRM)."""
        return check_step(problem.meta.get("expr") or problem.prompt, previous_steps, step)
