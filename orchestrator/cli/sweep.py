"""``scalelab sweep run|status|runs``: run a sweep spec, show its ledger, export its runs.

    scalelab sweep run examples/quickstart.yaml [--storage DIR]
    scalelab sweep status scalelab_runs/quickstart
    scalelab sweep runs scalelab_runs/quickstart --format csv

A bad spec prints one line naming the field and exits 2 before Ray starts.
"""
from __future__ import annotations

import argparse
import sys

from orchestrator.errors import UsageError

_RIGHT = ("N", "D", "lr", "batch", "seed", "final_val_loss")
_RICH_ROWS = 200                 # more rows than this print as plain text, even on a terminal
_SHOW = ["run_id", "role", "status", "N", "D", "lr", "batch", "seed", "final_val_loss", "reason"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` command group."""
    p = subparsers.add_parser("sweep", help="run training sweeps on Ray Tune and inspect them")
    sub = p.add_subparsers(dest="sweep_command", metavar="SUBCOMMAND")
    run = sub.add_parser("run", help="run (or resume) the sweep of a spec file")
    run.add_argument("spec", help="sweep spec YAML")
    run.add_argument("--storage", default=None,
                     help="directory or URI to store sweeps in (default: the spec's storage)")
    run.add_argument("--no-progress", action="store_true", help="no progress output")
    run.set_defaults(func=_run)
    st = sub.add_parser("status", help="table of the runs of a sweep directory")
    st.add_argument("dir", help="sweep directory (<storage>/<name>)")
    st.set_defaults(func=_status)
    rs = sub.add_parser("runs", help="print the runs table of a sweep directory")
    rs.add_argument("dir", help="sweep directory (<storage>/<name>)")
    rs.add_argument("--format", choices=("csv", "json"), default="csv")
    rs.set_defaults(func=_runs)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _run(args: argparse.Namespace) -> int:
    from orchestrator.spec.sweep import SweepSpec

    spec = SweepSpec.from_yaml(args.spec)          # SpecError → one line, exit 2, no Ray
    from orchestrator.runs.sweep import Sweep

    result = Sweep(spec, storage=args.storage, progress=not args.no_progress).run()
    counts = result.runs["status"].value_counts().to_dict() if len(result.runs) else {}
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"sweep {spec.name}: {len(result.runs)} runs ({summary}) in {result.wall_s:.1f}s; "
          f"{result.sweep_dir}")
    return 0 if counts.get("failed", 0) == 0 else 1


def _load(path: str):
    from orchestrator.runs.sweepdir import SweepDir

    sweep = SweepDir.existing(path)
    if not sweep.has_runs():
        raise UsageError(f"dir: {path} is not a sweep directory (no runs.parquet)")
    return sweep.runs()


def _status(args: argparse.Namespace) -> int:
    df = _load(args.dir)
    cols = [c for c in _SHOW if c in df.columns]
    cells = [[_fmt(c, v) for c, v in zip(cols, vals)]
             for vals in df[cols].itertuples(index=False, name=None)]
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no runs"
    if sys.stdout.isatty() and len(cells) <= _RICH_ROWS:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"sweep {args.dir}")
        for c in cols:
            table.add_column(c, no_wrap=c in ("run_id", "status"),
                             justify="right" if c in _RIGHT else "left")
        for row in cells:
            table.add_row(*row)
        console = Console()
        console.print(table)
        console.print(summary)
        return 0
    # a pipe, a log or a big sweep: plain aligned columns (rich takes seconds for 2,000 rows)
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]

    def line(vals):
        return "  ".join(v.rjust(w) if c in _RIGHT else v.ljust(w)
                         for c, v, w in zip(cols, vals, widths)).rstrip()

    out = [f"sweep {args.dir}", line(cols), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    sys.stdout.write("\n".join(out + [summary]) + "\n")
    return 0


def _fmt(col: str, v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if col == "lr":
        return f"{v:.3g}"
    if col == "final_val_loss":
        return f"{v:.4f}"
    if col in ("N", "D", "batch", "seed"):
        return f"{int(v):,}"
    return str(v)[:60]


def _runs(args: argparse.Namespace) -> int:
    df = _load(args.dir)
    if args.format == "csv":
        df.to_csv(sys.stdout, index=False)
    else:
        sys.stdout.write(df.to_json(orient="records", indent=1))
        sys.stdout.write("\n")
    return 0
