"""The sections of a sweep spec (strict :class:`~orchestrator.spec.base.Section` models); see
:mod:`orchestrator.spec.sweep`."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from orchestrator.spec.base import Section, field_error, positive_unique
from orchestrator.train.model import VLLM_HEAD_DIMS


class ModelLadder(Section):
    """Model sizes: ``widths``×``depths`` (cross product), explicit ``shapes``, or ``target_N``."""

    widths: Optional[list[int]] = None
    depths: Optional[list[int]] = None
    shapes: Optional[list[tuple[int, int]]] = None   # [[width, depth], ...]
    target_N: Optional[list[float]] = None
    aspect_ratio: float = Field(32.0, gt=0)           # width ≈ aspect_ratio·depth for target_N
    head_dim: int = 32
    seq_len: int = Field(64, ge=8, le=8192)

    @field_validator("head_dim")
    @classmethod
    def _head_dim(cls, v: int) -> int:
        if v not in VLLM_HEAD_DIMS:
            raise ValueError(f"must be one of {list(VLLM_HEAD_DIMS)} (≥ 32, vLLM CPU), got {v}")
        return v

    @model_validator(mode="after")
    def _one_way(self) -> "ModelLadder":
        given = [k for k in ("widths", "shapes", "target_N") if getattr(self, k) is not None]
        if len(given) != 1:
            raise field_error("widths", "give exactly one of widths+depths, shapes, target_N"
                              f" (got {given or 'none'})")
        if self.widths is not None and self.depths is None:
            raise field_error("depths", "required with widths")
        if self.depths is not None and self.widths is None:
            raise field_error("depths", "only allowed together with widths")
        for key in ("widths", "depths", "target_N"):
            vals = getattr(self, key)
            if vals is None:
                continue
            positive_unique(key, vals)
        for i, w in enumerate(self.widths or []):
            if w % self.head_dim:
                raise field_error(f"widths[{i}]", f"must be a multiple of head_dim={self.head_dim}, got {w}")
        for i, (w, d) in enumerate(self.shapes or []):
            if w <= 0 or d <= 0 or w % self.head_dim:
                raise field_error(f"shapes[{i}]", f"needs width>0 (multiple of head_dim={self.head_dim}) and depth>0, got {[w, d]}")
        if self.shapes is not None and not self.shapes:
            raise field_error("shapes", "must not be empty")
        return self

    def resolve(self, vocab_size: int) -> list[tuple[int, int]]:
        """The ladder as (width, depth) pairs in spec order."""
        from orchestrator.train.model import choose_shape

        if self.shapes is not None:
            return [tuple(s) for s in self.shapes]
        if self.widths is not None:
            return [(w, d) for w in self.widths for d in self.depths]
        out: list[tuple[int, int]] = []
        for n in self.target_N:
            shape = choose_shape(n, vocab_size, self.head_dim, self.aspect_ratio)
            if shape not in out:
                out.append(shape)
        return out


class Tokens(Section):
    """Token budgets: absolute ``D`` or ``per_param`` multiples of N (tokens per parameter)."""

    D: Optional[list[int]] = None
    per_param: Optional[list[float]] = None

    @model_validator(mode="after")
    def _one_way(self) -> "Tokens":
        if (self.D is None) == (self.per_param is None):
            raise field_error("D", "give exactly one of D (tokens) or per_param (tokens per parameter)")
        key = "D" if self.D is not None else "per_param"
        vals = getattr(self, key)
        positive_unique(key, vals)
        return self


class LR(Section):
    """Peak learning rates: a grid of ``values``, or a log range ``min``..``max`` for optuna."""

    values: Optional[list[float]] = None
    min: Optional[float] = Field(None, gt=0)
    max: Optional[float] = Field(None, gt=0)
    # muP (orchestrator/train/mup.py: per-group LR, weight decay, init, output multiplier), on by
    # default; `values` are then the LRs of a model of width mup_base_width (default: the
    # ladder's smallest width, so a one-width spec is exactly the standard parametrization)
    mup: bool = True
    mup_base_width: Optional[int] = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> "LR":
        if self.values is None and (self.min is None or self.max is None):
            raise field_error("values", "give a list of values (or min and max for optuna)")
        for i, v in enumerate(self.values or []):
            if not v > 0:
                raise field_error(f"values[{i}]", f"must be > 0, got {v}")
            if v >= 1.0e3:
                raise field_error(f"values[{i}]", f"implausibly large learning rate {v}")
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise field_error("values", f"has duplicate values {self.values}")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise field_error("max", f"must be > min={self.min}, got {self.max}")
        if self.mup_base_width is not None and not self.mup:
            raise field_error("mup_base_width", "only used with mup: true")
        return self


class Schedule(Section):
    """LR schedule: ``cosine | wsd | constant`` with warmup and (wsd) cooldown fractions."""

    kind: Literal["cosine", "wsd", "constant"] = "cosine"
    warmup_frac: float = Field(0.05, ge=0, lt=1)
    cooldown_frac: float = Field(0.2, gt=0, le=1)
    min_lr_frac: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> "Schedule":
        if self.kind == "wsd" and self.warmup_frac + self.cooldown_frac >= 1:
            raise field_error("cooldown_frac", f"warmup_frac + cooldown_frac must be < 1, got "
                              f"{self.warmup_frac} + {self.cooldown_frac}")
        return self


class Data(Section):
    """Data source (a name in ``orchestrator.train.data.DATA_SOURCES``) and its options;
    ``{mix: [{source, weight, options}, ...], options: {...}}`` is short for ``source: mix``
    (:mod:`orchestrator.train.mix`)."""

    source: str
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _mix(cls, v: Any) -> Any:
        if isinstance(v, dict) and "mix" in v and "source" not in v:
            rest = {k: x for k, x in v.items() if k not in ("mix", "options")}
            opts = v.get("options") if isinstance(v.get("options"), dict) else {}
            return {"source": "mix", "options": {**opts, "mix": v["mix"]}, **rest}
        return v

    @field_validator("source")
    @classmethod
    def _known(cls, v: str) -> str:
        from orchestrator.train.data import DATA_SOURCES

        if v not in DATA_SOURCES:
            raise ValueError(str(DATA_SOURCES.unknown(v)))
        return v

    @model_validator(mode="after")
    def _options(self) -> "Data":
        from orchestrator.train.data import DataError, get_data_source

        try:
            get_data_source({"source": self.source, **self.options})
        except DataError as exc:  # one line naming the option
            text = str(exc)
            text = text[len("data."):] if text.startswith("data.") else text
            key, _, problem = text.partition(" ")
            if self.source == "mix" and key.startswith("mix"):   # spec.data.mix[i]...
                raise field_error(key.rstrip(":"), problem.strip()) from None
            if key.rstrip(":") in self.options:
                raise field_error(f"options.{key.rstrip(':')}", problem.strip()) from None
            raise field_error("options", text) from None
        return self


class Resources(Section):
    """Per-trial resources: CPUs and GPUs per worker, and Ray Train ``workers`` (DDP if > 1)."""

    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)
    workers: int = Field(1, ge=1, le=1024)


class Search(Section):
    """``grid`` (every combination) or ``optuna`` (``n_trials`` over the LR/batch sub-space)."""

    kind: Literal["grid", "optuna"] = "grid"
    n_trials: Optional[int] = Field(None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "Search":
        if self.kind == "optuna" and self.n_trials is None:
            raise field_error("n_trials", "required with kind: optuna")
        if self.kind == "grid" and self.n_trials is not None:
            raise field_error("n_trials", "only used with kind: optuna")
        return self


class Scheduler(Section):
    """``fifo`` or ``asha`` (early stopping; only for hyperparameter sweeps at fixed N and D)."""

    kind: Literal["fifo", "asha"] = "fifo"
    grace_frac: float = Field(0.25, gt=0, le=1)   # asha: min fraction of D before stopping
    reduction_factor: float = Field(3.0, gt=1)


class Train(Section):
    """Trainer knobs shared by every run of the sweep."""

    eval_every: int = Field(50, ge=1)
    eval_tokens: int = Field(8192, ge=1)
    log_every: int = Field(10, ge=1)
    weight_decay: float = Field(0.1, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.95, ge=0, lt=1)
    diverge_factor: float = Field(3.0, gt=1)
    compile: bool = False
