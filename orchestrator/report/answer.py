"""The report's first section: the answer for the target compute, how sure it is, what to run next.

Every number comes from the audit (``fits/report-audit.json``): N*, D* and the predicted loss at
the target training FLOPs with their 95 % intervals, the predicted accuracy of the best test-time
method where test-time results exist (from the plan's loss→accuracy maps), the verdict and its
reasons, and the proposed next runs.
"""
from __future__ import annotations

from orchestrator.report.html import esc, fmt, notes, section, table

MEANING = {
    "sound": "the law predicts runs it did not see, its parameters are determined by the runs, and "
             "the answer is tight enough to act on.",
    "weak": "the law is determined, but not yet to be trusted for this decision: read the reasons, "
            "and consider the runs proposed below.",
    "unidentifiable": "these runs cannot determine the law. The numbers below are what the fit happens "
                      "to say, not an answer; the runs proposed below are what would change that.",
}


def accuracy_rows(an) -> list[dict]:
    """Predicted accuracy of the best (method, n) map at the answer's loss: its interval is the
    loss interval mapped through the map (the map's own uncertainty is not in it)."""
    from laws.planner.maps import predict

    ans = an.audit.answer if an.audit is not None else None
    if ans is None or an.plan is None or an.plan.maps is None or ans.get("loss_lo") is None:
        return []
    rows = []
    for m in an.plan.maps.to_dict(orient="records"):
        if m.get("reason"):
            continue
        acc = float(predict(m, ans["loss"]))
        lo, hi = sorted(float(predict(m, x)) for x in (ans["loss_lo"], ans["loss_hi"]))
        inside = m["loss_lo"] <= ans["loss"] <= m["loss_hi"]
        where = (f"map fitted on losses {m['loss_lo']:.3g}–{m['loss_hi']:.3g}"
                 + ("" if inside else "; extrapolated"))
        rows.append({"quantity": f"predicted accuracy, {m['method']} n={m['budget']} ({where})",
                     "estimate": acc, "lo": lo, "hi": hi})
    rows.sort(key=lambda r: -r["estimate"])
    return rows[:1]


def answer_rows(an) -> list[dict]:
    """The answer table: C (exact and as 6·N·D), N*, D*, loss, accuracy with 95 % intervals."""
    ans = an.audit.answer
    rows = [{"quantity": "training FLOPs C (exact)", "estimate": ans["C"], "lo": None, "hi": None},
            {"quantity": "the same as 6·N*·D*", "estimate": ans.get("C_6nd"), "lo": None, "hi": None},
            {"quantity": "× the largest run's C", "estimate": ans.get("beyond"), "lo": None, "hi": None}]
    if ans["quantity"] == "N*":
        rows += [{"quantity": "compute-optimal parameters N*", "estimate": ans["N"], "lo": ans.get("N_lo"),
                  "hi": ans.get("N_hi")},
                 {"quantity": "compute-optimal tokens D*", "estimate": ans["D"], "lo": ans.get("D_lo"),
                  "hi": ans.get("D_hi")}]
    rows.append({"quantity": "predicted final loss", "estimate": ans["loss"], "lo": ans.get("loss_lo"),
                 "hi": ans.get("loss_hi")})
    return rows + accuracy_rows(an)


def answer(data, an, figs) -> tuple:
    """The answer for the target compute, the verdict with its reasons and the next runs."""
    title = "The answer, and how sure we are"
    a = an.audit
    if a is None or a.answer is None:
        why = " ".join(an.notes.get("law", [])) or "No training law could be fitted, so there is no answer."
        return section("answer", title, notes([why], "empty"))
    ans = a.answer
    body = (f"<p class=\"verdict verdict-{esc(a.verdict)}\" id=\"verdict\" data-verdict=\"{esc(a.verdict)}\">"
            f"Verdict: <b>{esc(a.verdict)}</b> — {esc(MEANING[a.verdict])}</p>")
    if ans["quantity"] == "N*":
        body += (f"<p>For a training budget of <b>{esc(fmt(ans['C']))}</b> FLOPs (exact count, attention and "
                 f"output layer included; {esc(fmt(ans['beyond']))}× the largest run), the "
                 f"<code>{esc(a.chosen)}</code> law puts the compute-optimal model at "
                 f"<b>N* = {esc(fmt(ans['N']))}</b> parameters trained on <b>D* = {esc(fmt(ans['D']))}</b> "
                 f"tokens, with a final loss of <b>{esc(fmt(ans['loss']))}</b>. "
                 "Intervals are 95 % bootstrap intervals over the runs"
                 + (f", widened to cover {esc(', '.join(ans['forms']))}, which backtest equally well"
                    if len(ans.get("forms") or []) > 1 else "") + ".</p>")
    body += table(answer_rows(an), [("quantity", "quantity"), ("estimate", "estimate"), ("lo", "95% low"),
                                    ("hi", "95% high")], tid="answer", source="fits/report-audit.json",
                  caption="The answer at the target compute")
    body += "<p>Why this verdict:</p><ul id=\"reasons\">" + "".join(
        f"<li>{esc(r)}</li>" for r in a.reasons) + "</ul>"
    body += f"<p>Form: {esc(a.choice)}.</p>"
    nr = a.next_runs
    if nr is not None and len(nr):
        body += ("<p>Runs to make next, ranked by how much each would narrow the answer's interval per "
                 "FLOP it costs (simulated: the run is added at the loss the law predicts and the "
                 "bootstrap is redone):</p>")
        body += table(nr, [("N", "N"), ("D", "D"), ("C", "C (exact FLOPs)"), ("C_6nd", "6·N·D"),
                           ("gain", "share of the interval removed"), ("loss", "predicted loss"),
                           ("loss_lo", "95% low"), ("loss_hi", "95% high")],
                      tid="next-runs", source="fits/report-audit.json", caption="Proposed next runs")
    extra = [n for n in a.notes if n.startswith("next runs:")]
    return section("answer", title, body + notes(extra))
