"""Errors raised by :mod:`laws` for bad user input."""
from __future__ import annotations


class LawFitError(ValueError):
    """Bad input to a law fit or prediction; the message names the field and the problem.

    ``exit_code = 2`` lets a CLI print it as one line and exit with status 2.
    """

    exit_code = 2
