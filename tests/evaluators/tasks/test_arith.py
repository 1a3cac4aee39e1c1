"""The arith task: format, splits, answer and step checkers (hand-written expectations)."""
import pytest

from evaluators.errors import EvaluatorError
from evaluators.tasks import arith, get_task


def test_worked_solution_format():
    p = arith.parse_expr("12+7-3")
    assert arith.prompt_of(p) == "Q: 12+7-3\n\n"
    assert arith.solution_of(p) == "12+7=19\n\n19-3=16\n\nA: 16"
    assert p.answer == 16


@pytest.mark.parametrize("text,ref,ok", [
    ("12+7=19\n\n19-3=16\n\nA: 16", 16, True),
    ("A: 16", "16", True),
    ("A: 15", 16, False),
    ("12+7=19\n\n19-3=16", 16, False),  # no answer line
    ("A: -4", -4, True),
])
def test_check_answer(text, ref, ok):
    assert arith.check_answer(text, ref) is ok


def test_step_checker_accepts_only_the_correct_next_step():
    p = arith.parse_expr("12+7-3")
    assert arith.check_step(p, [], "12+7=19")
    assert not arith.check_step(p, [], "12+7=18")        # wrong sum
    assert not arith.check_step(p, [], "7+12=19")        # wrong order of operands
    assert not arith.check_step(p, [], "19-3=16")        # skipped a step
    assert arith.check_step(p, ["12+7=19"], "19-3=16")
    assert not arith.check_step(p, ["12+7=19"], "A: 16")  # answer before the last step
    assert arith.check_step(p, ["12+7=19", "19-3=16"], "A: 16")
    assert not arith.check_step(p, ["12+7=19", "19-3=16"], "A: 17")
    assert not arith.check_step(p, ["a", "b", "c"], "1+1=2")  # more steps than operations
    assert arith.check_step("Q: 12+7-3\n\n", [], "12+7=19")   # from the prompt text


def test_split_steps_roundtrip():
    p = arith.parse_expr("5+65+51")
    assert arith.split_steps(arith.solution_of(p)) == ["5+65=70", "70+51=121", "A: 121"]


def test_train_and_heldout_are_disjoint_and_deterministic():
    train = {p.expr for p, _ in zip(arith.generate(2, 0, "train"), range(3000))}
    held = {p.expr for p, _ in zip(arith.generate(2, 0, "heldout"), range(300))}
    assert train and held and not (train & held)
    again = [p.expr for p, _ in zip(arith.generate(2, 0, "train"), range(50))]
    assert again == [p.expr for p, _ in zip(arith.generate(2, 0, "train"), range(50))]


def test_levels_respect_their_ranges():
    for p, _ in zip(arith.generate(1, 3, "all"), range(500)):
        assert 2 <= len(p.operands) <= 3 and all(0 <= x <= 9 for x in p.operands)
        assert set(p.ops) <= {"+"}
    ops = set()
    for p, _ in zip(arith.generate(3, 3, "all"), range(500)):
        assert 3 <= len(p.operands) <= 4 and all(0 <= x <= 999 for x in p.operands)
        ops |= set(p.ops)
    assert ops == {"+", "-"}


def test_training_documents_are_complete_solutions():
    docs = arith.training_documents(20, level=2, seed=1)
    assert len(docs) == 20
    for d in docs:
        prompt, _, rest = d.partition("\n\n")
        p = arith.parse_expr(prompt.removeprefix("Q: "))
        assert rest == arith.solution_of(p)
        assert not arith.is_heldout(p)


def test_task_problems_are_heldout_unique_and_checkable():
    task = get_task("arith", level=2, n_problems=30, seed=7)
    probs = task.problems()
    assert len({p.problem_id for p in probs}) == 30
    for pr in probs:
        p = arith.parse_expr(pr.meta["expr"])
        assert arith.is_heldout(p)
        assert task.check(pr, arith.solution_of(p))
        steps = arith.split_steps(arith.solution_of(p))
        assert all(task.check_step(pr, steps[:i], s) for i, s in enumerate(steps))


@pytest.mark.parametrize("kwargs,field", [
    ({"level": 9}, "level"), ({"n_problems": 0}, "n_problems"), ({"n_problems": "3"}, "n_problems"),
])
def test_bad_options_name_the_field(kwargs, field):
    with pytest.raises(EvaluatorError, match=field):
        get_task("arith", **kwargs).problems()


def test_unknown_task_and_bad_expression():
    with pytest.raises(EvaluatorError, match="unknown task"):
        get_task("nope")
    with pytest.raises(EvaluatorError, match="cannot parse"):
        arith.parse_expr("12+")
