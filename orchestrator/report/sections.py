"""The sections of ``report.html``, each built from the stored rows and the fits (no placeholders)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from orchestrator.report.analysis import flops_of, law_data
from orchestrator.report.answer import answer
from orchestrator.report.html import esc, fmt, img, notes, section, table
from orchestrator.report.schedules import schedules_section

STATUSES = ("done", "running", "pending", "diverged", "failed")


def _fig(figs: dict, name: str, alt: str) -> str:
    return img(figs[name], alt) if figs.get(name) else ""


def _empty(text: str) -> str:
    return notes([text], "empty")


def intro(data, an, figs) -> tuple:
    """What was run: spec summary, run counts by status, the runs table with law predictions."""
    spec, runs = data.spec, data.runs
    parts = [f"<p>This report describes sweep <b>{esc(data.name)}</b> stored in "
             f"<code>{esc(data.path)}</code>. A <i>sweep</i> trains a ladder of language models of "
             "different sizes <i>N</i> (non-embedding parameters) for different numbers of training "
             "tokens <i>D</i>, fits a scaling law to their final losses, and then measures how much "
             "extra accuracy test-time compute (sampling many answers, voting, verifiers, search) buys "
             "on the trained models.</p>"]
    data_cfg = spec.get("data") if isinstance(spec.get("data"), dict) else {}
    if data_cfg:
        parts.append(f"<p>Training data: <code>{esc(', '.join(f'{k}={v}' for k, v in data_cfg.items()))}</code>.</p>")
    if runs.empty:
        parts.append(_empty("No training runs are recorded (runs.parquet is missing or empty)."))
        return section("what-was-run", "What was run", "".join(parts))
    counts = runs["status"].value_counts()
    rows = [{"status": s, "runs": int(counts.get(s, 0))} for s in STATUSES]
    rows.append({"status": "total", "runs": int(len(runs))})
    parts.append(table(rows, [("status", "status"), ("runs", "runs")], tid="status-counts",
                       source="runs.parquet", caption="Runs by status"))
    cols = [c for c in ("run_id", "parent_run_id", "status", "N", "D", "C", "C_6nd", "width", "depth", "lr",
                        "schedule", "seed", "final_val_loss") if c in runs.columns]
    r = runs[cols].sort_values([c for c in ("N", "D") if c in cols]).copy()
    if an.law is not None:
        ok = r["run_id"].isin(set(data.done["run_id"]))   # the runs the law was fitted to
        pred = np.full(len(r), np.nan)
        pred[ok.to_numpy()] = an.law.predict(r.loc[ok, ["N", "D"]].astype(float))
        r["predicted_loss"] = pred
        r["residual"] = r["final_val_loss"] - r["predicted_loss"]
    if "reason" in runs.columns:
        r["reason"] = runs.loc[r.index, "reason"]
    heads = {"run_id": "run", "parent_run_id": "branch of", "final_val_loss": "final val loss",
             "predicted_loss": "law prediction", "residual": "residual", "C": "C (exact FLOPs)",
             "C_6nd": "6·N·D"}
    parts.append(table(r, [(c, heads.get(c, c)) for c in r.columns], tid="runs",
                       source="runs.parquet; law prediction from fits/report-law.json",
                       caption="Every run (WSD cooldown branches name their trunk run)"))
    return section("what-was-run", "What was run", "".join(parts))


def loss_curves(data, an, figs) -> tuple:
    """Validation-loss curves per run with the law's predictions."""
    body = _fig(figs, "loss_curves", "Validation loss vs tokens per run, with the fitted law")
    if not body:
        body = _empty("No validation-loss rows are recorded (metrics.parquet is missing or empty).")
    return section("loss-curves", "Loss curves per run", body + notes(an.notes.get("curves", [])))


