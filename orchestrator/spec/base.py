"""The ONE strict spec base of scalelab: both spec kinds (sweep, test-time) derive from it.

* :class:`Section` — a strict part of a spec (unknown fields are errors; frozen).
* :class:`StrictSpec` — a whole spec: every validation problem becomes ONE :class:`SpecError`
  line naming the field path (``spec.lr.values[1]: must be > 0, got -0.1``) instead of
  pydantic's multi-line report; :meth:`StrictSpec.from_yaml` / :meth:`StrictSpec.from_dict`
  load it the same way for both kinds; the name, storage and seed rules are shared.

Model validators name a sub-field by raising :func:`field_error` (the path is carried inside
the message and joined to the location pydantic reports).
"""
from __future__ import annotations

import math
import re
import typing
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from orchestrator.errors import SpecError

__all__ = ["Section", "StrictSpec", "SpecError", "field_error", "join_uri", "positive_unique",
           "spec_error_from"]

_MARK = "\x00field:"
_URI_SCHEMES = {"file", "s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "az"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def join_uri(base: str, *parts: str) -> str:
    """``base/part/…`` for a local path or a URI, keeping a URI's query at the end
    (``s3://b/dir?endpoint_override=h:9000`` + ``x`` → ``s3://b/dir/x?endpoint_override=h:9000``)."""
    head, sep, query = str(base).partition("?") if "://" in str(base) else (str(base), "", "")
    path = "/".join([head.rstrip("/"), *[p.strip("/") for p in parts if p]])
    return f"{path}{sep}{query}"


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
    if kind == "finite_number":
        return "", f"must be a finite number, got {_short(value)}"
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


def positive_unique(key: str, vals: list) -> None:
    """A spec list must be non-empty, all > 0 and without duplicates (one-line error otherwise)."""
    if not vals:
        raise field_error(key, "must not be empty")
    for i, v in enumerate(vals):
        if not math.isfinite(v):
            raise field_error(f"{key}[{i}]", f"must be a finite number, got {v}")
        if v <= 0:
            raise field_error(f"{key}[{i}]", f"must be > 0, got {v}")
    if len(set(vals)) != len(vals):
        raise field_error(key, f"has duplicate values {vals}")


def _numeric(annotation: Any) -> bool:
    """Whether a field annotation holds numbers (int/float, possibly in lists/tuples/Optional)."""
    if annotation in (int, float):
        return True
    return any(_numeric(a) for a in typing.get_args(annotation)
               if a is not bool and a is not type(None))


def _bool_at(value: Any, path: str = "") -> str | None:
    """The path (``""``, ``"[2]"``, ``"[0][1]"``) of the first bool inside ``value``, else None."""
    if isinstance(value, bool):
        return path
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            hit = _bool_at(v, f"{path}[{i}]")
            if hit is not None:
                return hit
    return None


class Section(BaseModel):
    """A strict part of a spec: unknown fields are errors, values are frozen, numbers are
    finite, and a boolean is never taken for a number (``lr.values: [true]`` is an error, not
    a learning rate of 1.0)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name)
        if field is not None and field.annotation is bool and not isinstance(v, bool):
            raise ValueError(f"must be true or false, got {_short(v)}")
        if field is not None and _numeric(field.annotation):
            at = _bool_at(v)
            if at == "":
                raise ValueError(f"must be a number, got {v!r}")
            if at is not None:
                raise field_error(at, "must be a number, got a boolean")
        return v


class StrictSpec(Section):
    """Base of every top-level spec: one-line errors, shared name/storage/seed rules, loaders.

    Subclasses declare ``name: str``, ``storage: str`` and ``seeds: list[int]``; the validators
    below apply to them (a name is a directory name; storage is a local path or a supported
    URI; seeds are a non-empty list of distinct integers >= 0).
    """

    def __init__(self, **data: Any) -> None:
        """Validate; any problem becomes a one-line :class:`SpecError`."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error_from(exc) from None

    @field_validator("name", check_fields=False)
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(f"must be 1-64 of [A-Za-z0-9_.-] (a directory name), got {v!r}")
        return v

    @field_validator("storage", check_fields=False)
    @classmethod
    def _storage(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must be a local path or a URI such as s3://bucket/dir")
        if "://" in v:
            scheme = v.split("://", 1)[0].lower()
            if scheme not in _URI_SCHEMES:
                raise ValueError(f"unsupported URI scheme {scheme!r}; use a local path or one "
                                 f"of {sorted(_URI_SCHEMES)}")
        return v

    @field_validator("seeds", mode="before", check_fields=False)
    @classmethod
    def _listify_seeds(cls, v: Any) -> Any:
        return [v] if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("seeds", check_fields=False)
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("must not be empty")
        for i, s in enumerate(v):
            if s < 0:
                raise field_error(f"[{i}]", f"must be >= 0, got {s}")
        if len(set(v)) != len(v):
            raise ValueError(f"has duplicate values {v}")
        return v

    @property
    def location(self) -> str:
        """``<storage>/<name>``: the directory (or URI) where this spec's results live."""
        storage = str(getattr(self, "storage"))
        if "://" not in storage:
            storage = str(Path(storage).expanduser().resolve())
        return join_uri(storage, getattr(self, "name"))

    # ---------------------------------------------------------------- loading / dumping
    @classmethod
    def from_yaml(cls, path: Union[str, Path], **overrides: Any):
        """Load a spec file with ``yaml.safe_load``; ``overrides`` replace top-level fields.

        A missing, unreadable, non-UTF-8 or non-YAML file is a one-line :class:`SpecError`.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SpecError(f"{path}: cannot read spec file (it does not exist)") from None
        except UnicodeDecodeError:
            raise SpecError(f"{path}: spec file is not UTF-8 text") from None
        except OSError as exc:
            raise SpecError(f"{path}: cannot read spec file ({exc.strerror})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" at line {where.line + 1}" if where else ""
            raise SpecError(f"{path}: not valid YAML{at}") from None
        if not isinstance(data, dict):
            raise SpecError(f"{path}: must be a mapping of fields, got {type(data).__name__}")
        return cls.from_dict(data, **overrides)

    @classmethod
    def from_dict(cls, data: Any, **overrides: Any):
        """Build from a plain mapping (as loaded from YAML); ``overrides`` replace fields."""
        if isinstance(data, cls):
            data = data.model_dump(mode="json", exclude_none=True)
        if not isinstance(data, dict):
            raise SpecError(f"spec: must be a mapping of fields, got {type(data).__name__}")
        return cls(**{**data, **{k: v for k, v in overrides.items() if v is not None}})

    def to_yaml(self) -> str:
        """The resolved spec as YAML (written beside the results)."""
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)
