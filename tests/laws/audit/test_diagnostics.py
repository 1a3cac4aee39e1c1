"""Diagnostics of one fit: bound hits, intervals at bounds, basins, Huber sensitivity."""
from __future__ import annotations

import numpy as np
import pytest
import pandas as pd

import laws
from laws.audit.diagnostics import basins, diagnose, huber_jobs, near_bound
from laws.audit.parallel import fit_job
from laws.frontier import ComputeModel


def test_near_bound_tolerance_is_one_percent_of_the_bound_scale():
    bounds = [(-60.0, 60.0), (0.0, 5.0), (1e-6, 1e3)]
    assert near_bound(np.array([-59.5, 2.0, 5.0]), bounds) == [(0, "lower", -60.0)]
    assert near_bound(np.array([0.0, 4.96, 5.0]), bounds) == [(1, "upper", 5.0)]
    assert near_bound(np.array([0.0, 0.009, 5.0]), bounds) == [(1, "lower", 0.0)]
    assert near_bound(np.array([0.0, 0.02, 5.0]), bounds) == []           # gamma = 5 is not "at 1e-6"
    assert near_bound(np.array([0.0, 2.0, 995.0]), bounds) == [(2, "upper", 1000.0)]


def test_basins_count_equally_good_but_different_solutions():
    fit = laws.LawFit(form="chinchilla", params=dict(E=1, A=1, B=1, alpha=0.3, beta=0.3), n_points=100)
    a = np.array([0.0, 5.0, 6.0, 0.3, 0.3])
    b = np.array([0.0, 9.0, 6.0, 0.6, 0.3])                              # A and alpha traded off
    fit.starts = (np.array([a, a * 1.001, b]), np.array([0.0100, 0.0100, 0.01015]))   # 2n·1.5 % < 3.84
    assert basins(fit) == (2, ["A", "alpha"])
    fit.starts = (np.array([a, b]), np.array([0.0100, 0.0103]))          # 2n·3 % > 3.84: rejected
    assert basins(fit) == (1, [])


def _diagnose_noiseless(E):
    N = np.repeat([1e6, 2e6, 4e6, 8e6], 4)
    D = np.tile([1e8, 2e8, 4e8, 8e8], 4)
    df = pd.DataFrame({"N": N, "D": D, "loss": E + 400 / N ** 0.34 + 2000 / D ** 0.36})
    fit = laws.fit("chinchilla", df, bootstrap=50, seed=0)
    cm = ComputeModel()
    from laws.audit.answer import replicates, summarise

    ans = summarise(replicates(fit, df, None, cm), 0.95, 6 * (N * D).max())
    return fit, diagnose(fit, df, None, cm, ans, [fit_job(j) for j in huber_jobs(fit, df)], 0.95)


def test_diagnose_reports_E_zero_at_its_lower_bound():
    _, d = _diagnose_noiseless(0.0)         # the loss never flattens: E = 0 fits exactly
    assert [b["param"] for b in d["bounds"]] == ["E"] and d["bounds"][0]["side"] == "lower"
    assert d["negligible"] == []


def test_diagnose_flags_a_negligible_E_when_the_loss_never_flattens():
    fit, d = _diagnose_noiseless(1e-4)      # E = 1e-4 of a loss of 3-6: the curve cannot feel it
    assert d["bounds"] == []
    assert [n["param"] for n in d["negligible"]] == ["E"] and d["negligible"][0]["effect"] < 1e-3
    assert set(d["ci_halfwidth"]) == set(fit.params) and d["failed"] == 0.0
    assert set(d["huber"]) == {"x10", "/10"} and d["huber"]["x10"]["delta"] == 1e-2
    assert isinstance(d["huber_sensitive"], bool)
    assert d["a"]["a"] is not None


def _ladder(offset_at=None, offset=0.0, sigma=0.003, seed=0):
    """A 5 x 5 chinchilla ladder with independent log-normal noise; ``offset`` (relative) added
    to every run of size ``offset_at`` — a shape effect the law's N cannot represent."""
    rng = np.random.default_rng(seed)
    N = np.repeat([1e4, 2e4, 4e4, 8e4, 1.6e5], 5)
    D = np.tile([5e5, 1e6, 2e6, 4e6, 8e6], 5)
    y = (1.8 + 30 / N ** 0.4 + 1e5 / D ** 0.8) * np.exp(rng.normal(0, sigma, N.size))
    if offset_at is not None:
        y = np.where(N == offset_at, y * (1 + offset), y)
    return pd.DataFrame({"N": N, "D": D, "loss": y})


def test_size_offsets_names_a_size_whose_runs_all_sit_on_one_side_of_the_law():
    from laws.audit.diagnostics import size_offsets

    df = _ladder(offset_at=2e4, offset=0.02)
    so = size_offsets(laws.fit("chinchilla", df, bootstrap=0, seed=0), df)
    assert so["p"] < 0.01
    assert [s["N"] for s in so["sizes"]] == [2e4] and so["sizes"][0]["runs"] == 5
    # the fit absorbs part of the planted +2 %; what is left must still be most of it
    assert 0.01 < so["sizes"][0]["offset"] < 0.025


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_size_offsets_is_quiet_on_noise_alone(seed):
    from laws.audit.diagnostics import size_offsets

    df = _ladder(seed=seed)
    so = size_offsets(laws.fit("chinchilla", df, bootstrap=0, seed=0), df)
    assert so["p"] is not None and so["sizes"] == []


def test_size_offsets_needs_three_sizes_with_two_runs():
    from laws.audit.diagnostics import size_offsets

    df = _ladder(offset_at=2e4, offset=0.02)
    two = df[df["N"] <= 2e4]
    fit = laws.fit("chinchilla", df, bootstrap=0, seed=0)
    assert size_offsets(fit, two) == {"p": None, "sizes": []}
    assert size_offsets(fit, df[df["D"] == 5e5]) == {"p": None, "sizes": []}   # one run a size
    # a size with a single run is left out; the others are still tested
    lone = df[(df["N"] < 1.6e5) | (df["D"] == 5e5)]
    so = size_offsets(fit, lone)
    assert so["p"] is not None and [s["N"] for s in so["sizes"]] == [2e4]
