"""`scalelab` command line: a thin dispatcher.

Each command group lives in its own module with a ``register(subparsers)`` function that adds
its sub-commands and sets ``func`` on the parsed namespace. Bad input exits with code 2 and one
line on stderr that names the field and what is wrong.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# (module, description) for every command group; modules are imported lazily so that
# `scalelab fit` does not pay for importing torch/ray/vllm.
_GROUPS = (
    "orchestrator.cli_sweep",
    "orchestrator.cli_fit",
    "orchestrator.cli_tts",
    "orchestrator.cli_demo",
)


class UsageError(ValueError):
    """Bad user input: printed as one line, exit code 2.

    Any exception with ``exit_code = 2`` is treated the same way (``laws.LawFitError``,
    ``orchestrator.spec.SpecError``, ``evaluators.errors.EvaluatorError`` …), so packages that
    may not import the orchestrator can still raise user errors the CLI prints cleanly.
    """

    exit_code = 2


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from every command group that is installed."""
    parser = argparse.ArgumentParser(
        prog="scalelab",
        description="Scaling-law sweeps on Ray, test-time scaling on vLLM, law fits with error bars.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _GROUPS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a group not built yet
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `scalelab` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except Exception as exc:  # noqa: BLE001 - user errors are recognised by exit_code
        if getattr(exc, "exit_code", None) != 2:
            raise
        print(f"scalelab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scalelab: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
