"""The report's schedules section on a synthetic WSD ladder whose validation curves follow the
LR-annealing law, written out here by hand (per-step LR as the trainer builds it, the law's
areas summed step by step): fitted on the trunk and the shorter branches, the law must predict
the held-out (largest-budget) branch; a sweep without trunks or branches says so in words."""
from __future__ import annotations

import json
import math
import types

import numpy as np
import pandas as pd
import pytest

from orchestrator.report import schedules as S

PEAK, B, W, EVAL, LOG = 0.01, 1000, 10, 20, 10       # peak LR, batch tokens, warmup, eval/log every
TRUE = {200_000: dict(L0=2.0, A=2.5, alpha=0.45, C=0.4), 800_000: dict(L0=1.7, A=2.2, alpha=0.5, C=0.5)}
BUDGETS = (300_000, 500_000, 800_000)                 # cooldown 20 %: branch starts 240, 400, 640
LAM = 0.999


def lr_of(t: np.ndarray, total: int, start: int | None) -> np.ndarray:
    """LR of update t (1-based) as orchestrator.train.schedules builds it: warmup peak*t/W,
    then peak; a branch decays linearly from step ``start`` to 0 at ``total``."""
    s = t - 1.0
    main = np.full_like(s, PEAK)
    if start is not None:
        main = PEAK * (1 - np.clip((s - start) / (total - start), 0, 1))
    return np.where(s < W, np.minimum(PEAK * (s + 1) / W, main), main)


def law_curve(eta: np.ndarray, p: dict) -> np.ndarray:
    """L(t) = L0 + A*S1^-alpha - C*S2 for t = 1..T, summed step by step (eta[0] unused)."""
    T = len(eta) - 1
    S1 = np.cumsum(eta)[1:]
    m, S2, out = 0.0, 0.0, np.zeros(T)
    for t in range(1, T + 1):
        if t > W:
            m = LAM * m + (eta[t - 1] - eta[t])
            S2 += m
        out[t - 1] = p["L0"] + p["A"] * S1[t - 1] ** -p["alpha"] - p["C"] * S2
    return out


def rows_of(run: str, parent, eta: np.ndarray, loss: np.ndarray, first: int) -> list[dict]:
    """Metric rows as the trainer logs them: first step, every LOG steps (train only), every
    EVAL steps and the last step with a validation loss."""
    T, out = len(eta) - 1, []
    for t in range(first, T + 1):
        is_eval = t % EVAL == 0 or t == T
        if t == first or t % LOG == 0 or is_eval:
            out.append(dict(run_id=run, parent_run_id=parent, step=t, tokens=t * B, lr=float(eta[t]),
                            train_loss=float(loss[t - 1] + 0.05),
                            val_loss=float(loss[t - 1]) if is_eval else float("nan")))
    return out


def ladder(tmp_path, sizes=TRUE, budgets=BUDGETS):
    """runs + metrics of a WSD ladder (trunk to the last branch point, one branch per budget)."""
    runs, metrics, truth = [], [], {}
    for N, p in sizes.items():
        starts = [int(round(0.8 * D / B)) for D in budgets]
        tr, trunk_T = f"t{N}", max(starts)
        t = np.arange(trunk_T + 1, dtype=float)
        eta = lr_of(t, trunk_T, None)
        metrics += rows_of(tr, None, eta, law_curve(eta, p), 1)
        runs.append(dict(run_id=tr, parent_run_id=None, role="trunk", status="done", N=N, D=trunk_T * B,
                         schedule="constant", final_val_loss=float(law_curve(eta, p)[-1])))
        for D, st in zip(budgets, starts):
            T = D // B
            t = np.arange(T + 1, dtype=float)
            eta = lr_of(t, T, st)
            loss = law_curve(eta, p)
            rid = f"b{N}_{D}"
            metrics += rows_of(rid, tr, eta, loss, st + 1)
            runs.append(dict(run_id=rid, parent_run_id=tr, role="branch", status="done", N=N, D=D,
                             schedule="wsd", final_val_loss=float(loss[-1])))
            truth[rid] = (st, loss)
    return types.SimpleNamespace(runs=pd.DataFrame(runs), metrics=pd.DataFrame(metrics), path=tmp_path), truth


def _analysis():
    from orchestrator.report.analysis import Analysis

    return Analysis()


def test_warmup_is_read_from_the_logged_lrs():
    t = np.arange(1, 301, dtype=float)
    rows = pd.DataFrame({"step": t, "lr": lr_of(t, 300, 240)})
    assert S.warmup_steps(rows) == W
    assert S.warmup_steps(rows[rows["step"] > W]) == 0        # no row inside the warmup


def test_held_out_branch_is_predicted_from_the_trunk_and_shorter_branches(tmp_path):
    (tmp_path / "fits").mkdir()
    data, truth = ladder(tmp_path)
    an = _analysis()
    S.fit_schedules(data, an)
    assert len(an.schedules) == 2 and not an.notes.get("schedules")
    for fam in an.schedules:
        N = int(fam["N"])
        assert fam["W"] == W and fam["held_out"] == f"b{N}_{BUDGETS[-1]}"
        st, loss = truth[fam["held_out"]]
        la = fam["fits"]["lr_annealing"]
        assert la["n_curves"] == 3                                  # trunk + 2 shorter branches
        assert la["final_measured"] == pytest.approx(loss[-1], rel=1e-12)
        assert abs(la["final_predicted"] / loss[-1] - 1) < 5e-3     # the law the data follows
        assert la["curve_mean_abs_rel_error"] < 5e-3
        assert la["curve_points"] == len([t for t in range(st + 1, BUDGETS[-1] // B + 1) if t % EVAL == 0])
        for k in ("L0", "alpha"):
            assert la["params"][k] == pytest.approx(TRUE[N][k], rel=0.1), k
        mp = fam["fits"]["multi_power"]
        assert "error" in mp or math.isfinite(mp["final_rel_error"])
    saved = json.loads((tmp_path / "fits" / "report-schedules.json").read_text())
    assert [t["held_out"] for t in saved["trunks"]] == [f"b{N}_{BUDGETS[-1]}" for N in TRUE]
    fig = S.figure(data, an)
    assert fig is not None and len([a for a in fig.axes if a.get_visible()]) == 2
    sid, _, body = S.schedules_section(data, an, {"schedules": b"\x89PNG"})
    assert sid == "schedules" and 'id="schedules"' in body and "held out" in body
    for fam in an.schedules:                       # the table shows the measured final losses
        assert f'data-value="{float(truth[fam["held_out"]][1][-1])!r}"' in body


def test_a_sweep_without_trunks_or_with_one_branch_says_why(tmp_path):
    data, _ = ladder(tmp_path, budgets=(800_000,))
    an = _analysis()
    S.fit_schedules(data, an)
    assert an.schedules == []
    _, _, body = S.schedules_section(data, an, {})
    assert "No schedule law was fitted" in body and "1 finished branch(es); holding one out needs at least 2" in body
    plain = types.SimpleNamespace(runs=data.runs.assign(role="run", schedule="cosine", parent_run_id=None),
                                  metrics=data.metrics, path=tmp_path)
    an = _analysis()
    S.fit_schedules(plain, an)
    _, _, body = S.schedules_section(plain, an, {})
    assert "no finished WSD trunk" in body
    empty = types.SimpleNamespace(runs=data.runs, metrics=data.metrics.iloc[0:0], path=tmp_path)
    an = _analysis()
    S.fit_schedules(empty, an)
    assert "no validation-loss curves" in S.schedules_section(empty, an, {})[2]
