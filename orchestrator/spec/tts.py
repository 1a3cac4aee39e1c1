"""The test-time spec: models × task × strategies × budgets × seeds × reward models.

Example (``examples/tts_quickstart.yaml``)::

    name: tts-quickstart
    storage: ./scalelab_runs
    models: [path/to/hf_dir, {sweep: scalelab_runs/quickstart}]   # a sweep: its done runs
    task: {name: arith, options: {level: 2, n_problems: 16}}
    strategies:
      - majority
      - {name: particle_filtering, options: {temperature: 1.0}}
      - {name: beam_search, label: beam_m2, options: {beam_width: 2}}
    budgets: {parallel: [1, 2, 4, 8], max_tokens: 64, sequential: [32], n: 4}
    reward_models: [oracle]
    seeds: [0]
    sampling: {temperature: 0.8}
    engine: {name: vllm, cpus: 1, gpus: 0, tensor_parallel_size: 1}

Strategies that need a reward model run once per entry of ``reward_models`` (or of their own
``reward_models``) — built from the reward registry with ``reward_options[name]`` and the
strategy's mode (``orm`` for best-of-n, ``prm`` for particle filtering and beam search); the
others run once with ``reward_model: ""``. Budgets: every ``parallel``
n at ``max_tokens`` new tokens, and every ``sequential`` max_tokens at ``n`` samples.
Errors are one line naming the field (:class:`~orchestrator.errors.SpecError`, exit code 2),
in the same format as the sweep spec's (both derive from :class:`~orchestrator.spec.base.StrictSpec`).
Load with ``TTSSpec.from_yaml(path)`` or ``TTSSpec.from_dict(d)``; registry names and options
(strategies, task, reward models, engine) are checked when the spec is built.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from orchestrator.spec.base import Section, SpecError, StrictSpec, field_error

__all__ = ["TTSSpec", "ModelRef", "TaskSpec", "StrategySpec", "BudgetSpec", "SamplingOptions",
           "EngineSpec", "SpecError"]


class ModelRef(Section):
    """A model: an HF directory (``path``, optional ``id``) or a sweep's done checkpoints."""

    path: str | None = None
    id: str | None = None
    sweep: str | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.sweep is None):
            raise ValueError("give exactly one of 'path' or 'sweep'")
        if self.sweep is not None and self.id is not None:
            raise ValueError("'id' is only for a 'path' model (sweep models use their run id)")
        return self


class TaskSpec(Section):
    """A task from the task registry with its options."""

    name: str = "arith"
    options: dict[str, Any] = Field(default_factory=dict)


class StrategySpec(Section):
    """A strategy from the registry; ``label`` (default: the name) is the row's ``method``."""

    name: str
    label: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    reward_models: list[str] | None = None

    @property
    def method(self) -> str:
        """The ``method`` column of this strategy's rows."""
        return self.label or self.name


class BudgetSpec(Section):
    """Parallel budgets (n at ``max_tokens``) and sequential budgets (max_tokens at ``n``)."""

    parallel: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])
    max_tokens: int = Field(64, ge=1)
    sequential: list[int] = Field(default_factory=list)
    n: int = Field(4, ge=1)

    @field_validator("parallel", "sequential")
    @classmethod
    def _positive(cls, v):
        if any((not isinstance(x, int)) or x < 1 for x in v):
            raise ValueError(f"every entry must be an integer >= 1, got {v}")
        return v

    def points(self) -> list[tuple[str, int, int]]:
        """``(budget_axis, n, max_tokens)`` for every budget, parallel first, no repeats."""
        pts, seen = [], set()
        for axis, n, mt in ([("parallel", n, self.max_tokens) for n in self.parallel]
                            + [("sequential", self.n, mt) for mt in self.sequential]):
            if (n, mt) not in seen:
                seen.add((n, mt))
                pts.append((axis, n, mt))
        return pts


class SamplingOptions(Section):
    """Policy sampling (the token budget comes from ``budgets``)."""

    temperature: float = Field(0.8, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)


class EngineSpec(Section):
    """The engine (registry name + options) and the resources of each trial."""

    name: str = "vllm"
    cpus: float = Field(1, gt=0)
    gpus: float = Field(0, ge=0)
    tensor_parallel_size: int = Field(1, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)


