"""The report's "schedules" section: one run, many budgets, checked.

A WSD ladder trains, per model size, one stable-LR *trunk* and several cooldown *branches*
taken from it at different token counts. The schedule laws of :mod:`laws.forms.schedule`
(``lr_annealing``, Tissue et al. 2024; ``multi_power``, Luo et al. 2025) describe the whole
validation-loss curve from the LR schedule alone, so fitted on the trunk and some branches they
should predict the curve of a cooldown the fit never saw. Per trunk this module holds out the
branch with the largest budget (its cooldown starts where the trunk ends: the longest
cooldown, the one a researcher would ask about), fits each form on the trunk and the other
branches, and compares the prediction with the held-out branch's measured curve: the final
loss and every point of its cooldown.

Curves (from ``metrics.parquet``, validation rows only): the trunk's rows after warmup, and per
branch the trunk's last row at or before the branch point followed by the branch's own rows
(the form integrates the LR from step 1, ramping over the warmup and constant up to the first
row, which is exact for a trunk). The warmup length ``W`` is read from the trunk's logged LRs
(during warmup the trainer's LR is ``peak * step / W``). Between logged rows the LR is
interpolated linearly, so the start of a cooldown is smeared over at most one evaluation
interval. Results go to ``fits/report-schedules.json``; a sweep that cannot support a fit (no
trunk with two finished branches, too few points, a failed fit) gets a plain sentence saying so.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import laws
from orchestrator.report.html import esc, img, notes, section, table
from orchestrator.runs.sweepdir import roles

FORMS = ("lr_annealing", "multi_power")
MIN_EXTRA_POINTS = 3           # a fit needs at least (parameters + this) measured points
MAX_PANELS = 6


def warmup_steps(rows: pd.DataFrame) -> int:
    """Warmup length W of a trunk from its logged LRs: the trainer's warmup LR at step ``t``
    is ``peak * t / W``; 0 when no logged row is inside the warmup."""
    lr = pd.to_numeric(rows["lr"], errors="coerce").to_numpy(float)
    st = rows["step"].to_numpy(float)
    ok = np.isfinite(lr) & (lr > 0)
    if not ok.any():
        return 0
    peak = float(lr[ok].max())
    at_peak = ok & (lr >= peak * (1 - 1e-6))
    warm = np.flatnonzero(ok & ~at_peak & (st < st[at_peak].min()))
    if not warm.size:
        return 0
    i = warm[0]
    return int(round(st[i] * peak / lr[i]))


def _rows(metrics: pd.DataFrame, run_id: str) -> pd.DataFrame:
    return metrics[metrics["run_id"].astype(str) == str(run_id)].sort_values("step")


def families(runs: pd.DataFrame, metrics: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """Per finished WSD trunk with at least two finished branches: its curves (DataFrame
    ``run, step, tokens, lr, loss, kind``), warmup ``W``, ``N`` and the held-out branch.
    Also returns the plain-language reasons for every trunk left out."""
    why: list[str] = []
    if runs.empty or metrics.empty or "val_loss" not in metrics.columns:
        return [], ["The sweep has no validation-loss curves (metrics.parquet is missing or empty)."]
    role = roles(runs)
    done = runs["status"].astype(str) == "done"
    trunks = runs[(role == "trunk") & done]
    if trunks.empty:
        return [], ["The sweep has no finished WSD trunk (a stable-LR run with cooldown branches), "
                    "so there is no run with many budgets to fit a schedule law to."]
    out = []
    for _, t in trunks.sort_values("N").iterrows():
        parent = runs["parent_run_id"].astype(str) if "parent_run_id" in runs.columns else ""
        brs = runs[(parent == str(t["run_id"])) & done & (role == "branch")]
        brs = brs.sort_values("D")
        label = f"N = {float(t['N']):,.0f} (trunk {t['run_id']})"
        if len(brs) < 2:
            why.append(f"{label}: {len(brs)} finished branch(es); holding one out needs at least 2.")
            continue
        tm = _rows(metrics, t["run_id"])
        W = warmup_steps(tm)
        tv = tm[np.isfinite(pd.to_numeric(tm["val_loss"], errors="coerce")) & (tm["step"] >= max(W, 1))]
        parts = [tv.assign(run=str(t["run_id"]), kind="trunk")]
        starts = {}
        for _, b in brs.iterrows():
            bm = _rows(metrics, b["run_id"])
            if bm.empty:
                continue
            s = int(bm["step"].min()) - 1          # the branch continues from trunk step s
            starts[str(b["run_id"])] = s
            pre = tv[tv["step"] <= s].tail(1)
            bv = bm[np.isfinite(pd.to_numeric(bm["val_loss"], errors="coerce")) & (bm["step"] > s)]
            if pre.empty or bv.empty:
                continue
            parts.append(pd.concat([pre, bv]).assign(run=str(b["run_id"]), kind="fitted"))
        cur = pd.concat(parts, ignore_index=True)
        cur = cur.rename(columns={"val_loss": "loss"})[["run", "step", "tokens", "lr", "loss", "kind"]]
        cur = cur.astype({"step": float, "tokens": float, "lr": float, "loss": float})
        held = [str(r) for r in brs["run_id"] if str(r) in set(cur["run"])]
        if len(held) < 2:
            why.append(f"{label}: fewer than 2 branches have validation rows after their branch point.")
            continue
        hid = held[-1]                              # the largest budget
        cur.loc[cur["run"] == hid, "kind"] = "held out"
        hb = brs[brs["run_id"].astype(str) == hid].iloc[0]
        out.append({"trunk": str(t["run_id"]), "N": float(t["N"]), "W": W, "curves": cur,
                    "held_out": hid, "held_D": float(hb["D"]), "branch_step": starts.get(hid),
                    "label": label})
    return out, why


def _errors(measured: pd.DataFrame, pred: np.ndarray, start: int | None) -> dict[str, float]:
    """Relative errors of a predicted held-out curve: the final point and the cooldown's points."""
    y = measured["loss"].to_numpy(float)
    rel = (pred - y) / y
    cool = measured["step"].to_numpy(float) > (start if start is not None else -1)
    rc = rel[cool] if cool.any() else rel
    return {"final_measured": float(y[-1]), "final_predicted": float(pred[-1]),
            "final_rel_error": float(rel[-1]), "curve_mean_abs_rel_error": float(np.mean(np.abs(rc))),
            "curve_max_abs_rel_error": float(np.max(np.abs(rc))), "curve_points": int(rc.size)}