def law(data, an, figs) -> tuple:
    """The audited L(N, D): the chosen form's parameters with CIs, every candidate form's
    backtest, the backtest figure, the data range."""
    title = "Fitted scaling law L(N, D)"
    if an.law is None:
        return section("law", title, _empty(" ".join(an.notes.get("law", ["No law."]))))
    f, a = an.law, an.audit
    pts = law_data(data)
    rows = [{"parameter": k, "estimate": v, "ci_lo": f.ci.get(k, (np.nan,))[0] if f.ci else np.nan,
             "ci_hi": f.ci.get(k, (np.nan, np.nan))[1] if f.ci else np.nan} for k, v in f.params.items()]
    body = (f"<p>Every L(N, D) form ({esc(', '.join(a.fits))}) was fitted the Hoffmann/Epoch way (Huber "
            "loss on log loss, L-BFGS-B from a grid of starts) to the final validation loss of "
            f"<b>{f.n_points}</b> finished runs, and backtested: refitted without the largest size, it "
            "predicts that size (and, with 5 or more sizes, each size left out in turn). "
            f"Chosen: <code>{esc(f.form)}</code>, <code>{esc(f.formula)}</code> — {esc(a.choice)}. "
            f"95% confidence intervals from <b>{f.n_boot}</b> bootstrap resamples of the runs; "
            f"R² = {esc(fmt(f.r2))}. Verdict of the audit: <b>{esc(a.verdict)}</b> (reasons in the first "
            "section).</p>")
    body += _fig(figs, "law_fit", "Final loss vs tokens with the fitted law and 95% CI band")
    body += table(rows, [("parameter", "parameter"), ("estimate", "estimate"), ("ci_lo", "95% CI low"),
                         ("ci_hi", "95% CI high")], tid="law-params", source="fits/report-law.json",
                  caption=f"Parameters of the chosen law ({f.form})")
    forms = []
    for name in a.fits:
        sc, dg = a.scores.get(name, {}), a.diagnostics.get(name, {})
        flags = [f"{b['param']} at {b['side']} bound" for b in dg.get("bounds", [])]
        flags += [f"{b['param']} negligible" for b in dg.get("negligible", [])]
        flags += [f"{c['param']} CI to bound" for c in dg.get("ci_at_bound", [])]
        if dg.get("basins", 1) > 1:
            flags.append(f"{dg['basins']} basins")
        forms.append({"form": name, "chosen": name == a.chosen, "params": dg.get("n_params"),
                      "holdout": sc.get("holdout_error"), "loso": sc.get("loso_error"), "score": sc.get("score"),
                      "answer": (a.answers.get(name) or {}).get("N" if a.answer and a.answer["quantity"] == "N*" else "loss"),
                      "flags": "; ".join(flags)})
    body += table(forms, [("form", "form"), ("chosen", "chosen"), ("params", "parameters"),
                          ("holdout", "hold-out |error|"), ("loso", "leave-one-size-out |error|"),
                          ("score", "backtest score"), ("answer", "its answer"), ("flags", "diagnostics")],
                  tid="law-forms", source="fits/report-audit.json", caption="Every candidate form, backtested")
    body += _fig(figs, "backtest", "Backtest: held-out runs' loss predicted by each refitted law")
    held = a.backtest[(a.backtest["kind"] == "holdout") & (a.backtest["form"] == a.chosen)]
    if len(held):
        body += table(held, [("run_id", "run"), ("N", "N"), ("D", "D"), ("actual", "actual loss"),
                             ("predicted", "predicted"), ("rel_error", "relative error"), ("lo", "95% low"),
                             ("hi", "95% high"), ("inside", "inside?")], tid="backtest",
                      source="fits/report-audit.json", caption=f"Held-out runs predicted by {a.chosen}")
    rng = [{"quantity": c, "min": float(pts[c].min()), "max": float(pts[c].max())} for c in ("N", "D")]
    c = flops_of(an, pts)
    rng.append({"quantity": "C (exact FLOPs)", "min": float(c.min()), "max": float(c.max())})
    body += table(rng, [("quantity", "fitted on"), ("min", "min"), ("max", "max")], tid="law-range",
                  source="runs.parquet (done runs)", caption="Range of the data behind the fit")
    if an.live:
        body += ("<p>While the ladder trained, the law was refitted live each time new runs "
                 f"finished ({len(an.live)} refit(s)).</p>")
        keys = [k for k in an.live[0] if k not in ("refit", "n_points", "r2")]
        body += table(an.live, [("refit", "refit"), ("n_points", "runs"), ("r2", "R²")] + [(k, k) for k in keys],
                      tid="law-live", source="fits/chinchilla_history.json", caption="Live refits during training")
    return section("law", title, body + notes(an.notes.get("law", []) + list(a.notes)))


