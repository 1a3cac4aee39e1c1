"""Run a test-time spec as Ray Tune trials, resumably: ``run_tts(spec)`` / ``TTSRun(spec).run()``.

A trial is one model × one seed and owns ONE engine (built inside the trial's Ray actor with
the spec's CPUs/GPUs), reused for every strategy, reward model and budget of the trial. Work is
done in fixed chunks of problems (``chunk_size``, by position in the task's problem list): a
chunk's rows are written as one atomic part file, and a chunk whose keys are all present is
skipped. Re-running the same spec therefore resumes; a chunk interrupted half-way is redone
whole, with the same batch composition and seeds as an uninterrupted run.

Failures: an engine call that raises (the engine process or actor died) rebuilds the engine
and redoes the chunk, up to ``max_failures`` times; a trial whose process dies is restarted by
Tune (``FailureConfig(max_failures)``) and skips what is already written.

Rows go through the one store (:class:`~orchestrator.runs.store.RowTable` ``tts`` of the run's
:class:`~orchestrator.runs.sweepdir.SweepDir`), so ``storage`` may be a local path or a URI.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from evaluators.errors import EvaluatorError
from evaluators.ray_init import init_ray
from orchestrator.errors import SpecError
from orchestrator.runs.store import Store
from orchestrator.runs.sweepdir import SweepDir
from orchestrator.spec.tts import TTSSpec


@dataclass(frozen=True)
class ModelEntry:
    """A resolved model: its id, HF directory and (if known) N."""

    model_id: str
    path: str
    N: int | None = None


def resolve_models(spec: TTSSpec) -> list[ModelEntry]:
    """HF directories of the spec's models (a ``sweep`` entry: its runs with status done)."""
    out: list[ModelEntry] = []
    for i, m in enumerate(spec.models):
        if m.path is not None and "://" in m.path:
            if not Store(m.path).exists("config.json"):
                raise SpecError(f"spec.models[{i}].path: {m.path!r} is not an HF model "
                                "directory (no config.json)")
            out.append(ModelEntry(m.id or m.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1], m.path))
            continue
        if m.path is not None:
            p = Path(m.path).expanduser().resolve()
            if not (p / "config.json").is_file():
                raise SpecError(f"spec.models[{i}].path: {str(p)!r} is not an HF model "
                                "directory (no config.json)")
            out.append(ModelEntry(m.id or p.name, str(p)))
            continue
        sd = SweepDir(Path(m.sweep).expanduser().resolve() if "://" not in m.sweep else m.sweep)
        if not sd.has_runs():
            raise SpecError(f"spec.models[{i}].sweep: no runs.parquet in {sd.path!r}")
        runs = sd.runs()
        for col in ("run_id", "status", "checkpoint"):
            if col not in runs.columns:
                raise SpecError(f"spec.models[{i}].sweep: runs.parquet lacks column {col!r}")
        for r in sd.models(runs).itertuples():
            n = int(r.N) if pd.notna(r.N) else None
            out.append(ModelEntry(str(r.run_id), str(r.checkpoint), n))
    ids = [m.model_id for m in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise SpecError(f"spec.models: model id {dup[0]!r} repeats; give each an 'id'")
    if not out:
        raise SpecError("spec.models: no model to evaluate (a sweep with no done runs?)")
    return out


def work_items(spec: TTSSpec):
    """Every (strategy spec, reward model, budget point) a trial runs, in a stable order."""
    from evaluators.strategies import strategy_class

    items = []
    for s in spec.strategies:
        rms = (s.reward_models or spec.reward_models) if strategy_class(s.name).needs_reward else [""]
        for rm in rms:
            for axis, n, mt in spec.budgets.points():
                items.append((s, rm, axis, n, mt))
    return items


def run_trial(spec: TTSSpec, model: ModelEntry, seed: int, *,
              engine_factory: Callable[[], Any] | None = None,
              reward_factory: Callable[..., Any] | None = None,
              report: Callable[[dict], None] | None = None,
              store: Store | None = None) -> int:
    """Do (or finish) one trial's work; returns the number of rows written now.

    Rows go to ``store`` (default: the store of ``spec.location``, a local path or a URI).
    """
    from evaluators.rows import result_rows
    from evaluators.strategies import get_strategy
    from evaluators.tasks import get_task
    from evaluators.types import SamplingSpec

    table = SweepDir(store or spec.location).tts_table()
    done = table.keys()
    task = get_task(spec.task.name, **spec.task.options)
    problems = task.problems()
    chunks = [problems[i:i + spec.chunk_size] for i in range(0, len(problems), spec.chunk_size)]
    factory = engine_factory or (lambda: _make_engine(spec, model))
    holder: dict[str, Any] = {"engine": None, "rewards": {},
                              "reward_factory": reward_factory or _make_reward}
    written, failures = 0, 0
    try:
        for s, rm, axis, n, mt in work_items(spec):
            strat = get_strategy(s.name, **s.options)
            sampling = SamplingSpec(temperature=spec.sampling.temperature,
                                    top_p=spec.sampling.top_p, max_tokens=mt)
            for ci, chunk in enumerate(chunks):
                keys = [(model.model_id, task.name, p.problem_id, s.method, n, mt, seed, rm)
                        for p in chunk]
                if all(k in done for k in keys):
                    continue
                while True:
                    try:
                        engine = _ensure_engine(holder, factory)
                        reward = _reward(holder, rm, engine, task, strat.reward_mode,
                                         spec.reward_options.get(rm, {}))
                        results = strat.run(engine, task, chunk, n, reward,
                                            _chunk_seed(seed, ci), sampling)
                        break
                    except EvaluatorError:
                        raise
                    except Exception as exc:  # noqa: BLE001 — engine died: rebuild and redo
                        failures += 1
                        if failures > spec.max_failures:
                            raise
                        print(f"tts: engine failed ({type(exc).__name__}: {exc}); restarting "
                              f"({failures}/{spec.max_failures})", flush=True)
                        _drop_engine(holder)
                engine = holder["engine"]
                rows = result_rows(
                    results, shape=engine.shape, sweep=spec.name, model_id=model.model_id,
                    N=model.N or engine.n_params, task=task.name, method=s.method,
                    strategy=s.name, budget=n, budget_axis=axis, max_tokens=mt, seed=seed,
                    reward_model=rm, oracle=_is_oracle(strat, reward))
                rows = [r for r in rows if table.key_of(r) not in done]
                table.append(rows)
                done.update(table.key_of(r) for r in rows)
                written += len(rows)
                if report:
                    report({"rows_written": written, "method": s.method, "budget": n,
                            "max_tokens": mt, "chunk": ci, "engine_restarts": failures})
    finally:
        _drop_engine(holder)
    return written


def _chunk_seed(seed: int, chunk_index: int) -> int:
    """Seed of a chunk's strategy call (fixed chunk → same samples on resume)."""
    return seed * 100_003 + chunk_index


def _is_oracle(strategy, reward) -> bool:
    return bool(getattr(strategy, "oracle", False) or getattr(reward, "oracle", False))


def local_model(path: str) -> str:
    """A local HF directory for ``path``: itself, or a copy of a remote one (``s3://…``) in
    ``~/.cache/scalelab/models/`` (downloaded once, published whole)."""
    if "://" not in path:
        return path
    import hashlib
    import shutil

    from laws.atomic import publish_dir

    target = Path.home() / ".cache" / "scalelab" / "models" / hashlib.sha256(path.encode()).hexdigest()[:16]
    if not (target / "config.json").is_file():
        tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        Store(path).download("", tmp)
        publish_dir(tmp, target)
    return str(target)


def trial_resources(spec: TTSSpec):
    """What a trial reserves: the engine's CPUs/GPUs; with ``engine.options.actor`` the engine
    lives in its own Ray actor, which must fit a bundle of the trial's placement group (Tune
    places a trial's child actors there), so the trial itself takes a sliver."""
    from ray import tune

    e = spec.engine
    if not e.options.get("actor"):
        return {"cpu": e.cpus, "gpu": e.gpus}
    engine = {"CPU": e.cpus, **({"GPU": e.gpus} if e.gpus else {})}
    return tune.PlacementGroupFactory([{"CPU": 0.01}, engine], strategy="PACK")


def _make_engine(spec: TTSSpec, model: ModelEntry):
    from evaluators.engines import make_engine

    opts = dict(spec.engine.options)
    if opts.get("actor"):                  # the actor takes the bundle trial_resources reserved
        opts.setdefault("num_cpus", spec.engine.cpus)
        opts.setdefault("num_gpus", spec.engine.gpus)
    if spec.engine.name == "vllm" and spec.engine.tensor_parallel_size > 1:
        opts.setdefault("tensor_parallel_size", spec.engine.tensor_parallel_size)
    return make_engine(spec.engine.name, model=local_model(model.path), model_id=model.model_id, **opts)


def _ensure_engine(holder, factory):
    if holder["engine"] is None:
        holder["engine"] = factory()
        holder["rewards"] = {}
    return holder["engine"]


def _drop_engine(holder) -> None:
    eng, rewards = holder["engine"], holder.get("rewards", {})
    holder["engine"], holder["rewards"] = None, {}
    for rm in list(rewards.values()):
        getattr(rm, "shutdown", lambda: None)()
    if eng is not None:
        try:
            getattr(eng, "shutdown", lambda: None)()
        except Exception:  # noqa: BLE001 — a dead engine may fail to shut down
            pass


def _reward(holder, name: str, engine, task, mode: str, options: dict):
    if not name:
        return None
    if (name, mode) not in holder["rewards"]:
        holder["rewards"][(name, mode)] = holder["reward_factory"](name, engine, task, mode,
                                                                  options)
    return holder["rewards"][(name, mode)]


def _make_reward(name: str, engine, task, mode: str = "orm", options: dict | None = None):
    """A reward model from the registry (``evaluators.rewards``) in the strategy's mode."""
    from evaluators.rewards import make_reward_model

    return make_reward_model(name, task=task, mode=mode, **(options or {}))


def _trainable(config: dict) -> None:
    """The Tune trainable: one model × seed."""
    from ray import tune

    spec = TTSSpec.from_dict(config["spec"])
    model, seed = ModelEntry(**config["trial"]["model"]), int(config["trial"]["seed"])
    seen = {"engine_restarts": 0}

    def report(m: dict) -> None:
        seen["engine_restarts"] = max(seen["engine_restarts"], int(m.get("engine_restarts", 0)))
        tune.report(m)

    n = run_trial(spec, model, seed, report=report)
    tune.report({"rows_written": n, "done": True, **seen})


class TTSRun:
    """A test-time run: ``TTSRun(spec).run()`` schedules its trials on Ray Tune.

    ``spec``: a :class:`TTSSpec`, a YAML path or a mapping; ``storage`` overrides its storage.
    """

    def __init__(self, spec, storage: str | None = None):
        if isinstance(spec, (str, Path)):
            self.spec = TTSSpec.from_yaml(spec, storage=storage)
        else:
            self.spec = TTSSpec.from_dict(spec, storage=storage)
        self.models = resolve_models(self.spec)
        self.dir = SweepDir(self.spec.location)

    def run(self) -> pd.DataFrame:
        """Run (or resume) every trial; returns the compacted rows."""
        from ray import tune

        from orchestrator.runs.tune import check_cluster, tune_storage

        spec, store = self.spec, self.dir.store
        store.check_writable()                    # everything is checked before anything is written
        init_ray(include_dashboard=False, log_to_driver=True,
                 runtime_env={"env_vars": {"RAY_AUTH_MODE": "disabled"}})
        check_cluster(spec.engine.cpus, spec.engine.gpus, 1, "spec.engine")
        store.makedirs()
        store.write_bytes("tts_spec.yaml", spec.to_yaml().encode())
        trials = [{"model": m.__dict__, "seed": s} for m in self.models for s in spec.seeds]
        resources = trial_resources(spec)
        tuner = tune.Tuner(
            tune.with_resources(_trainable, resources),
            param_space={"spec": spec.model_dump(mode="json"), "trial": tune.grid_search(trials)},
            run_config=tune.RunConfig(
                name=f"tts-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
                **tune_storage(store),
                failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                verbose=1),
        )
        grid = tuner.fit()
        self.results = grid
        errors = [r.error for r in grid if r.error is not None]
        df = self.dir.tts_table().compact()
        if errors:
            raise RuntimeError(f"tts: {len(errors)} trial(s) failed; first: {errors[0]}")
        return df


def run_tts(spec, storage: str | None = None) -> pd.DataFrame:
    """Run (or resume) a test-time spec (path, dict or :class:`TTSSpec`); returns its rows."""
    return TTSRun(spec, storage).run()