def fit_family(fam: dict, forms: tuple[str, ...] = FORMS) -> dict:
    """Fit each form on the trunk and the fitted branches of ``fam``; predict every curve,
    the held-out one included; record the held-out errors (``None`` plus a reason when a
    form cannot be fitted)."""
    cur = fam["curves"]
    train = cur[cur["kind"] != "held out"]
    held = cur[cur["kind"] == "held out"]
    res: dict[str, Any] = {}
    for name in forms:
        n_par = len(laws.get_form(name).params)
        if len(train) < n_par + MIN_EXTRA_POINTS:
            res[name] = {"error": f"{len(train)} measured points; {name} has {n_par} parameters and "
                                  f"needs at least {n_par + MIN_EXTRA_POINTS}"}
            continue
        try:
            f = laws.fit(name, train[["run", "step", "lr", "loss"]], warmup_steps=int(fam["W"]))
            pred_all = np.asarray(f.predict(cur[["run", "step", "lr"]]), float)
        except laws.LawFitError as exc:
            res[name] = {"error": str(exc)}
            continue
        ph = pred_all[(cur["kind"] == "held out").to_numpy()]
        if not np.all(np.isfinite(ph)):
            res[name] = {"error": "the fitted law gives no finite prediction for the held-out branch"}
            continue
        res[name] = {"params": {k: float(v) for k, v in f.params.items()}, "r2": float(f.r2),
                     "n_points": int(f.n_points), "n_curves": int(train["run"].nunique()),
                     **_errors(held, ph, fam["branch_step"]), "_pred": pred_all}
    return res


def fit_schedules(data, an) -> None:
    """Fit the schedule laws per trunk and store them on ``an.schedules`` (a list of families
    with their fits); the JSON goes to ``fits/report-schedules.json``. Never raises for data
    that cannot support a fit: a note says why."""
    from orchestrator.report.analysis import write_json

    try:
        fams, why = families(data.runs, data.metrics)
        for fam in fams:
            fam["fits"] = fit_family(fam)
    except Exception as exc:  # noqa: BLE001 - rows the section cannot read are reported, not raised
        an.note("schedules", f"The trunk and branch curves could not be read: {type(exc).__name__}: {exc}")
        return
    for w in why:
        an.note("schedules", w)
    an.schedules = fams
    if not fams:
        return
    out = [{k: v for k, v in fam.items() if k not in ("curves", "fits")}
           | {"forms": {n: {k: v for k, v in r.items() if k != "_pred"} for n, r in fam["fits"].items()}}
           for fam in fams]
    write_json(data.path / "fits" / "report-schedules.json", {"held_out": "largest-budget branch per trunk",
                                                              "forms": list(FORMS), "trunks": out})