def frontier_table(data, an) -> pd.DataFrame:
    """N*(C), D*(C) and predicted loss (95 % bands) at the smallest and largest run's exact C and
    10×/100×/1000× beyond, with 6·N·D beside C; ``caveat`` says on every row beyond the runs
    that a law whose verdict is not "sound" is being extrapolated."""
    import laws

    c = flops_of(an, law_data(data))
    c_min, c_max = float(c.min()), float(c.max())
    C = np.array([c_min, c_max, 10 * c_max, 100 * c_max, 1000 * c_max])
    t = laws.frontier_table(an.law, C, compute=an.compute)
    t["beyond"] = t["C"] / c_max
    v = an.audit.verdict if an.audit is not None else "unaudited"
    t["caveat"] = ["" if b <= 1 + 1e-9 or v == "sound" else
                   f"law is {v}: extrapolated {b:.3g}× beyond the largest run, not supported by the audit"
                   for b in t["beyond"]]
    t.loc[t["edge"], "caveat"] = "no optimum inside the searched sizes"
    return t


def frontier(data, an, figs) -> tuple:
    """IsoFLOP / frontier plot and the table of N*(C), D*(C) with CIs."""
    title = "Compute-optimal frontier N*(C), D*(C)"
    if an.frontier is None:
        return section("frontier", title, _empty(" ".join(an.notes.get("frontier", ["No frontier."]))))
    fr = an.frontier
    ex = [{"quantity": "a (N* ∝ C^a, the law's optimum)", "estimate": fr.a, "ci_lo": fr.ci.get("a", (np.nan, np.nan))[0],
           "ci_hi": fr.ci.get("a", (np.nan, np.nan))[1]},
          {"quantity": "b (D* ∝ C^b, the law's optimum)", "estimate": fr.b, "ci_lo": fr.ci.get("b", (np.nan, np.nan))[0],
           "ci_hi": fr.ci.get("b", (np.nan, np.nan))[1]}]
    if an.isoflop is not None:
        ex += [{"quantity": "a (IsoFLOP parabolas)", "estimate": an.isoflop.a,
                "ci_lo": an.isoflop.ci.get("a", (np.nan, np.nan))[0], "ci_hi": an.isoflop.ci.get("a", (np.nan, np.nan))[1]},
               {"quantity": "b (IsoFLOP parabolas)", "estimate": an.isoflop.b,
                "ci_lo": an.isoflop.ci.get("b", (np.nan, np.nan))[0], "ci_hi": an.isoflop.ci.get("b", (np.nan, np.nan))[1]}]
    body = ("<p>For a training budget of C FLOPs — the exact count the runs record, attention and output "
            f"layer included ({esc(an.compute.source)}), with 6·N·D beside it — the law says which model "
            "size N* and token count D* give the lowest loss: the law is minimised along C(N, D) = C, "
            "and the bands are the same minimisation for every bootstrap replicate. The exponents are "
            "power laws fitted through that optimum across the runs' C.</p>")
    body += _fig(figs, "frontier", "IsoFLOP curves and compute-optimal N*(C), D*(C) with 95% CIs")
    body += table(ex, [("quantity", "exponent"), ("estimate", "estimate"), ("ci_lo", "95% CI low"),
                       ("ci_hi", "95% CI high")], tid="frontier-exponents", source="fits/report-frontier.json",
                  caption="Frontier exponents")
    t = frontier_table(data, an)
    cols = [("C", "C (exact FLOPs)"), ("C_6nd", "6·N*·D*"), ("beyond", "× largest run's C"), ("N", "N*"),
            ("N_lo", "N* 95% low"), ("N_hi", "N* 95% high"), ("D", "D*"), ("D_lo", "D* 95% low"),
            ("D_hi", "D* 95% high"), ("loss", "predicted loss"), ("loss_lo", "loss 95% low"),
            ("loss_hi", "loss 95% high"), ("caveat", "caveat")]
    body += table(t, [c for c in cols if c[0] in t.columns], tid="frontier",
                  source="fits/report-frontier.json + fits/report-law.json",
                  caption="Compute-optimal allocation (smallest and largest run's C, then extrapolations)")
    return section("frontier", title, body + notes(an.notes.get("frontier", []) + list(fr.notes)))


