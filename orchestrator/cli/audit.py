"""`scalelab audit DIR|FILE` — audit the L(N, D) laws of a sweep directory or a table of runs.

    scalelab audit scalelab_runs/quickstart
    scalelab audit runs.csv --col N="Model Size" --col D=Tokens --col loss="Final loss" --target-C 1e21

Every L(N, D) form is fitted and backtested, one is chosen, and the verdict (sound / weak /
unidentifiable) is printed with its reasons, the answer at the target compute with 95 %
intervals and the runs to make next (:func:`laws.audit`).  ``DIR`` is a sweep directory (its
done runs, exact FLOPs from ``runs.parquet``); ``FILE`` a .csv or .parquet with columns N, D,
loss (and C, the exact training FLOPs, when known).  Bad input exits 2 with one line.
"""
from __future__ import annotations

import argparse
import math
import os


def register(subparsers) -> None:
    """Add the ``audit`` command to the ``scalelab`` CLI."""
    p = subparsers.add_parser(
        "audit", help="audit the L(N, D) laws of a sweep or a table: backtest, verdict, next runs",
        description="Fit and backtest every L(N, D) law form on the runs of DIR (a sweep directory) "
                    "or FILE (.csv/.parquet with N, D, loss and optionally C = exact training FLOPs), "
                    "choose one, and print the verdict (sound / weak / unidentifiable) with its "
                    "reasons, the answer at the target compute and the runs to make next.")
    p.add_argument("path", metavar="DIR|FILE", help="sweep directory, or a .csv / .parquet table")
    p.add_argument("--col", action="append", default=[], metavar="NAME=COLUMN",
                   help='for a FILE: use its COLUMN as NAME (N, D, loss, C), e.g. --col N="Model Size"')
    p.add_argument("--target-C", type=float, default=None, metavar="FLOPS",
                   help="training FLOPs to answer for (default: 10x the largest run's)")
    p.add_argument("--holdout", default="largest_N", choices=("largest_N", "largest_C", "none"),
                   help="runs held out for the backtest (default largest_N)")
    p.add_argument("--forms", default=None, metavar="A,B",
                   help="forms to compare (default: every L(N, D) form)")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap replicates (default 200)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--json", metavar="OUT.json", help="write the whole audit as JSON (atomically)")
    p.set_defaults(func=run)


def load_runs(path: str, cols: list[str]):
    """The runs to audit: a sweep directory's done runs (``N, D, C, loss, run_id``) or a table."""
    import pandas as pd

    from orchestrator.cli.fit import _error, _pairs, read_table

    if os.path.isdir(path) or "://" in path:
        if cols:
            raise _error("--col: only for a FILE, not a sweep directory")
        from orchestrator.runs.sweepdir import SweepDir, law_runs

        sd = SweepDir.existing(path, "DIR")
        runs = law_runs(sd.runs())
        if runs.empty:
            raise _error(f"DIR {path!r}: no finished run with a finite loss to audit")
        keep = [c for c in ("run_id", "N", "D", "C", "final_val_loss") if c in runs.columns]
        df = runs[keep].rename(columns={"final_val_loss": "loss"})
        if "C" in df.columns and not (pd.to_numeric(df["C"], errors="coerce") > 0).all():
            df = df.drop(columns="C")
        return df
    return read_table(path, _pairs(cols, "--col"))


def run(args: argparse.Namespace) -> int:
    """Execute ``scalelab audit``; returns the exit code (user errors raise with exit_code 2)."""
    from rich.console import Console
    from rich.table import Table

    import laws
    from orchestrator.cli.fit import _error, _write_json, print_verdict

    if args.bootstrap < 10:
        raise _error(f"--bootstrap {args.bootstrap}: must be >= 10 (the audit's intervals need replicates)")
    if args.seed < 0:
        raise _error(f"--seed {args.seed}: must be >= 0")
    if args.target_C is not None and not (math.isfinite(args.target_C) and args.target_C > 0):
        raise _error(f"--target-C {args.target_C}: must be a positive number of FLOPs")
    if args.json:
        parent = os.path.dirname(os.path.abspath(args.json))
        if os.path.isdir(args.json) or not os.path.isdir(parent) or not os.access(parent, os.W_OK):
            raise _error(f"--json {args.json!r}: not a writable file path")
    forms = None if args.forms is None else [f.strip() for f in args.forms.split(",") if f.strip()]
    for f in forms or []:
        if f not in laws.forms():
            raise _error(f"--forms: unknown law form {f!r}; known: {', '.join(sorted(laws.forms()))}")
    df = load_runs(args.path, args.col)
    console = Console()
    with console.status(f"auditing {len(df)} runs ({args.bootstrap} bootstrap replicates)"):
        probe = laws.ComputeModel.fit(df["N"], df["D"], df["C"] if "C" in df.columns else None) \
            if {"N", "D"} <= set(df.columns) else None
        target = args.target_C
        if target is None and probe is not None:
            target = 10 * float(probe.flops(df["N"].astype(float), df["D"].astype(float)).max())
        a = laws.audit(df, forms=forms, holdout=None if args.holdout == "none" else args.holdout,
                       bootstrap=args.bootstrap, seed=args.seed, target_C=target)
    print_verdict(console, a, reasons=20)
    ans = a.answer
    if ans is not None:
        t = Table(title=f"answer at C = {ans['C']:.4g} FLOPs (exact; 6·N·D = {ans['C_6nd']:.4g}; "
                        f"{ans['beyond']:.3g}× the largest run) — {a.chosen}")
        for c in ("quantity", "estimate", "95% low", "95% high"):
            t.add_column(c, justify="left" if c == "quantity" else "right")
        for q, k in (("N*", "N"), ("D*", "D"), ("loss", "loss")):
            if ans.get(k) is not None:
                lo, hi = ans.get(k + "_lo"), ans.get(k + "_hi")
                t.add_row(q, f"{ans[k]:.4g}", "" if lo is None else f"{lo:.4g}", "" if hi is None else f"{hi:.4g}")
        console.print(t)
    t = Table(title="forms (backtest: mean |relative error| of held-out runs)")
    for c in ("form", "parameters", "hold-out", "leave-one-size-out", "chosen"):
        t.add_column(c)
    for f, fit in a.fits.items():
        sc = a.scores.get(f, {})
        pct = lambda v: "" if v is None else f"{100 * v:.2f} %"  # noqa: E731
        t.add_row(f, str(len(fit.params)), pct(sc.get("holdout_error")), pct(sc.get("loso_error")),
                  "yes" if f == a.chosen else "")
    console.print(t)
    if len(a.next_runs):
        t = Table(title="next runs (ranked by interval narrowed per FLOP)")
        for c in ("N", "D", "C (exact)", "6·N·D", "narrows by"):
            t.add_column(c, justify="right")
        for r in a.next_runs.itertuples():
            t.add_row(f"{r.N:.4g}", f"{r.D:.4g}", f"{r.C:.4g}", f"{r.C_6nd:.4g}", f"{100 * r.gain:.0f} %")
        console.print(t)
    for n in a.notes:
        console.print(f"note: {n}", highlight=False, soft_wrap=True)
    if args.json:
        _write_json(args.json, a.to_dict())
        console.print(f"wrote {args.json}")
    return 0
