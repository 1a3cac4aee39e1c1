"""User-facing errors of the evaluators package."""


class EvaluatorError(ValueError):
    """Bad input to an evaluator (spec, task file, strategy options): one line, CLI exit 2."""

    exit_code = 2
