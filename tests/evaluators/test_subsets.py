"""Exact maj@n / bon@n over all size-n subsets (evaluators.subsets), directly and through
``per_problem_curves``: hand-computed cases, brute-force enumeration of every subset (ordered
draws with the reference pickers' tie rules, exact fractions), closed forms at large N, and the
resampled reference's intervals."""
from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction
from math import comb

import numpy as np
import pytest

from evaluators.curves import per_problem_curves, resampled_accuracy
from evaluators.subsets import best_of_n_exact, encode, majority_exact


def test_hand_computed_three_candidates():
    # scores 0.1 / 0.5 / 0.9 with only the middle one correct: the best of a pair is correct
    # only for the pair {0.1, 0.5}, 1 of 3 pairs; all three -> the 0.9 one, wrong
    # answers a / b / a, both a's correct: pairs {a,b} (tie, 1/2), {a,a} (1), {b,a} (1/2)
    probs = [{"answers": ["x", "y", "z"], "correct": [False, True, False],
              "scores": [0.1, 0.5, 0.9]},
             {"answers": ["a", "b", "a"], "correct": [True, False, True],
              "scores": [1.0, 1.0, 1.0]}]
    enc = encode(probs)
    assert list(enc.size) == [3, 3] and enc.ans_count.tolist() == [1, 1, 1, 2, 1]
    bon = best_of_n_exact(enc, [1, 2, 3, 4])
    assert np.allclose(bon[0, :3], [1 / 3, 1 / 3, 0.0], atol=1e-12)
    assert np.allclose(bon[1, :3], [2 / 3, 2 / 3, 2 / 3], atol=1e-12)   # equal scores: uniform
    maj = majority_exact(enc, [1, 2, 3, 4])
    assert np.allclose(maj[1, :3], [2 / 3, 2 / 3, 1.0], atol=1e-12)
    assert np.allclose(maj[0, :3], [1 / 3, 1 / 3, 1 / 3], atol=1e-12)   # all distinct: ties
    assert np.isnan(bon[:, 3]).all() and np.isnan(maj[:, 3]).all()     # n > N
    with pytest.raises(ValueError, match="needs scores"):
        best_of_n_exact(encode([{"answers": ["a"], "correct": [True]}]), [1])


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
