"""`scalelab demo` (the whole pipeline on a laptop) and `scalelab report DIR` (rebuild report.html)."""
from __future__ import annotations


def register(subparsers) -> None:
    """Add the ``demo`` and ``report`` commands to the ``scalelab`` CLI."""
    p = subparsers.add_parser(
        "demo", help="train a ladder, run test-time scaling, fit laws, write report.html",
        description="Run examples/quickstart.yaml end to end on a local Ray instance (RAY_ADDRESS "
                    "is used when set): the ladder with live law refits, test-time scaling on the "
                    "trained checkpoints with vLLM, law fits with bootstrap CIs, frontiers, the joint "
                    "plan and report.html. Re-running the same command resumes.")
    p.add_argument("--storage", default="./scalelab_runs", metavar="DIR",
                   help="where sweeps are stored (default ./scalelab_runs)")
    p.add_argument("--spec", default=None, metavar="PATH",
                   help="sweep spec (default examples/quickstart.yaml, or the reduced spec with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="the reduced spec (examples/demo_small.yaml): a smoke test in a few minutes")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap replicates for the law's CIs (default 200)")
    p.set_defaults(func=_demo)

    r = subparsers.add_parser(
        "report", help="rebuild DIR/report.html from a sweep directory's stored rows",
        description="Rebuild the self-contained report.html of sweep directory DIR from its "
                    "runs.parquet, metrics.parquet and tts.parquet (fits and figures are redone).")
    r.add_argument("dir", metavar="DIR", help="sweep directory (<storage>/<sweep name>)")
    r.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap replicates for the law's CIs (default 200)")
    r.add_argument("--queries", type=float, default=1e4, metavar="Q",
                   help="expected queries for the joint plan (default 1e4)")
    r.add_argument("--target-accuracy", type=float, default=None, metavar="ACC",
                   help="accuracy the joint plan must reach (default: 90%% of the best measured)")
    r.set_defaults(func=_report)


def _report(args) -> int:
    from orchestrator.report import ReportError, build_report

    if args.bootstrap < 0:
        raise ReportError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    path = build_report(args.dir, bootstrap=args.bootstrap, queries=args.queries,
                        target_accuracy=args.target_accuracy)
    print(f"report: {path}")
    return 0


def _demo(args) -> int:
    from orchestrator.demo import run_demo

    run_demo(storage=args.storage, spec=args.spec, quick=args.quick, bootstrap=args.bootstrap)
    return 0
