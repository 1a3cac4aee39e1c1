"""Every verdict rule of laws.audit.verdict, one at a time, on hand-made diagnostics."""
from __future__ import annotations

import pytest

from laws.audit.verdict import decide


def diag(**kw):
    d = {"bounds": [], "ci_at_bound": [], "basins": 1, "basin_params": [], "failed": 0.0,
         "huber_sensitive": False, "huber_shift": 0.0, "a": {"a": 0.5, "ci": [0.45, 0.55]}}
    d.update(kw)
    return d


def answer(**kw):
    a = {"quantity": "N*", "C": 1e21, "N": 1e9, "N_lo": 8e8, "N_hi": 1.25e9, "D": 2e10,
         "loss": 2.0, "loss_lo": 1.98, "loss_hi": 2.02, "factor": 1.5625, "edge": False,
         "replicates_failed": 0.0}
    a.update(kw)
    return a


def score(**kw):
    s = {"holdout_error": 0.01, "holdout_max_error": 0.015, "holdout_n": 6, "holdout_outside": 0,
         "loso_error": 0.01, "score": 0.01}
    s.update(kw)
    return s


def run(*, sizes=5, budgets=4, d=None, a=None, s="default", approaches=None, ties=()):
    return decide(n_sizes=sizes, n_budgets=budgets, diag=diag() if d is None else d,
                  answer=answer() if a is None else a, score=score() if s == "default" else s,
                  holdout_note="fitted on the 3 smaller sizes, the largest size (6 run(s)) held out", approaches=approaches or {},
                  ties=list(ties), chosen="chinchilla")


def test_sound_when_nothing_is_wrong_and_the_reasons_say_what_was_checked():
    v, reasons = run()
    assert v == "sound"
    assert any("within 1.5 %" in r for r in reasons) and any("8e+08" in r for r in reasons)


@pytest.mark.parametrize("kw, words", [
    ({"sizes": 2}, "Only 2 model size"),
    ({"budgets": 2}, "Only 2 token budget"),
    ({"d": diag(bounds=[{"param": "E", "side": "lower", "bound": 8.8e-27, "value": 8.8e-27}])},
     "E sits at its lower bound (8.8e-27): these runs do not show where the loss flattens"),
    ({"d": diag(bounds=[{"param": "alpha", "side": "upper", "bound": 5.0, "value": 5.0}])},
     "α sits at its upper bound"),
    ({"d": diag(ci_at_bound=[{"param": "alpha", "share": 0.04}])}, "α's 95 % interval runs to a bound"),
    ({"d": diag(basins=2, basin_params=["E", "A"])}, "2 different parameter sets fit these runs equally well"),
    ({"a": answer(edge=True)}, "no optimum N*"),
    ({"a": answer(replicates_failed=0.6)}, "60 % of the bootstrap replicates give no value"),
    ({"a": answer(N_lo=1e8, N_hi=2e9, factor=20.0)}, "order of magnitude"),
])
def test_unidentifiable_rules(kw, words):
    v, reasons = run(**kw)
    assert v == "unidentifiable"
    assert any(words in r for r in reasons), reasons


@pytest.mark.parametrize("kw, words", [
    ({"s": None}, "No backtest was possible"),
    ({"s": score(holdout_error=0.083, holdout_max_error=0.09, score=0.05)}, "Fitted on the 3 smaller sizes, the largest size (6 run(s)) held out: the law misses the held-out runs by up to 9 % (8.3 % on average)"),
    ({"s": score(holdout_n=6, holdout_outside=3)}, "3 of 6 held-out runs fall outside"),
    ({"a": answer(N_lo=5e8, N_hi=1.5e9, factor=3.0)}, "within a factor 3"),
    ({"a": answer(loss_lo=1.9, loss_hi=2.1)}, "uncertain by ±5 %"),
    ({"d": diag(huber_sensitive=True, huber_shift=0.3)}, "Huber δ"),
    ({"approaches": {"isoflop": {"a": 0.7, "ci": [0.65, 0.75]}}}, "approaches disagree"),
    ({"d": diag(failed=0.1)}, "10 % of the bootstrap replicates failed"),
    ({"ties": [("kaplan", answer(N=3e9, N_lo=2.5e9, N_hi=3.5e9))]}, "the choice of law decides"),
])
def test_weak_rules(kw, words):
    v, reasons = run(**kw)
    assert v == "weak", reasons
    assert any(words in r for r in reasons), reasons


