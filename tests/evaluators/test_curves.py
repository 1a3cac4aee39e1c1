"""pass@k exact values and properties; exact maj@n / bon@n (vs brute force over every
subset, closed forms at large N and the resampled reference); resampled wbon@n; the table."""
from __future__ import annotations

import itertools
import math
from collections import Counter
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


# ---------------------------------------------------------------- exactness vs brute force
def _brute(problem, n):
    """maj@n and bon@n by enumerating every ordered draw of n candidates, applying the
    reference pickers' rules with each tie outcome weighted equally (exact fractions)."""
    ans, cor, sc = problem["answers"], problem["correct"], problem["scores"]
    maj = bon = Fraction(0)
    draws = list(itertools.permutations(range(len(ans)), n))
    for seq in draws:
        votes = {}
        for i in seq:
            if ans[i] is not None:
                votes[ans[i]] = votes.get(ans[i], 0) + 1
        if votes:
            top = max(votes.values())
            tied = [a for a in votes if votes[a] == top]
            # the reference takes the first drawn candidate of the winning answer
            maj += Fraction(sum(int(cor[next(i for i in seq if ans[i] == a)]) for a in tied),
                            len(tied))
        best = max(sc[i] for i in seq)
        tied = [i for i in seq if sc[i] == best]
        bon += Fraction(sum(int(cor[i]) for i in tied), len(tied))
    return float(maj / len(draws)), float(bon / len(draws))


def _random_problems(count, seed, n_lo=1, n_hi=7):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        N = int(rng.integers(n_lo, n_hi + 1))
        vocab = [None, "a", "b", "c", "d"][: int(rng.integers(1, 6))]
        ans = [vocab[int(rng.integers(len(vocab)))] for _ in range(N)]
        # correctness may differ between candidates of one answer (a lenient verifier)
        cor = [bool(rng.random() < 0.5) and a is not None for a in ans]
        sc = [float(rng.integers(0, 3)) for _ in range(N)]        # few values: many ties
        out.append({"answers": ans, "correct": cor, "scores": sc})
    return out


def test_exact_majority_and_best_of_n_match_brute_force_enumeration():
    probs = _random_problems(40, seed=0)
    probs.append({"answers": [None] * 4, "correct": [False] * 4, "scores": [1.0] * 4})
    probs.append({"answers": ["a", "b", "c", "d", "e", "f"], "correct": [True] + [False] * 5,
                  "scores": [0.5] * 6})
    ns = list(range(1, 8))
    per = per_problem_curves(probs, ns)
    for i, p in enumerate(probs):
        for j, n in enumerate(ns):
            if n > len(p["answers"]):
                assert np.isnan(per["maj"][i, j]) and np.isnan(per["bon"][i, j])
                continue
            maj, bon = _brute(p, n)
            assert per["maj"][i, j] == pytest.approx(maj, abs=1e-10), (p, n)
            assert per["bon"][i, j] == pytest.approx(bon, abs=1e-10), (p, n)


def test_exact_majority_with_larger_pools_matches_subset_enumeration():
    # N = 12..16 with skewed answer frequencies, every subset (unordered: the tie rule's mean)
    rng = np.random.default_rng(1)
    for _ in range(6):
        N, V = int(rng.integers(12, 17)), int(rng.integers(2, 7))
        w = rng.dirichlet(np.full(V, 0.7))
        ans = [None if rng.random() < 0.15 else int(rng.choice(V, p=w)) for _ in range(N)]
        cor = [a == 0 for a in ans]
        for n in (2, 5, 8, 11):
            tot = 0.0
            subs = list(itertools.combinations(range(N), n))
            for sub in subs:
                votes = Counter(ans[i] for i in sub if ans[i] is not None)
                if votes:
                    top = max(votes.values())
                    tot += sum(a == 0 for a in votes if votes[a] == top) / sum(
                        1 for a in votes if votes[a] == top)
            got = per_problem_curves([{"answers": ans, "correct": cor}], [n])["maj"][0, 0]
            assert got == pytest.approx(tot / len(subs), abs=1e-10)


def test_exact_majority_closed_forms_at_large_n():
    # two answers, 1000 candidates: right wins iff it holds more than half (ties: 1/2)
    K, N = 520, 1000
    prob = {"answers": ["r"] * K + ["w"] * (N - K), "correct": [True] * K + [False] * (N - K)}
    for n in (1, 64, 255, 256, 999):
        want = sum(comb(K, i) * comb(N - K, n - i) * (1.0 if 2 * i > n else 0.5 if 2 * i == n
                                                      else 0.0)
                   for i in range(n + 1)) / comb(N, n)
        got = per_problem_curves([prob], [n])["maj"][0, 0]
        assert got == pytest.approx(want, abs=1e-10)
    # every answer distinct: every vote ties, the pick is a uniform drawn candidate -> c / N
    distinct = {"answers": [str(i) for i in range(300)], "correct": [i < 45 for i in range(300)],
                "scores": [1.0] * 300}
    per = per_problem_curves([distinct], [1, 8, 64, 150, 299])
    assert np.allclose(per["maj"], 45 / 300, atol=1e-10)
    assert np.allclose(per["bon"], 45 / 300, atol=1e-12)       # equal scores: uniform pick


def test_exact_values_lie_in_the_reference_resampling_intervals():
    rng = np.random.default_rng(2)
    probs = []
    for _ in range(12):
        N = 24
        p = rng.uniform(0.1, 0.8)
        ans = [("r" if rng.random() < p else f"w{rng.integers(4)}") if rng.random() > 0.1
               else None for _ in range(N)]
        probs.append({"answers": ans, "correct": [a == "r" for a in ans],
                      "scores": np.round(rng.random(N), 1).tolist()})
    ns = [1, 4, 8, 16]
    per = per_problem_curves(probs, ns, resamples=300, seed=0)
    for j, n in enumerate(ns):
        for sel in ("maj", "bon", "wbon"):
            mean, lo, hi = resampled_accuracy(probs, n, sel, resamples=300, seed=0)
            exact = float(np.mean(per[sel][:, j]))
            assert lo <= exact <= hi, (sel, n, exact, lo, hi)
            # and close to the reference's mean (its Monte-Carlo error is ~0.006 here)
            assert exact == pytest.approx(mean, abs=0.03), (sel, n)


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
