"""`scalelab tts run SPEC [--storage DIR]` and `scalelab tts curves DIR`.

``run`` schedules a test-time spec as Ray Tune trials (resumable: re-running skips finished
rows) and prints the accuracy table; ``curves`` prints, for a run directory (or a
``tts.parquet`` file), accuracy per method/budget with 95 % intervals and the pass@n / maj@n /
best-of-n@n curves (exact expectations over all size-n subsets) and wbon@n (resampled).
"""
from __future__ import annotations

from pathlib import Path

from orchestrator.errors import UsageError


def register(subparsers) -> None:
    """Add the ``tts`` command group."""
    p = subparsers.add_parser("tts", help="test-time scaling runs on vLLM (run, curves)")
    sub = p.add_subparsers(dest="tts_command", metavar="SUBCOMMAND")
    r = sub.add_parser("run", help="run or resume a test-time spec on Ray Tune")
    r.add_argument("spec", help="test-time spec YAML")
    r.add_argument("--storage", default=None, help="override the spec's storage directory")
    r.set_defaults(func=_run)
    c = sub.add_parser("curves", help="print accuracy and pass@k / maj@n / BoN@n curves")
    c.add_argument("dir", help="run directory (<storage>/<name>) or a tts.parquet file")
    c.add_argument("--resamples", type=int, default=200,
                   help="random subsets per problem for wbon@n (pass, maj, bon are exact)")
    c.set_defaults(func=_curves)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


# Columns of the accuracy table (from laws.aggregate_tts, the one aggregation of test-time rows).
_TABLE = ["model_id", "method", "budget", "accuracy", "lo", "hi", "n_problems", "tokens",
          "policy_flops", "reward_flops"]


def accuracy_table(rows):
    """Accuracy (95 % Wilson CI), tokens and FLOPs per query for each model/method/budget."""
    import laws

    table = laws.aggregate_tts(rows)
    return table[[c for c in _TABLE if c in table.columns]]


def _run(args) -> int:
    from orchestrator.runs.tts import TTSRun

    run = TTSRun(args.spec, storage=args.storage)
    df = run.run()
    print(f"tts: {len(df)} rows in {run.spec.location}/tts.parquet")
    if len(df):
        _print(accuracy_table(df), "accuracy per method and budget (95% Wilson CI)")
    return 0


def _load(path: str):
    from orchestrator.runs.store import Store, read_table
    from orchestrator.runs.sweepdir import SweepDir, check_schema

    p = Path(path)
    if p.is_file():                           # a tts.parquet file: read and checked like the store's
        return check_schema(read_table(Store(p.parent), p.name), "tts", str(p))
    if not p.is_dir():
        raise UsageError(f"tts curves: dir {path!r} does not exist")
    df = SweepDir(p).tts()
    if df.empty:
        raise UsageError(f"tts curves: no test-time rows in {path!r} (no tts.parquet)")
    return df


def _curves(args) -> int:
    from evaluators.curves import curves_from_rows

    if args.resamples < 1:
        raise UsageError(f"tts curves: --resamples must be >= 1, got {args.resamples}")
    df = _load(args.dir)
    _print(accuracy_table(df), "accuracy per method and budget (95% Wilson CI)")
    curves = curves_from_rows(df, resamples=args.resamples)
    if len(curves):
        _print(curves, "generate once: pass@n, maj@n, bon@n exact over all size-n subsets, "
                       "wbon@n resampled; lo/hi = 95% bootstrap over problems")
    return 0


def _print(df, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for col in df.columns:
        t.add_column(str(col), justify="right")
    for _, r in df.iterrows():
        t.add_row(*[_fmt(v) for v in r.tolist()])
    Console(width=200).print(t)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) >= 1e4 else f"{v:.3f}"
    return str(v)
