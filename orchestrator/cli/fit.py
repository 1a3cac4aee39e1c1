"""`scalelab fit FORM FILE` — fit a scaling law to a CSV/Parquet table from the command line.

    scalelab fit chinchilla runs.csv --col N="Model Size" --col D=Tokens --col loss="Final loss" \
        --bootstrap 1000 --json fit.json --plot fit.png

Prints a parameter table with 95 % bootstrap CIs and, for an L(N, D) law, the verdict of its
audit (:func:`laws.audit` on this one form: backtest, diagnostics, reasons; ``--no-audit``
skips it). Imports only ``laws``, pandas, rich and the standard library (lazily, so
``scalelab --help`` stays fast); bad input exits 2 with one line.
"""
from __future__ import annotations

import argparse
import json
import os


def register(subparsers) -> None:
    """Add the ``fit`` command to the ``scalelab`` CLI."""
    p = subparsers.add_parser(
        "fit", help="fit a scaling law (with bootstrap CIs) to a CSV or Parquet table",
        description="Fit law FORM to FILE.csv|.parquet and print its parameters with 95%% "
                    "bootstrap confidence intervals. Forms: chinchilla, kaplan, power_law, "
                    "lr_annealing, multi_power, parscale, coverage, sigmoid, hparam.")
    p.add_argument("form", metavar="FORM", help="law form name (see laws.forms())")
    p.add_argument("file", metavar="FILE", help="input table (.csv or .parquet)")
    p.add_argument("--col", action="append", default=[], metavar="NAME=COLUMN",
                   help="use the file's COLUMN as the form's column NAME (repeatable), "
                        'e.g. --col N="Model Size"')
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="form option (repeatable), e.g. --option lam=0.999")
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="bootstrap replicates for CIs (e.g. 1000; default 0 = none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--loss", default="huber", choices=("huber", "squared"), help="fitting loss")
    p.add_argument("--delta", type=float, default=1e-3, help="Huber delta (default 1e-3)")
    p.add_argument("--json", metavar="OUT.json", help="write the fit as JSON (atomically)")
    p.add_argument("--plot", metavar="OUT.png", help="write a plot of data, fit and CI band")
    p.add_argument("--no-audit", action="store_true",
                   help="skip the audit (verdict, backtest) of an L(N, D) law")
    p.set_defaults(func=run)


def _error(msg: str) -> Exception:
    from laws import LawFitError

    return LawFitError(msg)


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise _error(f"{flag} {item!r}: expected NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


def _option_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def read_table(path: str, cols: dict[str, str]):
    """Read a CSV/Parquet table and rename the ``--col`` columns (NAME=COLUMN) to the form's names."""
    import pandas as pd

    if not os.path.isfile(path):
        raise _error(f"FILE {path!r}: no such file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".csv":
            df = pd.read_csv(path)
        elif ext in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            raise _error(f"FILE {path!r}: unsupported type {ext or '(none)'}; use .csv or .parquet")
    except (ValueError, OSError) as exc:
        if getattr(exc, "exit_code", None) == 2:
            raise
        raise _error(f"FILE {path!r}: cannot read ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    missing = [c for c in cols.values() if c not in df.columns]
    if missing:
        raise _error(f"--col: column {missing[0]!r} not in {path} (columns: {list(map(str, df.columns))})")
    return df.rename(columns={src: name for name, src in cols.items()})


_PLOT_TYPES = ("png", "pdf", "svg", "svgz", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")


def _check_outputs(args: argparse.Namespace) -> None:
    """--seed, --json and --plot checked before any work: an output's directory must exist and be
    writable, a plot's extension must be an image type matplotlib writes."""
    if args.seed < 0:
        raise _error(f"--seed {args.seed}: must be >= 0")
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if not path:
            continue
        parent = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise _error(f"{flag} {path!r}: is a directory")
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
            raise _error(f"{flag} {path!r}: directory {parent!r} does not exist or is not writable")
    if args.plot:
        ext = os.path.splitext(args.plot)[1].lower().lstrip(".")
        if ext not in _PLOT_TYPES:
            raise _error(f"--plot {args.plot!r}: unknown image type {ext or '(none)'!r}; use one of "
                         f"{', '.join(_PLOT_TYPES)}")


def print_verdict(console, audit, *, reasons: int = 8) -> None:
    """Print an audit's verdict, its reasons and how the form was chosen."""
    from rich.markup import escape

    colour = {"sound": "green", "weak": "yellow", "unidentifiable": "red"}[audit.verdict]
    console.print(f"verdict: [bold {colour}]{audit.verdict}[/]  ({escape(audit.choice)})", highlight=False)
    for r in audit.reasons[:reasons]:
        console.print(f"  - {escape(r)}", highlight=False, soft_wrap=True)


def _write_json(path: str, obj) -> None:
    from laws.atomic import atomic_write

    atomic_write(path, json.dumps(obj, indent=1))


def run(args: argparse.Namespace) -> int:
    """Execute ``scalelab fit``; returns the exit code (user errors raise with exit_code 2)."""
    from rich.console import Console
    from rich.table import Table

    import laws

    if args.form not in laws.forms():
        raise _error(f"FORM {args.form!r}: unknown law form; known: {', '.join(sorted(laws.forms()))}")
    if args.bootstrap < 0:
        raise _error(f"--bootstrap {args.bootstrap}: must be >= 0")
    _check_outputs(args)                  # before the fit runs, not after
    df = read_table(args.file, _pairs(args.col, "--col"))
    options = {k: _option_value(v) for k, v in _pairs(args.option, "--option").items()}
    console = Console()
    with console.status(f"fitting {args.form} to {len(df)} rows"
                        + (f" with {args.bootstrap} bootstrap replicates" if args.bootstrap else "")):
        fit = laws.fit(args.form, df, bootstrap=args.bootstrap, seed=args.seed, loss=args.loss,
                       delta=args.delta, **options)
    table = Table(title=f"{fit.form}: {fit.formula}")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    table.add_column("95% CI low", justify="right")
    table.add_column("95% CI high", justify="right")
    for name, value in fit.params.items():
        lo, hi = fit.ci.get(name, (None, None))
        table.add_row(name, f"{value:.6g}", "" if lo is None else f"{lo:.6g}", "" if hi is None else f"{hi:.6g}")
    console.print(table)
    console.print(f"points: {fit.n_points}   R²: {fit.r2:.5f}   bootstrap: {fit.n_boot}")
    form = laws.forms()[fit.form]
    if args.no_audit:
        pass
    elif tuple(form.inputs) == ("N", "D") and form.target == "loss" and not options:
        boot = max(args.bootstrap, 50)
        with console.status(f"auditing {args.form} ({boot} bootstrap replicates)"):
            audit = laws.audit(df, forms=[args.form], bootstrap=boot, seed=args.seed, loss=args.loss,
                               delta=args.delta)
        print_verdict(console, audit)
    else:
        console.print("verdict: not audited (the audit covers L(N, D) loss laws without options; "
                      "see scalelab audit)", highlight=False)
    if args.json:
        _write_json(args.json, fit.to_dict())
        console.print(f"wrote {args.json}")
    if args.plot:
        from laws import plots

        fig = plots.plot_loss_curves(fit, df) if "step" in form.inputs else plots.plot_fit(fit, df)
        plots.save(fig, args.plot)
        console.print(f"wrote {args.plot}")
    return 0
