"""The jsonl task: loading, row validation errors, GSM8K/MATH-style extraction, checking."""
from __future__ import annotations

import json

import pytest

from evaluators.errors import EvaluatorError
from evaluators.tasks import get_task
from evaluators.tasks.jsonl import extract_final_answer, last_boxed, load_jsonl


def test_sample_set_loads_with_extracted_answers():
    task = get_task("jsonl", path="sample")
    probs = {p.problem_id: p for p in task.problems()}
    assert len(probs) >= 10
    assert probs["gsm-1"].answer == "8" and probs["gsm-7"].answer == "30,000"
    assert probs["math-1"].answer == "\\frac{5}{6}" and probs["math-3"].answer == "5\\sqrt{2}"
    assert probs["plain-1"].answer == "42" and probs["gsm-1"].meta["source"] == "gsm8k-style"


@pytest.mark.parametrize("text,want", [
    ("so 3+5=8\n#### 8", "8"),
    ("first #### 7 then\n#### 1,200.", "1,200"),
    ("thus $x=\\boxed{\\frac{a}{b^{2}}}$ done", "\\frac{a}{b^{2}}"),
    ("\\boxed{1} and later \\boxed{2}", "2"),
    ("The answer is 17.", "17"),
    ("12+7=19\n\nA: 19", "19"),
    ("we get 3 then 4 then 5 apples", "5"),
    ("no numbers here", None),
])
def test_extract_final_answer(text, want):
    assert extract_final_answer(text) == want


def test_unbalanced_box_and_no_fallback():
    assert last_boxed("\\boxed{1") is None
    assert extract_final_answer("we get 5", fallback=None) is None


def test_check_with_numeric_and_math_verifiers():
    num = get_task("jsonl", path="sample", verifier="numeric")
    p = {q.problem_id: q for q in num.problems()}
    assert num.check(p["gsm-7"], "2500*12 = 30000\n#### 30000")
    assert not num.check(p["gsm-7"], "#### 3000")
    assert num.check(p["math-4"], "it is \\boxed{0.25}")
    math = get_task("jsonl", path="sample", verifier="math", n_problems=12)
    q = {x.problem_id: x for x in math.problems()}
    assert len(q) == 12
    assert math.check(q["math-3"], "$\\sqrt{50}=\\boxed{5\\sqrt{2}}$")
    assert math.check(q["math-1"], "\\boxed{\\frac{10}{12}}")
    assert not math.check(q["math-1"], "\\boxed{\\frac{1}{6}}")


def _write(tmp_path, rows):
    f = tmp_path / "p.jsonl"
    f.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return f


GOOD = {"id": 1, "prompt": "1+1?", "answer": "2"}


@pytest.mark.parametrize("bad,msg", [
    ({"prompt": "x", "answer": "1"}, r"p.jsonl:2: missing field 'id'"),
    ({"id": 2, "answer": "1"}, r"p.jsonl:2: missing field 'prompt'"),
    ({"id": 2, "prompt": "x"}, r"p.jsonl:2: missing field 'answer'"),
    ({"id": 2, "prompt": 5, "answer": "1"}, r"p.jsonl:2: field 'prompt' has type int"),
    ({"id": [1], "prompt": "x", "answer": "1"}, r"p.jsonl:2: field 'id' has type list"),
    ({"id": 2, "prompt": " ", "answer": "1"}, r"p.jsonl:2: field 'prompt' is empty"),
    ({"id": 1, "prompt": "x", "answer": "1"}, r"p.jsonl:2: field 'id' '1' repeats line 1"),
    ("{not json", r"p.jsonl:2: not valid JSON"),
    ("[1, 2]", r"p.jsonl:2: row must be a JSON object"),
])
def test_bad_rows_name_file_line_field(tmp_path, bad, msg):
    with pytest.raises(EvaluatorError, match=msg):
        load_jsonl(_write(tmp_path, [GOOD, bad]))


def test_bad_task_options(tmp_path):
    with pytest.raises(EvaluatorError, match="file not found"):
        get_task("jsonl", path=str(tmp_path / "none.jsonl"))
    with pytest.raises(EvaluatorError, match="n_problems"):
        get_task("jsonl", path="sample", n_problems=0)
    with pytest.raises(EvaluatorError, match="unknown verifier"):
        get_task("jsonl", path="sample", verifier="fuzzy")
