"""Bad input -> LawFitError (a ValueError with exit_code 2) whose message names the problem."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import laws

GOOD = {"N": [1e6, 1e7, 1e8, 1e6, 1e7, 1e8], "D": [1e9, 1e9, 1e9, 1e10, 1e10, 1e10],
        "loss": [4.0, 3.5, 3.2, 3.6, 3.1, 2.9]}
CURVE = {"run": ["a"] * 4, "step": [10, 20, 30, 40], "lr": [1e-3, 1e-3, 5e-4, 1e-4],
         "loss": [4.0, 3.5, 3.3, 3.2]}


def _with(base, **changes):
    d = {k: list(v) for k, v in base.items()}
    d.update(changes)
    return d


CASES = [
    ("unknown form", "gpt4_law", GOOD, {}, "unknown form"),
    ("missing column", "chinchilla", {"N": GOOD["N"], "loss": GOOD["loss"]}, {}, "missing column"),
    ("NaN", "chinchilla", _with(GOOD, loss=[4.0, np.nan, 3.2, 3.6, 3.1, 2.9]), {}, "NaN"),
    ("inf", "chinchilla", _with(GOOD, D=[1e9, np.inf, 1e9, 1e10, 1e10, 1e10]), {}, "'D'"),
    ("non-positive N", "chinchilla", _with(GOOD, N=[0, 1e7, 1e8, 1e6, 1e7, 1e8]), {}, "'N': must be > 0"),
    ("non-positive D", "chinchilla", _with(GOOD, D=[-1, 1e9, 1e9, 1e10, 1e10, 1e10]), {}, "'D': must be > 0"),
    ("non-positive loss", "chinchilla", _with(GOOD, loss=[4.0, 0.0, 3.2, 3.6, 3.1, 2.9]), {}, "'loss': must be > 0"),
    ("too few points", "chinchilla", {k: v[:4] for k, v in GOOD.items()}, {}, "need at least 5"),
    ("single unique N", "chinchilla", _with(GOOD, N=[1e7] * 6), {}, "'N': needs at least 2 distinct"),
    ("empty frame", "chinchilla", pd.DataFrame({"N": [], "D": [], "loss": []}), {}, "empty"),
    ("unsorted steps", "lr_annealing", _with(CURVE, step=[10, 30, 20, 40]), {}, "not sorted"),
    ("duplicate steps", "lr_annealing", _with(CURVE, step=[10, 20, 20, 40]), {}, "duplicate step 20"),
    ("negative lr", "multi_power", _with(CURVE, lr=[1e-3, -1e-3, 5e-4, 1e-4]), {}, "negative learning rate"),
    ("not a table", "chinchilla", [1, 2, 3], {}, "DataFrame or a mapping"),
    ("non-numeric", "chinchilla", _with(GOOD, N=["a", "b", "c", "d", "e", "f"]), {}, "'N': not numeric"),
    ("ragged columns", "chinchilla", _with(GOOD, N=GOOD["N"][:5]), {}, "length"),
    ("unknown option", "chinchilla", GOOD, {"warmup_steps": 3}, "unknown option"),
    ("bad warmup", "lr_annealing", CURVE, {"warmup_steps": -1}, "warmup_steps"),
    ("warmup after first step", "lr_annealing", CURVE, {"warmup_steps": 50}, "warmup_steps"),
    ("coverage above 1", "coverage", {"k": [1, 2, 4], "coverage": [0.5, 0.7, 1.2]}, {}, "(0, 1]"),
    ("P below 1", "parscale", {"N": [1e8, 1e9] * 3, "P": [0.5, 1, 2, 2, 4, 4], "loss": [3.0] * 6}, {}, "'P'"),
    ("LR optimum at sweep edge", "hparam",
     {"N": [1e6] * 3 + [1e7] * 3 + [1e6] * 3, "D": [1e8] * 6 + [1e9] * 3,
      "lr": [1e-3, 2e-3, 4e-3] * 3, "loss": [3.0, 3.1, 3.2] * 3}, {}, "edge of the sweep"),
]


@pytest.mark.parametrize("label,form,data,opts,needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_lawfiterror_naming_problem(label, form, data, opts, needle):
    with pytest.raises(laws.LawFitError) as exc:
        laws.fit(form, data, **opts)
    assert needle in str(exc.value), str(exc.value)
    assert "\n" not in str(exc.value)


def test_lawfiterror_is_valueerror_with_exit_code_2():
    assert issubclass(laws.LawFitError, ValueError) and laws.LawFitError.exit_code == 2


@pytest.mark.parametrize("kwargs,needle", [({"bootstrap": -1}, "bootstrap"), ({"loss": "l7"}, "loss"),
                                           ({"delta": 0}, "delta")])
def test_bad_fit_settings(kwargs, needle):
    with pytest.raises(laws.LawFitError, match=needle):
        laws.fit("chinchilla", GOOD, **kwargs)


def test_predict_checks_its_input_too():
    fit = laws.LawFit(form="chinchilla", params=dict(E=1.8, A=400.0, B=2000.0, alpha=0.34, beta=0.36))
    with pytest.raises(laws.LawFitError, match="missing column"):
        fit.predict({"N": [1e9]})
    with pytest.raises(laws.LawFitError, match="'N': must be > 0"):
        fit.predict({"N": [-1.0], "D": [1e9]})
    with pytest.raises(laws.LawFitError, match="malformed"):
        laws.LawFit.from_dict({"params": {}})
