"""Verifier registry: exact, numeric, math (math-verify in a subprocess pool), user callables."""
from __future__ import annotations

import time

import pytest

from evaluators.errors import EvaluatorError
from evaluators.tasks import verifiers
from evaluators.tasks.verifiers import VERIFIERS, get_verifier, parse_number, register_verifier


def test_exact():
    ex = get_verifier("exact")
    assert ex(" 42 ", "42") and not ex("42.0", "42") and not ex(None, "42")


@pytest.mark.parametrize("pred,ref", [("1,234", "1234"), ("$5", "5"), ("2/4", "0.5"),
                                      ("\\frac{1}{3}", "1/3"), ("-\\frac{3}{4}", "-0.75"),
                                      ("40%", "40"), ("30,000", "30000.0"), ("7.", "7")])
def test_numeric_equal(pred, ref):
    assert get_verifier("numeric")(pred, ref)


@pytest.mark.parametrize("pred,ref", [("1233", "1234"), ("abc", "1"), (None, "1"), ("1/0", "1"),
                                      ("0.3333", "1/3")])
def test_numeric_not_equal(pred, ref):
    assert not get_verifier("numeric")(pred, ref)


def test_parse_number_values():
    assert parse_number("\\frac{5}{6}") * 6 == 5
    assert parse_number("nan") is None and parse_number("") is None


def test_math_verify_in_subprocess():
    m = get_verifier("math")
    assert m("\\frac{5}{6}", "\\frac{5}{6}")
    assert m("$\\frac{10}{12}$", "\\frac{5}{6}")
    assert m("5\\sqrt{2}", "\\sqrt{50}")
    assert m("0.25", "\\frac{1}{4}")
    assert not m("\\frac{4}{6}", "\\frac{5}{6}")
    assert not m(None, "1") and not m("}{garbage", "1")


def _sleepy(pred, ref):  # module-level so the spawn pool can pickle it
    time.sleep(30)
    return True


def test_math_hard_timeout_kills_worker_and_recovers(monkeypatch):
    assert verifiers.math_equal("0", "0")   # worker up, math-verify imported: time only the call
    monkeypatch.setattr(verifiers, "_math_verify_worker", _sleepy)
    t0 = time.monotonic()
    assert verifiers.math_equal("1", "1", timeout=1.0) is False
    elapsed = time.monotonic() - t0
    assert 1.0 <= elapsed < 25  # returned at the timeout, not before it, not after the 30 s call
    out = verifiers.run_in_pool(_sleepy, ("1", "1"), 1.0)
    assert out.status == "timeout" and out.elapsed_s >= 1.0   # timed out, not crashed
    monkeypatch.undo()
    assert verifiers.math_equal("2", "2")  # a fresh pool answers


def test_callables_and_module_strings():
    assert get_verifier(lambda p, r: p == r[::-1])("ab", "ba")
    assert get_verifier("operator:eq")("x", "x")
    with pytest.raises(EvaluatorError, match="cannot load 'nope_mod:f'"):
        get_verifier("nope_mod:f")
    with pytest.raises(EvaluatorError, match="unknown verifier 'fuzzy'"):
        get_verifier("fuzzy")

    @register_verifier("len-test")
    def same_len(p, r):
        return len(p) == len(r)

    assert get_verifier("len-test")("ab", "cd")
    del VERIFIERS["len-test"]