def figure(data, an):
    """Measured trunk and branch curves against each form's predictions (held-out branch red)."""
    fams = getattr(an, "schedules", None) or []
    fams = [f for f in fams if any("_pred" in r for r in f.get("fits", {}).values())]
    if not fams:
        return None
    if len(fams) > MAX_PANELS:                 # spread the panels over the sizes
        fams = [fams[i] for i in np.unique(np.linspace(0, len(fams) - 1, MAX_PANELS).round().astype(int))]
    panels = []
    for fam in fams:
        cur = fam["curves"]
        preds = {n: cur[["run", "tokens"]].assign(loss=r["_pred"]) for n, r in fam["fits"].items() if "_pred" in r}
        panels.append({"title": f"N = {fam['N']:,.0f}: held out D = {fam['held_D']:,.0f}",
                       "curves": cur, "predictions": preds})
    return laws.plots.plot_schedule_holdout(panels)


def schedules_section(data, an, figs) -> tuple:
    """The section: what was held out, the figure, the error table, the reasons for gaps."""
    title = "Schedules: one run, many budgets"
    fams = getattr(an, "schedules", None) or []
    why = an.notes.get("schedules", [])
    if not fams:
        text = ("No schedule law was fitted. " + " ".join(why)) if why else "No schedule law was fitted."
        return section("schedules", title, notes([text], "empty"))
    rows = []
    for fam in fams:
        for name, r in fam["fits"].items():
            row = {"N": fam["N"], "form": name, "held_out": fam["held_out"], "held_D": fam["held_D"]}
            if "error" in r:
                row["note"] = f"not fitted: {r['error']}"
            else:
                row.update({k: r[k] for k in ("n_curves", "n_points", "r2", "final_measured", "final_predicted",
                                              "final_rel_error", "curve_points", "curve_mean_abs_rel_error",
                                              "curve_max_abs_rel_error")})
                row["note"] = ""
            rows.append(row)
    ok = [r for r in rows if "final_rel_error" in r]
    summary = []
    for name in FORMS:
        e = [abs(r["final_rel_error"]) for r in ok if r["form"] == name]
        c = [r["curve_mean_abs_rel_error"] for r in ok if r["form"] == name]
        if e:
            summary.append(f"<code>{esc(name)}</code> misses the held-out final loss by at most "
                           f"{100 * max(e):.1f} % (median {100 * float(np.median(e)):.1f} %) and the held-out "
                           f"cooldown's points by {100 * float(np.median(c)):.1f} % on average (median over "
                           f"{len(e)} size(s))")
    body = ("<p>Each model size trained one stable-LR trunk and took cooldown branches from it at several "
            "token budgets. The schedule laws describe the whole loss curve from the learning-rate "
            "schedule alone: <code>lr_annealing</code> (Tissue et al. 2024, "
            f"<code>{esc(laws.get_form('lr_annealing').formula)}</code>) and <code>multi_power</code> (Luo et "
            "al. 2025). Per size, the branch with the largest budget was <b>held out</b>; each law was fitted "
            "on the trunk and the other branches, then asked for the held-out branch's curve from its "
            "schedule alone. The figure shows the measured validation loss (points) and the predictions "
            "(lines; red: the held-out branch); the table gives the errors.</p>")
    if summary:
        body += "<p>" + "; ".join(summary) + ".</p>"
    if figs.get("schedules"):
        body += img(figs["schedules"], "Measured loss curves of each trunk and its branches with the schedule "
                                       "laws' predictions; the held-out branch in red")
    cols = [("N", "N"), ("form", "form"), ("held_out", "held-out branch"), ("held_D", "its D"),
            ("n_curves", "curves fitted"), ("n_points", "points fitted"), ("r2", "R² (fit)"),
            ("final_measured", "final loss measured"), ("final_predicted", "predicted"),
            ("final_rel_error", "relative error"), ("curve_points", "cooldown points"),
            ("curve_mean_abs_rel_error", "mean |rel. error| on the cooldown"),
            ("curve_max_abs_rel_error", "max |rel. error|"), ("note", "note")]
    body += table(rows, cols, tid="schedules", source="metrics.parquet; fits/report-schedules.json",
                  caption="Held-out branch predicted by schedule laws fitted without it")
    return section("schedules", title, body + notes(why))
