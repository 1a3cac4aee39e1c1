"""`scalelab demo` (the whole pipeline on a laptop) and `scalelab report DIR` (rebuild report.html).

``DIR`` may be a local sweep directory or a URI (``s3://bucket/dir?endpoint_override=…``):
a remote sweep's tables are read into a temporary directory and the report is uploaded back.
"""
from __future__ import annotations

from pathlib import Path


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
    import math

    from orchestrator.report import ReportError, build_report

    if args.bootstrap < 0:
        raise ReportError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    if not (math.isfinite(args.queries) and args.queries > 0):
        raise ReportError(f"--queries must be a positive number, got {args.queries}")
    acc = args.target_accuracy
    if acc is not None and not (math.isfinite(acc) and 0 < acc <= 1):
        raise ReportError(f"--target-accuracy must be in (0, 1], got {acc}")
    kw = dict(bootstrap=args.bootstrap, queries=args.queries, target_accuracy=acc)
    if "://" in args.dir:
        path = _remote_report(args.dir, kw)
    else:
        from orchestrator.runs.sweepdir import SweepDir

        sd = SweepDir.existing(args.dir, "DIR")
        sd.store.check_writable()           # report.html, figures/ and fits/ are written there
        path = build_report(args.dir, **kw)
    print(f"report: {path}")
    return 0


def _remote_report(uri: str, kw: dict) -> str:
    """The report of a sweep on an object store: its tables are copied to a local temporary
    directory, the report is built there, and ``report.html``, ``figures/`` and ``fits/`` are
    uploaded back beside the tables."""
    import tempfile

    from orchestrator.report import build_report
    from orchestrator.runs.sweepdir import SweepDir

    sd = SweepDir(uri)
    sd.store.check_writable()
    with tempfile.TemporaryDirectory(prefix="scalelab-report-") as tmp:
        local = sd.mirror(Path(tmp) / sd.store.root.rsplit("/", 1)[-1])
        out = build_report(local, **kw)
        sd.store.write_bytes("report.html", out.read_bytes())
        for sub in ("figures", "fits"):
            if (local / sub).is_dir():
                sd.store.upload(local / sub, sub)
    return sd.store.uri_of("report.html")


def _demo(args) -> int:
    from orchestrator.demo import resolve_spec, run_demo
    from orchestrator.errors import UsageError
    from orchestrator.runs.sweep import Sweep
    from orchestrator.spec.sweep import SweepSpec

    if args.bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    # everything the ladder needs is checked before Ray starts or anything is written
    Sweep(SweepSpec.from_yaml(resolve_spec(args.spec, args.quick)), storage=args.storage).plan()
    run_demo(storage=args.storage, spec=args.spec, quick=args.quick, bootstrap=args.bootstrap)
    return 0