def tts(data, an, figs) -> tuple:
    """Test-time accuracy vs inference FLOPs per model and method, with the frontier."""
    title = "Test-time scaling: accuracy vs inference FLOPs"
    if an.tts is None:
        return section("tts", title, _empty(" ".join(an.notes.get("tts", ["No test-time rows."]))))
    t = an.tts.table
    body = ("<p>Each trained model answered held-out problems with several test-time methods and "
            "budgets (n samples, particles or beams). Accuracy is the fraction of problems answered "
            "correctly; FLOPs are what the method really spent per problem, the policy model's and "
            "the reward model's together. The black line is the Pareto frontier: the cheapest way "
            "found to reach each accuracy.</p>")
    body += _fig(figs, "tts", "Accuracy vs inference FLOPs per model and method, with the Pareto frontier")
    t, kinds = _reward_kinds(data.tts, t)
    if kinds:
        body += ("<p>Reward models: " + "; ".join(f"<b>{esc(k)}</b> — {esc(v)}" for k, v in kinds.items())
                 + ".</p>")
    cols = [("model_id", "model"), ("N", "N"), ("method", "method"), ("reward_kind", "reward"),
            ("budget", "budget n"),
            ("max_tokens", "max tokens"), ("n_problems", "problems"), ("accuracy", "accuracy"), ("flops", "FLOPs / query"),
            ("policy_flops", "policy FLOPs"), ("reward_flops", "reward FLOPs")]
    body += table(t, [c for c in cols if c[0] in t.columns], tid="tts", source="tts.parquet",
                  caption=f"Test-time results{' for task ' + an.tts_task if an.tts_task else ''}")
    f = _reward_kinds(data.tts, an.tts.frontier)[0]
    body += table(f, [c for c in cols[:9] if c[0] in f.columns], tid="tts-frontier", source="tts.parquet",
                  caption="Pareto frontier")
    return section("tts", title, body + notes(an.notes.get("tts", [])))


_REWARD_WHAT = {True: "oracle: the task's exact checker (not available in deployment)",
                False: "non-oracle: a model's own judgement, no access to the answer"}


