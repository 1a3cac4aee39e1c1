"""The demo's closing summary (rich table): every number read from the report's analysis."""
from __future__ import annotations

import numpy as np

from orchestrator.report.html import fmt


def summary_rows(data, an, timings: dict) -> list[tuple[str, str]]:
    """(label, value) pairs: runs, law with CIs, frontier at the largest run, best test-time
    result per method, best plan, stage timings."""
    rows: list[tuple[str, str]] = []
    runs = data.runs
    if not runs.empty:
        counts = runs["status"].value_counts()
        rows.append(("runs", ", ".join(f"{k}: {v}" for k, v in counts.items()) + f" (total {len(runs)})"))
    a = an.audit
    if a is not None and a.answer is not None:
        ans = a.answer
        rows.append(("law verdict", f"{a.verdict} ({a.chosen}): " + (a.reasons[0] if a.reasons else "")))
        if ans["quantity"] == "N*":
            band = f" [{fmt(ans['N_lo'])}, {fmt(ans['N_hi'])}]" if ans.get("N_lo") is not None else ""
            rows.append((f"answer at C={fmt(ans['C'])} (exact)",
                         f"N*={fmt(ans['N'])}{band}, D*={fmt(ans['D'])}, loss {fmt(ans['loss'])}"))
        if a.next_runs is not None and len(a.next_runs):
            r = a.next_runs.iloc[0]
            rows.append(("next run", f"N={fmt(r['N'])}, D={fmt(r['D'])}, {fmt(r['C'])} FLOPs "
                         f"(narrows the interval by {100 * r['gain']:.0f} %)"))
    if an.law is not None:
        ci = an.law.ci
        for k, v in an.law.params.items():
            band = f"  [{fmt(ci[k][0])}, {fmt(ci[k][1])}]" if k in ci else ""
            rows.append((f"law {k}", f"{fmt(v)}{band}"))
        rows.append(("law fit", f"{an.law.n_points} runs, R² {fmt(an.law.r2)}"))
    if an.frontier is not None:
        from orchestrator.report.sections import frontier_table

        t = frontier_table(data, an).iloc[1]
        rows.append(("N*, D* at largest run's C", f"C={fmt(t['C'])} (6ND {fmt(t['C_6nd'])}): "
                     f"N*={fmt(t['N'])}, D*={fmt(t['D'])}"))
        rows.append(("frontier exponents", f"N* ∝ C^{fmt(an.frontier.a)}, D* ∝ C^{fmt(an.frontier.b)}"))
    if an.tts is not None:
        t = an.tts.table
        for meth, g in t.groupby("method"):
            b = g.loc[g["accuracy"].idxmax()]
            rows.append((f"test-time {meth}", f"best accuracy {fmt(float(b['accuracy']))} "
                         f"(model {b['model_id']}, n={int(b['budget'])}, {fmt(float(b['flops']))} FLOPs/query)"))
    if an.plan is not None and an.plan.best:
        b = an.plan.best
        rows.append(("joint plan (cheapest)", f"N={fmt(b['N'])}, D={fmt(b['D'])}, {b['method']} n={b['budget']}, "
                     f"accuracy {fmt(b['accuracy'])}, total {fmt(b['total_flops'])} FLOPs"
                     + (" — extrapolated" if b.get("extrapolated") else "")))
    for k, v in timings.items():
        if np.isfinite(v):
            rows.append((f"time {k[:-2]}", f"{v:.1f} s"))
    return rows


def print_summary(console, data, an, report_path, timings: dict) -> None:
    """Print the summary table and the report path."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"scalelab demo — {data.name}", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("value")
    for k, v in summary_rows(data, an, timings):
        table.add_row(escape(k), escape(v))
    console.print(table)
    for sec, items in an.notes.items():
        for text in items[:3]:
            console.print(f"[yellow]note ({sec})[/]: {escape(text)}")
    console.print(f"report: {escape(str(report_path))}", soft_wrap=True, highlight=False)
