"""Turn pydantic validation errors into ONE line naming the field path and the problem.

``spec.lr.values[1]: must be > 0, got -0.1`` rather than pydantic's multi-line report. Model
validators name a sub-field by raising :func:`field_error` (the path is carried inside the
message and joined to the location pydantic reports).
"""
from __future__ import annotations

from typing import Any

_MARK = "\x00field:"


class SpecError(ValueError):
    """An invalid sweep spec: one line naming the field (CLI exit code 2)."""

    exit_code = 2


def field_error(path: str, problem: str) -> ValueError:
    """A ValueError for a model validator that points at ``path`` (relative to the model)."""
    return ValueError(f"{_MARK}{path}\x00{problem}")


def _join(loc: tuple[Any, ...]) -> str:
    out = "spec"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-") or str(part) in {"tagged-union"}:
            continue
        else:
            out += f".{part}"
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(err: dict) -> tuple[str, str]:
    """(extra path, problem) for one pydantic error dict."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    msg = err["msg"]
    if kind == "value_error":
        text = str(ctx.get("error", msg))
        if text.startswith("Value error, "):
            text = text[len("Value error, "):]
        if text.startswith(_MARK):
            path, problem = text[len(_MARK):].split("\x00", 1)
            return path, problem
        return "", text
    if kind == "missing":
        return "", "required field is missing"
    if kind == "extra_forbidden":
        return "", "unknown field"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values())) if ctx else "?"
        return "", f"must be {bounds[kind]} {limit}, got {_short(value)}"
    if kind == "literal_error":
        return "", f"must be {ctx.get('expected', '?')}, got {_short(value)}"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return "", f"must be an integer, got {_short(value)}"
    if kind in {"float_type", "float_parsing"}:
        return "", f"must be a number, got {_short(value)}"
    if kind in {"list_type", "tuple_type"}:
        return "", f"must be a list, got {_short(value)}"
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return "", f"must be a mapping, got {_short(value)}"
    if kind in {"string_type"}:
        return "", f"must be a string, got {_short(value)}"
    if kind == "too_short":
        return "", f"must have at least {ctx.get('min_length', 1)} item(s)"
    if kind == "string_pattern_mismatch":
        return "", f"must match {ctx.get('pattern')}, got {_short(value)}"
    return "", f"{msg[0].lower()}{msg[1:]}, got {_short(value)}"


def spec_error_from(exc: Any) -> SpecError:
    """Convert a ``pydantic.ValidationError`` into a one-line :class:`SpecError` (first error)."""
    errs = exc.errors(include_url=False)
    # prefer errors raised by our own validators over the generic ones they caused
    err = errs[0]
    extra, problem = _problem(err)
    loc = tuple(err["loc"])
    path = _join(loc)
    if extra:
        path = f"{path}.{extra}" if not extra.startswith("[") else path + extra
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return SpecError(f"{path}: {problem}{more}")
