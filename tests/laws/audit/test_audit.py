"""laws.audit on synthetic ground truth: a well-covered grid is "sound" and recovers the law, a
ladder whose losses are driven by D alone is "unidentifiable", heavy noise is "weak"."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import laws

TRUE = dict(E=1.82, A=482.0, B=2085.0, alpha=0.3478, beta=0.3658)


def loss(N, D, p=TRUE):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def grid(Ns, Ds, noise, seed, p=TRUE):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame([{"N": n, "D": d} for n in Ns for d in Ds])
    df["loss"] = loss(df["N"], df["D"], p) * np.exp(noise * rng.standard_normal(len(df)))
    df["run_id"] = [f"r{i}" for i in range(len(df))]
    return df


def n_star(C, p=TRUE):
    """Chinchilla's closed-form N*(C) under C = 6ND, written out here."""
    s = p["alpha"] + p["beta"]
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / s)
    return G * (C / 6) ** (p["beta"] / s)


WIDE = (np.geomspace(1e6, 1e10, 10), np.geomspace(1e8, 1e12, 10))


@pytest.fixture(scope="module")
def sound():
    df = grid(*WIDE, 0.01, 0)
    target = 10 * float((6 * df["N"] * df["D"]).max())
    return df, target, laws.audit(df, target_C=target)


def test_well_covered_grid_is_sound_and_recovers_the_law(sound):
    df, target, a = sound
    assert a.verdict == "sound", a.reasons
    assert set(a.fits) == set(laws.audit.default_forms()) >= {"chinchilla", "kaplan", "overtrain", "farseer"}
    p = a.fits["chinchilla"].params
    for k in ("E", "alpha", "beta"):
        assert abs(p[k] / TRUE[k] - 1) < 0.05, (k, p[k])
    for k in ("A", "B"):
        assert abs(math.log(p[k]) / math.log(TRUE[k]) - 1) < 0.05, (k, p[k])
    ans = a.answer
    assert ans["quantity"] == "N*" and ans["C"] == target and ans["beyond"] == pytest.approx(10)
    assert ans["N_lo"] <= n_star(target) <= ans["N_hi"]          # the truth is inside the interval
    assert ans["N_lo"] <= ans["N"] <= ans["N_hi"] and ans["factor"] < 2
    assert any("held-out" in r for r in a.reasons)
    assert a.chosen in a.fits and a.fit is a.fits[a.chosen]


def test_backtest_table_holds_out_the_largest_size_and_leaves_each_size_out(sound):
    df, _, a = sound
    bt = a.backtest
    assert list(bt.columns) == ["form", "kind", "fold", "run_id", "N", "D", "C", "actual", "predicted",
                                "rel_error", "lo", "hi", "inside"]
    hold = bt[(bt["kind"] == "holdout") & (bt["form"] == "chinchilla")]
    assert set(hold["N"]) == {df["N"].max()} and len(hold) == 10
    assert set(hold["run_id"]) == set(df.loc[df["N"] == df["N"].max(), "run_id"])
    np.testing.assert_allclose(hold["rel_error"], hold["predicted"] / hold["actual"] - 1)
    assert ((hold["lo"] <= hold["predicted"]) & (hold["predicted"] <= hold["hi"])).all()
    assert (hold["inside"] == ((hold["lo"] <= hold["actual"]) & (hold["actual"] <= hold["hi"]))).all()
    loso = bt[(bt["kind"] == "loso") & (bt["form"] == "chinchilla")]
    assert loso["fold"].nunique() == 8 and len(loso) == len(df)   # 10 sizes cut into 8 folds
    # the chosen form has the lowest backtest score, or ties with it and has fewer parameters
    sc = {f: v["score"] for f, v in a.scores.items()}
    best = min(sc.values())
    assert sc[a.chosen] <= best + max(0.002, 0.1 * best)


