"""pass@k exact values and properties; resampled maj@n / wbon@n; the curves table. The exact
maj@n / bon@n behind the table are tested in test_subsets.py."""
from __future__ import annotations

import math
from fractions import Fraction
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluators.curves import (
    curves_table,
    pass_at_k,
    pass_at_k_curve,
    pass_at_k_matrix,
    per_problem_curves,
    resampled_accuracy,
)
from evaluators.errors import EvaluatorError


def test_pass_at_k_exact_values():
    # 1 - C(5,5)/C(8,5) = 1 - 1/56
    assert pass_at_k(8, 3, 5) == pytest.approx(0.9821428571428571, abs=1e-12)
    assert pass_at_k(8, 3, 1) == pytest.approx(0.375, abs=1e-12)
    assert pass_at_k(256, 1, 16) == pytest.approx(0.0625, abs=1e-12)
    assert pass_at_k(8, 6, 3) == 1.0          # n - c = 2 < k = 3
    assert pass_at_k(10, 0, 4) == 0.0


def test_pass_at_k_vectorised_and_large_n_is_stable():
    got = pass_at_k([8, 8, 256], [3, 3, 1], [5, 1, 16])
    assert np.allclose(got, [1 - 1 / 56, 0.375, 0.0625])
    # n = 10_000: binomials overflow floats; the product form stays exact enough
    assert pass_at_k(10_000, 1, 100) == pytest.approx(0.01, rel=1e-9)
    assert math.isfinite(pass_at_k(10_000, 5000, 5000))


@pytest.mark.parametrize("args", [(8, 3, 0), (8, 3, 9), (8, -1, 2), (8, 9, 2)])
def test_pass_at_k_rejects_bad_input(args):
    with pytest.raises(EvaluatorError):
        pass_at_k(*args)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n),
                                                     st.integers(1, n))))
def test_pass_at_k_properties(nck):
    n, c, k = nck
    v = pass_at_k(n, c, k)
    assert 0.0 <= v <= 1.0
    if k < n:
        assert pass_at_k(n, c, k + 1) >= v - 1e-12          # monotone in k
    if c < n:
        assert pass_at_k(n, c + 1, k) >= v - 1e-12          # monotone in c
    assert pass_at_k(n, c, 1) == pytest.approx(c / n, abs=1e-12)


def test_majority_resampling_uses_subsets_not_first_n():
    # the first 3 samples are all wrong, but 5 of 8 are right: a "first n" estimate says 0
    prob = {"answers": ["9", "9", "9", "1", "1", "1", "1", "1"],
            "correct": [False, False, False, True, True, True, True, True]}
    mean, lo, hi = resampled_accuracy([prob], 3, "maj", resamples=400, seed=0)
    # exact: P(at least 2 of 3 drawn are correct) = (C(5,2)C(3,1) + C(5,3)) / C(8,3) = 40/56
    assert mean == pytest.approx(40 / 56, abs=0.06)
    assert lo <= mean <= hi
    full = resampled_accuracy([prob], 8, "maj", resamples=10)
    assert full == (1.0, 1.0, 1.0)


def test_best_of_n_and_weighted_pick():
    # best single score is wrong, but the right answer has the larger summed score
    prob = {"answers": ["5", "7", "7"], "correct": [False, True, True],
            "scores": [0.9, 0.6, 0.6]}
    assert resampled_accuracy([prob], 3, "bon", resamples=5)[0] == 0.0
    assert resampled_accuracy([prob], 3, "wbon", resamples=5)[0] == 1.0


def test_curves_table_rows():
    probs = [{"answers": ["1", "2", "1", "1"], "correct": [True, False, True, True],
              "scores": [0.5, 0.4, 0.7, 0.2]},
             {"answers": ["3", None, "4", "3"], "correct": [False, False, True, False],
              "scores": [0.1, 0.2, 0.9, 0.3]}]
    rows = curves_table(probs, resamples=50)
    assert [r["n"] for r in rows] == [1, 2, 4]
    assert rows[0]["pass@n"] == pytest.approx((3 / 4 + 1 / 4) / 2)
    assert rows[-1]["pass@n"] == 1.0
    assert rows[-1]["maj@n"] == 0.5 and rows[-1]["bon@n"] == 1.0
    # n = 1: maj and bon both pick one uniformly random candidate
    assert rows[0]["maj@n"] == pytest.approx(0.5) and rows[0]["bon@n"] == pytest.approx(0.5)
    for r in rows:
        assert r["problems"] == 2
        for k in ("pass", "maj", "bon", "wbon"):
            assert r[f"{k}_lo"] <= r[f"{k}@n"] <= r[f"{k}_hi"]
    assert "bon@n" not in curves_table([{"answers": ["1"], "correct": [True], "scores": None}])[0]


def test_weighted_best_of_n_resampling_rules_and_seed():
    # one answer only: wbon is that answer's fraction correct whatever the subset
    one = {"answers": ["7"] * 6, "correct": [True, False, True, True, False, True],
           "scores": [0.1, 0.9, 0.3, 0.2, 0.5, 0.4]}
    # the right answer has the larger summed score once both appear twice
    two = {"answers": ["5", "5", "7", "7"], "correct": [False, False, True, True],
           "scores": [0.2, 0.2, 0.6, 0.6]}
    a = per_problem_curves([one, two], [1, 2, 4], resamples=40, seed=3)["wbon"]
    b = per_problem_curves([one, two], [1, 2, 4], resamples=40, seed=3)["wbon"]
    assert np.array_equal(a, b)
    assert np.allclose(a[0], 4 / 6) and a[1, 2] == 1.0
    assert 0.0 < a[1, 0] < 1.0


def test_pass_at_k_matrix_matches_exact_binomials():
    rng = np.random.default_rng(4)
    n = rng.integers(1, 40, size=30)
    c = np.array([rng.integers(0, x + 1) for x in n])
    ks = [1, 2, 3, 5, 8, 13, 21, 34]
    m = pass_at_k_matrix(n, c, ks)
    for i in range(len(n)):
        for j, k in enumerate(ks):
            if k > n[i]:
                assert np.isnan(m[i, j])
            else:
                want = 1 - Fraction(comb(int(n[i] - c[i]), k), comb(int(n[i]), k))
                assert m[i, j] == pytest.approx(float(want), abs=1e-12)
                assert pass_at_k(int(n[i]), int(c[i]), k) == pytest.approx(float(want), abs=1e-12)
    curve = pass_at_k_curve(n, c, [1, 30])
    assert curve[1] == pytest.approx(np.mean(c / n))
    big = n >= 30                                  # problems with fewer samples are skipped
    assert curve[30] == pytest.approx(np.mean([1 - comb(int(a - b), 30) / comb(int(a), 30)
                                               for a, b in zip(n[big], c[big])]))