class TTSSpec(StrictSpec):
    """A whole test-time run; rows go to ``<storage>/<name>/tts.parquet``."""

    name: str
    storage: str = "./scalelab_runs"
    models: list[ModelRef] = Field(min_length=1)
    task: TaskSpec = Field(default_factory=TaskSpec)
    strategies: list[StrategySpec] = Field(min_length=1)
    budgets: BudgetSpec = Field(default_factory=BudgetSpec)
    reward_models: list[str] = Field(default_factory=lambda: ["oracle"])
    reward_options: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per reward model
    seeds: list[int] = Field(default_factory=lambda: [0])
    sampling: SamplingOptions = Field(default_factory=SamplingOptions)
    engine: EngineSpec = Field(default_factory=EngineSpec)
    chunk_size: int = Field(16, ge=1)       # problems per atomic batch of rows
    max_failures: int = Field(2, ge=0)      # trial restarts (Tune) and engine restarts

    @field_validator("models", mode="before")
    @classmethod
    def _model_paths(cls, v):
        return [{"path": m} if isinstance(m, str) else m for m in v] if isinstance(v, list) else v

    @field_validator("strategies", mode="before")
    @classmethod
    def _strategy_names(cls, v):
        return [{"name": s} if isinstance(s, str) else s for s in v] if isinstance(v, list) else v

    @field_validator("strategies")
    @classmethod
    def _distinct_labels(cls, v):
        labels = [s.method for s in v]
        dup = sorted({m for m in labels if labels.count(m) > 1})
        if dup:
            raise ValueError(f"method label {dup[0]!r} repeats; give each a distinct 'label'")
        return v

    @model_validator(mode="after")
    def _registries(self) -> "TTSSpec":
        """Every registry object a trial will build, checked before any trial starts: the
        strategies (names, options), the task (name, options, its verifier and data), every
        reward model a strategy uses (name, options, mode vs task) and the engine (name,
        options)."""
        from evaluators.errors import EvaluatorError
        from evaluators.strategies import get_strategy, strategy_class

        for i, s in enumerate(self.strategies):
            try:
                get_strategy(s.name, **s.options)
            except EvaluatorError as exc:
                raise field_error(f"strategies[{i}]", str(exc)) from None
        task = _build("task", _task_registry(), self.task.name, self.task.options)
        used: set[str] = set()
        for i, s in enumerate(self.strategies):
            cls = strategy_class(s.name)
            if not cls.needs_reward:
                if s.reward_models:
                    raise field_error(f"strategies[{i}].reward_models",
                                      f"strategy {s.name!r} uses no reward model")
                continue
            where = f"strategies[{i}].reward_models" if s.reward_models else "reward_models"
            names = s.reward_models or self.reward_models
            if not names:
                raise field_error(where, f"strategy {s.name!r} needs a reward model")
            for j, rm in enumerate(names):
                _check_reward(f"{where}[{j}]", rm, task, cls.reward_mode,
                              self.reward_options.get(rm, {}))
                used.add(rm)
        for rm in self.reward_options:
            if rm not in used:
                raise field_error(f"reward_options.{rm}", "no strategy of this spec uses this reward model")
        _check_engine(self.engine)
        return self


def _task_registry():
    from evaluators.tasks import TASKS

    return TASKS


def _build(kind: str, registry, name: str, options: dict):
    """Build a registry entry, any rejection of its options becoming one line naming them."""
    from evaluators.errors import EvaluatorError

    if name not in registry:
        raise field_error(f"{kind}.name", str(registry.unknown(name)))
    _check_types(f"{kind}.options", _defaults([registry.get(name)]), options)
    try:
        return registry.build(name, **options)
    except EvaluatorError as exc:
        raise field_error(f"{kind}.options", str(exc)) from None
    except (TypeError, ValueError, KeyError, OSError) as exc:
        raise field_error(f"{kind}.options", f"{kind} {name!r} rejects these options "
                          f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None


# reward models that load no model can be built for the check; the others are checked by signature
_CHEAP_REWARDS = ("oracle", "logprob")


def _check_reward(where: str, name: str, task, mode: str, options: dict) -> None:
    """A reward model: known, its options accepted, usable in ``mode`` with ``task``."""
    import inspect

    from evaluators.errors import EvaluatorError
    from evaluators.rewards import REWARD_MODELS

    if name not in REWARD_MODELS:
        raise field_error(where, str(REWARD_MODELS.unknown(name)))
    entry = REWARD_MODELS.get(name)
    if name in _CHEAP_REWARDS:
        try:
            entry(task=task, mode=mode, **options)
        except EvaluatorError as exc:
            raise field_error(where, str(exc)) from None
        except TypeError as exc:
            raise field_error(f"reward_options.{name}", f"rejected: {exc}") from None
        return
    try:
        inspect.signature(entry).bind(task=task, mode=mode, **options)
    except TypeError as exc:
        raise field_error(f"reward_options.{name}", f"reward model {name!r}: {exc}") from None
    model = options.get("model")
    if isinstance(model, str) and "://" not in model and not (Path(model).expanduser() / "config.json").is_file():
        raise field_error(f"reward_options.{name}.model", f"{model!r} is not an HF model directory "
                          "(no config.json)")


def _check_engine(engine: "EngineSpec") -> None:
    """The engine: a registered name and options its constructor accepts (vLLM: those of
    ``VLLMEngine`` / ``VLLMActorEngine``), with values of the types their defaults have."""
    import inspect

    from evaluators.engines import ENGINES

    if engine.name not in ENGINES:
        raise field_error("engine.name", str(ENGINES.unknown(engine.name)))
    entry = ENGINES.get(engine.name)
    if engine.name == "vllm":
        from evaluators.engines.vllm_engine import VLLMActorEngine, VLLMEngine

        targets = [VLLMEngine.__init__, VLLMActorEngine.__init__]
        allowed = {"actor": False}
    else:
        targets, allowed = [entry], {}
    allowed.update(_defaults(targets))
    open_ended = engine.name != "vllm" and any(
        p.kind == p.VAR_KEYWORD for p in inspect.signature(entry).parameters.values())
    for key in engine.options:
        if key in ("model", "model_id"):
            raise field_error(f"engine.options.{key}", "is set from spec.models, not here")
        if key not in allowed and not open_ended:
            known = ", ".join(sorted(k for k in allowed if k not in ("model", "model_id")))
            raise field_error(f"engine.options.{key}", f"unknown option of engine {engine.name!r} "
                              f"(known: {known})")
    _check_types("engine.options", allowed, engine.options)


def _defaults(targets) -> dict:
    """``{parameter: default}`` of the keyword parameters of callables (classes: ``__init__``)."""
    import inspect

    out: dict = {}
    for fn in targets:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in params:
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self":
                out.setdefault(p.name, p.default)
    return out


def _check_types(where: str, defaults: dict, options: dict) -> None:
    """Option values must have the kind of their parameter's default: true/false for a bool,
    a number (never a bool) for a number."""
    for key, value in options.items():
        default = defaults.get(key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise field_error(f"{where}.{key}", f"must be true or false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool) and (
                isinstance(value, bool) or not isinstance(value, (int, float))):
            raise field_error(f"{where}.{key}", f"must be a number, got {value!r}")