def test_audit_dict_is_json_and_the_summary_is_one_paragraph(sound):
    _, _, a = sound
    d = json.loads(json.dumps(a.to_dict()))
    assert d["verdict"] == "sound" and d["reasons"] == a.reasons and d["chosen"] == a.chosen
    assert len(d["backtest"]) == len(a.backtest) and len(d["next_runs"]) == len(a.next_runs)
    assert set(d["diagnostics"]) == set(a.fits) and "boot_params" not in d["fits"]["chinchilla"]
    s = a.summary()
    assert "\n" not in s and s.startswith("Verdict: sound.") and f"{a.answer['N']:.3g}" in s


def test_next_runs_lie_beyond_and_cost_their_exact_flops(sound):
    df, _, a = sound
    nr = a.next_runs
    assert list(nr.columns) == ["N", "D", "C", "C_6nd", "gain", "gain_per_flop", "loss", "loss_lo", "loss_hi"]
    assert 1 <= len(nr) <= 3 and (nr["gain"] > 0).all()
    seen = set(zip(df["N"].round(-3), df["D"].round(-3)))
    assert not any((round(n, -3), round(d, -3)) in seen for n, d in zip(nr["N"], nr["D"]))
    np.testing.assert_allclose(nr["C"], a.compute.flops(nr["N"], nr["D"]))
    np.testing.assert_allclose(nr["gain_per_flop"], nr["gain"] / nr["C"])


def test_losses_driven_by_D_alone_on_a_narrow_ladder_are_unidentifiable():
    df = grid(np.geomspace(1e9, 1.5e9, 3), np.geomspace(1e9, 1e12, 6), 0.01, 0, p={**TRUE, "A": 1e-3})
    a = laws.audit(df, target_C=10 * float((6 * df["N"] * df["D"]).max()), bootstrap=100)
    assert a.verdict == "unidentifiable", a.reasons
    text = " ".join(a.reasons)
    assert "bound" in text or "order of magnitude" in text or "equally well" in text


def test_heavy_noise_on_a_good_grid_is_weak_not_unidentifiable():
    df = grid(*WIDE, 0.05, 0)
    a = laws.audit(df, forms=["chinchilla", "kaplan", "overtrain"], bootstrap=100,
                   target_C=10 * float((6 * df["N"] * df["D"]).max()))
    assert a.verdict == "weak", a.reasons
    assert any("misses" in r or "uncertain" in r or "factor" in r for r in a.reasons)


def test_no_holdout_is_never_sound_and_exact_flops_are_used():
    df = grid(np.geomspace(1e6, 1e9, 4), np.geomspace(1e8, 1e11, 4), 0.01, 1)
    df["C"] = 6 * df["N"] * df["D"] * (1 + 0.35 * (df["N"] / 1e6) ** -0.3)   # exact: 6ND + extra
    a = laws.audit(df, forms=["chinchilla"], holdout=None, bootstrap=50)
    assert a.verdict != "sound"
    assert any("No backtest" in r for r in a.reasons)
    assert a.compute.exact and a.compute.max_rel_error < 1e-9 and a.compute.s == pytest.approx(0.3)
    assert a.data["C"][1] == df["C"].max()
    assert a.answer["quantity"] == "loss" and a.answer["N"] == df["N"].max()
    b = laws.audit(df, forms=["chinchilla"], holdout="largest_C", bootstrap=20)
    held = b.backtest[b.backtest["kind"] == "holdout"]
    assert set(held["C"]) == {df["C"].max()}


def test_callable_package_and_bad_input():
    import laws.audit as pkg
    from laws import audit

    df = grid(np.geomspace(1e6, 1e9, 3), np.geomspace(1e8, 1e11, 3), 0.01, 2)
    assert audit is pkg and isinstance(pkg(df, forms="chinchilla", bootstrap=10), laws.Audit)
    with pytest.raises(laws.LawFitError, match="missing column 'loss'"):
        laws.audit(df.drop(columns="loss"))
    with pytest.raises(laws.LawFitError, match="target_C"):
        laws.audit(df, forms="chinchilla", target_C=-1.0)
    with pytest.raises(laws.LawFitError, match="holdout"):
        laws.audit(df, forms="chinchilla", holdout="smallest")
    with pytest.raises(laws.LawFitError, match="unknown form"):
        laws.audit(df, forms=["nope"])
