"""`scalelab` command line: a thin dispatcher.

Each command group lives in its own module of :mod:`orchestrator.cli` with a
``register(subparsers)`` function that adds its sub-commands and sets ``func`` on the parsed
namespace. Bad input — any error of the three packages' roots (``laws.LawFitError``,
``evaluators.EvaluatorError``, ``orchestrator.OrchestratorError``) — exits with code 2 and
one line on stderr that names the field and what is wrong.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from evaluators.errors import EvaluatorError
from laws.errors import LawFitError
from orchestrator.errors import OrchestratorError, UsageError

# The exception roots of the three packages: every error a user can cause derives from one.
USER_ERRORS = (LawFitError, EvaluatorError, OrchestratorError)

# Every command group; each module imports its heavy dependencies inside its commands, so
# `scalelab fit` does not pay for importing torch/ray/vllm.
_GROUPS = (
    "orchestrator.cli.sweep",
    "orchestrator.cli.fit",
    "orchestrator.cli.audit",
    "orchestrator.cli.tts",
    "orchestrator.cli.demo",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (a :class:`UsageError`), not usage + error."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from every command group."""
    parser = _Parser(
        prog="scalelab",
        description="Scaling-law sweeps on Ray, test-time scaling on vLLM, law fits with error bars.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _GROUPS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `scalelab` console script; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        rc = args.func(args)
    except USER_ERRORS as exc:
        print(f"scalelab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scalelab: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return int(rc or 0)
