"""The ``jsonl`` task: problems from a JSON-lines file with GSM8K/MATH-style answer extraction.

Each line is an object with ``id`` (str or int), ``prompt`` (str) and ``answer`` (str or
number); other fields go to ``Problem.meta``. A reference answer written GSM8K-style
(``...#### 42``) or MATH-style (``... \\boxed{\\frac{1}{2}}``) is reduced to its final answer.
Completions are read the same way: the last ``#### x``, else the last ``\\boxed{x}``, else the
last ``The answer is x`` / ``A: x``, else (``fallback="last_number"``) the last number.

``get_task("jsonl", path=..., verifier="numeric")``; ``path="sample"`` loads the small set
shipped in ``evaluators/data/sample_math.jsonl``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from evaluators.errors import EvaluatorError
from evaluators.tasks import Problem, register_task

SAMPLE_PATH = Path(__file__).resolve().parents[1] / "data" / "sample_math.jsonl"

_HASHES_RE = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS_RE = re.compile(r"(?:answer is|A:)\s*\$?([^\n$]+?)\$?\s*\.?\s*(?:\n|$)", re.IGNORECASE)
_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; None if absent."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, j = 1, i
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i:j - 1].strip() if depth == 0 else None


def extract_final_answer(text: str | None, fallback: str | None = "last_number") -> str | None:
    """The final answer written in ``text`` (see the module docstring for the order of rules)."""
    if text is None:
        return None
    hashes = _HASHES_RE.findall(text)
    if hashes:
        return hashes[-1].strip().rstrip(".").strip()
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    said = _ANSWER_IS_RE.findall(text)
    if said:
        return said[-1].strip()
    if fallback == "last_number":
        nums = _NUMBER_RE.findall(text)
        return nums[-1] if nums else None
    return None


def load_jsonl(path: str | Path) -> list[Problem]:
    """Read problems from ``path``; a bad row raises EvaluatorError naming file:line and field."""
    path = Path(path)
    if not path.is_file():
        raise EvaluatorError(f"jsonl: file not found: {path}")
    problems, seen = [], {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluatorError(f"jsonl: {where}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise EvaluatorError(f"jsonl: {where}: row must be a JSON object, got {type(row).__name__}")
        for key, types in (("id", (str, int)), ("prompt", (str,)), ("answer", (str, int, float))):
            if key not in row:
                raise EvaluatorError(f"jsonl: {where}: missing field {key!r}")
            if not isinstance(row[key], types) or isinstance(row[key], bool):
                raise EvaluatorError(f"jsonl: {where}: field {key!r} has type "
                                     f"{type(row[key]).__name__}, expected {'/'.join(t.__name__ for t in types)}")
        if not row["prompt"].strip():
            raise EvaluatorError(f"jsonl: {where}: field 'prompt' is empty")
        pid = str(row["id"])
        if pid in seen:
            raise EvaluatorError(f"jsonl: {where}: field 'id' {pid!r} repeats line {seen[pid]}")
        seen[pid] = lineno
        raw = str(row["answer"])
        answer = extract_final_answer(raw, fallback=None) or raw.strip()
        meta = {k: v for k, v in row.items() if k not in ("id", "prompt", "answer")}
        problems.append(Problem(pid, row["prompt"], answer, {**meta, "raw_answer": raw}))
    if not problems:
        raise EvaluatorError(f"jsonl: {path}: no problems in file")
    return problems


@register_task("jsonl")
class JsonlTask:
    """Problems from a JSONL file, checked by a verifier (``exact``/``numeric``/``math``/callable)."""

    name = "jsonl"
    step_delimiter = "\n\n"
    stepwise = False

    def __init__(self, path: str = "sample", verifier: str = "numeric",
                 n_problems: int | None = None, fallback: str | None = "last_number"):
        from evaluators.tasks.verifiers import get_verifier

        if fallback not in (None, "last_number"):
            raise EvaluatorError(f"jsonl: fallback must be 'last_number' or null, got {fallback!r}")
        self.path = SAMPLE_PATH if path == "sample" else Path(path)
        self.verifier_name = verifier if isinstance(verifier, str) else getattr(verifier, "__name__", "callable")
        self.verify = get_verifier(verifier)
        self.fallback = fallback
        self._problems = load_jsonl(self.path)
        if n_problems is not None:
            if not isinstance(n_problems, int) or n_problems < 1:
                raise EvaluatorError(f"jsonl: n_problems must be a positive integer, got {n_problems!r}")
            self._problems = self._problems[:n_problems]

    def problems(self) -> list[Problem]:
        """The problems in file order."""
        return list(self._problems)

    def extract(self, completion: str) -> str | None:
        """The canonical final answer of a completion (for voting), or None."""
        return extract_final_answer(completion, self.fallback)

    def check(self, problem: Problem, completion: str) -> bool:
        """Is the completion's extracted answer equal to the reference (per the verifier)?"""
        got = self.extract(completion)
        return got is not None and bool(self.verify(got, problem.answer))