def test_rules_at_their_thresholds():
    # exactly a factor 2 and a 3 % miss are still sound; the approaches agree within 0.1 or overlap
    assert run(a=answer(N_lo=7e8, N_hi=1.4e9, factor=2.0))[0] == "sound"
    assert run(s=score(holdout_error=0.03))[0] == "sound"
    assert run(approaches={"envelope": {"a": 0.59, "ci": None}})[0] == "sound"
    assert run(approaches={"envelope": {"a": 0.62, "ci": [0.5, 0.7]}})[0] == "sound"
    assert run(approaches={"envelope": {"a": 0.62, "ci": None}})[0] == "weak"
    # one held-out run outside its interval of 3 is not evidence of narrow intervals
    assert run(s=score(holdout_n=3, holdout_outside=1))[0] == "sound"
    # leave-one-size-out alone is a backtest
    assert run(s=score(holdout_error=None, holdout_max_error=None, holdout_n=0))[0] == "sound"
    # a tied form whose interval overlaps ours does not make the answer weak
    assert run(ties=[("overtrain", answer(N=1.2e9, N_lo=1.1e9, N_hi=1.3e9))])[0] == "sound"


def test_unidentifiable_reasons_come_first_and_no_form_means_unidentifiable():
    v, reasons = run(sizes=2, s=None)
    assert v == "unidentifiable" and reasons[0].startswith("Only 2") and any("No backtest" in r for r in reasons)
    v, reasons = decide(n_sizes=4, n_budgets=3, diag=None, answer=None, score=None, holdout_note="",
                        approaches={}, ties=[], chosen=None)
    assert v == "unidentifiable" and "No law form" in reasons[-1]


def test_a_negligible_parameter_is_unidentifiable():
    v, reasons = run(d=diag(negligible=[{"param": "E", "value": 6.5e-5, "effect": 2e-4}]))
    assert v == "unidentifiable"
    assert any(r.startswith("E is negligible (6.5e-05: changing it e-fold moves the fitted loss by at most 0.02 %")
               and "where the loss flattens" in r for r in reasons)


def test_basins_that_differ_only_in_a_flagged_parameter_are_not_said_twice():
    d = diag(negligible=[{"param": "E", "value": 1e-9, "effect": 1e-8}], basins=3, basin_params=["E"])
    v, reasons = run(d=d)
    assert v == "unidentifiable" and not any("parameter sets" in r for r in reasons)
    d["basin_params"] = ["E", "alpha"]
    assert any("3 different parameter sets" in r for r in run(d=d)[1])


@pytest.mark.parametrize("d, verdict", [
    (diag(), "sound"),
    (diag(ci_at_bound=[{"param": "alpha", "share": 0.04}]), "unidentifiable"),
])
def test_sizes_off_the_law_are_named_last_without_changing_the_verdict(d, verdict):
    d["size_offsets"] = {"p": 3.3e-4, "sizes": [{"N": 26784.0, "offset": 0.0119, "runs": 5},
                                                {"N": 53440.0, "offset": -0.0224, "runs": 4}]}
    v, reasons = run(d=d)
    assert v == verdict
    assert reasons[-1].startswith("Some sizes sit off the law on one side (N = 26,784: all 5 runs above it, "
                                  "+1.2 % on average; N = 53,440: all 4 runs below it, -2.2 % on average;")
    assert "ANOVA p = 0.00033" in reasons[-1]
    d["size_offsets"] = {"p": 0.2, "sizes": []}
    assert not any("off the law" in r for r in run(d=d)[1])