def _reward_kinds(rows: pd.DataFrame, t: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Label each aggregated row's reward model oracle / non-oracle (from the rows' ``oracle``
    column) and describe every reward model used."""
    if rows.empty or "reward_model" not in rows.columns or "oracle" not in rows.columns \
            or "reward_model" not in t.columns:
        return t, {}
    rm = rows["reward_model"].astype("string").fillna("")
    flags = rows[rm != ""].groupby(rm[rm != ""])["oracle"].all()
    kinds = {str(k): _REWARD_WHAT[bool(v)] for k, v in flags.items()}
    label = {k: ("oracle" if bool(v) else "non-oracle") for k, v in flags.items()}
    t = t.assign(reward_kind=t["reward_model"].astype("string").fillna("").map(
        lambda r: f"{r} ({label[r]})" if r in label else ""))
    return t, kinds


def plan(data, an, figs) -> tuple:
    """The joint training + inference plan table from ``laws.plan``."""
    title = "Joint plan: training + test-time compute"
    if an.plan is None:
        return section("plan", title, _empty(" ".join(an.notes.get("plan", ["No plan."]))))
    p = an.plan
    if p.table.empty:
        return section("plan", title, _empty("No plan reaches the target: " + " ".join(an.notes.get("plan", []))))
    body = (f"<p>Total cost = training FLOPs (exact; 6·N·D beside) + Q × inference eFLOPs per query, for "
            f"Q = <b>{esc(fmt(p.queries))}</b> expected queries; eFLOPs = FLOPs + I × KV-cache bytes "
            "(Kinetics), with tokens per query measured per evaluated model. Loss comes from the audited "
            "law, accuracy from Gadre et al.'s loss→error map per (method, n), floored at chance and "
            "backtested on the largest evaluated model. Rows are ranked by total cost among plans "
            f"reaching accuracy ≥ <b>{esc(fmt(p.target_accuracy))}</b>; the last columns give the law's "
            "verdict and where a row leaves the measured data.</p>")
    cols = [("N", "N"), ("D", "D"), ("tokens_per_param", "D/N"), ("method", "method"), ("budget", "n"),
            ("loss", "predicted loss"), ("accuracy", "predicted accuracy"), ("train_flops", "training FLOPs"),
            ("train_flops_6nd", "6·N·D"), ("inference_eflops", "eFLOPs / query"), ("total_flops", "total FLOPs"),
            ("law_verdict", "law verdict"), ("extrapolation", "extrapolation")]
    body += table(p.table, [c for c in cols if c[0] in p.table.columns], tid="plan",
                  source="fits/report-plan.json", caption="Cheapest plans")
    if p.maps is not None and "backtest_error" in p.maps.columns:
        bt = p.maps[p.maps["backtest_error"].notna()] if "backtest_error" in p.maps else p.maps.iloc[0:0]
        if len(bt):
            body += table(bt, [("method", "method"), ("budget", "n"), ("kind", "map"), ("backtest_model", "held out"),
                               ("backtest_actual", "measured accuracy"), ("backtest_pred", "predicted"),
                               ("backtest_error", "error")], tid="plan-backtest", source="fits/report-plan.json",
                          caption="Loss→accuracy maps refitted without the largest evaluated model")
    return section("plan", title, body + notes(an.notes.get("plan", [])))


def extrapolation(data, an, figs) -> tuple:
    """What was extrapolated and how far: data ranges vs where predictions were made."""
    title = "What was extrapolated and how far"
    rows = []
    if an.law is not None:
        pts = law_data(data)
        c = flops_of(an, pts)
        t = frontier_table(data, an) if an.frontier is not None else None
        for q, lo, hi in (("N", pts["N"].min(), pts["N"].max()), ("D", pts["D"].min(), pts["D"].max()),
                          ("C", c.min(), c.max())):
            far = float(t[q].max()) if t is not None else np.nan
            rows.append({"what": f"training law: {q}", "lo": float(lo), "hi": float(hi), "furthest": far,
                         "factor": far / float(hi) if np.isfinite(far) else np.nan,
                         "where": "frontier table (largest C)"})
    if an.plan is not None and an.plan.best:
        b = an.plan.best
        for q in ("N", "D"):
            hi = float(law_data(data)[q].max())
            rows.append({"what": f"joint plan: {q}", "lo": float(law_data(data)[q].min()), "hi": hi,
                         "furthest": float(b[q]), "factor": float(b[q]) / hi, "where": "best plan"})
    if an.plan is not None and an.plan.best and an.plan.maps is not None:
        b, maps = an.plan.best, an.plan.maps
        m = maps[(maps["method"] == b["method"]) & (maps["budget"] == b["budget"])]
        if len(m):
            lo, hi = float(m["loss_lo"].iloc[0]), float(m["loss_hi"].iloc[0])
            rows.append({"what": f"joint plan: loss → accuracy map of {b['method']} n={b['budget']}",
                         "lo": lo, "hi": hi, "furthest": float(b["loss"]),
                         "factor": np.nan, "where": "best plan (loss of the planned model)"})
    for r in rows:
        r["inside"] = bool(r["lo"] * (1 - 1e-9) <= r["furthest"] <= r["hi"] * (1 + 1e-9))
    if not rows:
        return section("extrapolation", title, _empty("Nothing was fitted, so nothing was extrapolated."))
    body = ("<p>A scaling law is only checked where it has data. This table lists the range of the "
            "data behind each fit and the furthest point where this report uses it; a factor above 1 "
            "means a prediction beyond the largest measured value (treat it as a hypothesis).</p>")
    body += table(rows, [("what", "quantity"), ("lo", "data min"), ("hi", "data max"),
                         ("furthest", "furthest prediction"), ("factor", "× beyond data max"),
                         ("inside", "inside the data?"), ("where", "used in")], tid="extrapolation",
                  source="runs.parquet, tts.parquet, fits/report-*.json", caption="Extrapolation")
    extra = []
    if an.plan is not None and an.plan.best and an.plan.best.get("extrapolation"):
        extra.append(f"Best plan: {an.plan.best['extrapolation']}")
    return section("extrapolation", title, body + notes(extra))


SECTIONS = (answer, intro, loss_curves, schedules_section, law, frontier, tts, plan, extrapolation)
