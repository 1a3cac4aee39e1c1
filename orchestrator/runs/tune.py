"""Ray Tune wiring: the trial function, per-trial resources, search algorithms and schedulers.

The trial function runs ONE :class:`RunSpec` with the trainer (``orchestrator.train.loop:run_trial``
by default; a ``"module:function"`` string so it travels to Ray workers). Its work directory is
``<checkpoints>/<run_id>/``: calling it again resumes there. When the trainer returns, its
result is written to ``<workdir>/result.json`` (atomically) before being reported, so a trial
resubmitted after a driver crash reports the stored result instead of training again.
Every trainer start appends a line to ``<workdir>/starts.log`` (how tests prove "not re-run").
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

from laws.atomic import atomic_write
from orchestrator.errors import SpecError
from orchestrator.spec.run import RunSpec

DEFAULT_TRAINER = "orchestrator.train.ddp:run_trial"
OBJECTIVE = "objective"
_BIG = 1.0e9


def load_trainer(path: str) -> Callable:
    """Import ``module:function`` or ``/path/to/file.py:function``."""
    mod, _, fn = path.rpartition(":")
    if mod.endswith(".py"):
        import sys

        name = f"_scalelab_trainer_{Path(mod).stem}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, mod)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        return getattr(module, fn)
    return getattr(importlib.import_module(mod), fn)


def cfg_of(config: dict) -> RunSpec:
    """The trial's RunSpec: ``config["run"]`` plus searcher-chosen ``lr``/``batch_tokens``."""
    d = dict(config["run"])
    if "lr" in config:
        d["lr"] = float(config["lr"])
    if "batch_tokens" in config:
        b = int(config["batch_tokens"])
        d["batch_tokens"] = b
        d["tokens"] = max(2 * b, int(round(d["tokens"] / b)) * b)
    return RunSpec.from_dict(d)


def tune_storage(store: Any) -> dict:
    """``RunConfig`` keywords: where Tune keeps its experiment state for a
    :class:`~orchestrator.runs.store.Store` (a remote store passes its own filesystem, so a
    URI's query options such as ``endpoint_override`` apply)."""
    if store.local:
        return {"storage_path": str(store.local_path("tune"))}
    return {"storage_path": store.path("tune"), "storage_filesystem": store.fs}


def check_cluster(cpus: float, gpus: float, workers: int, field: str) -> None:
    """Refuse (one-line :class:`SpecError` naming ``field``) a trial the Ray cluster can never
    hold, instead of letting it wait forever: the autoscaler's maximum when the cluster has
    one (KubeRay), else the live nodes (one node must hold a single-process trial)."""
    import ray

    gpu_each = (1.0 if gpus > 0 else 0.0) if workers > 1 else gpus
    need = {"CPU": cpus * workers, "GPU": gpu_each * workers}
    try:
        from ray._private.state import state
        cap = state.get_max_resources_from_cluster_config()
    except Exception:  # noqa: BLE001 - no autoscaler information in this Ray
        cap = None
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    have = dict(cap) if cap else {k: sum(n.get(k, 0.0) for n in nodes) for k in need}
    what = " (autoscaling included)" if cap else ""
    for key, name in (("GPU", "gpus"), ("CPU", "cpus")):
        if need[key] > have.get(key, 0) + 1e-9:
            raise SpecError(f"{field}.{name}: a trial needs {need[key]:g} {key} but the Ray cluster "
                            f"has {have.get(key, 0):g}{what}; it would wait forever")
    if not cap and workers <= 1 and not any(n.get("CPU", 0) + 1e-9 >= cpus and
                                            n.get("GPU", 0) + 1e-9 >= gpus for n in nodes):
        raise SpecError(f"{field}: no node of the Ray cluster has {cpus:g} CPU and {gpus:g} GPU "
                        "for one trial; it would wait forever")


def result_dict(res: Any) -> dict:
    """A JSON-able dict of a trainer result (dataclass or mapping); Paths become strings."""
    d = dataclasses.asdict(res) if dataclasses.is_dataclass(res) else dict(res)
    out = {}
    for k, v in d.items():
        if isinstance(v, Path):
            v = str(v)
        elif isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


def trial_fn(config: dict) -> None:
    """Ray Tune function trainable: train (or resume) one run and report its rows."""
    from ray import tune

    cfg, paths = cfg_of(config), config["paths"]
    root = Path(paths["checkpoints"])
    workdir = root / cfg.run_id
    workdir.mkdir(parents=True, exist_ok=True)
    marker = workdir / "result.json"
    if marker.exists():                       # finished before the driver died: do not retrain
        final = json.loads(marker.read_text())
        tune.report({"final": final, OBJECTIVE: final.get("final_val_loss") or _BIG,
                     "tokens": final.get("D") or cfg.tokens})
        return
    with open(workdir / "starts.log", "a") as fh:
        fh.write(f"{time.time()} pid={os.getpid()}\n")
    state = {"obj": _BIG, "val": False}

    def report(row: dict) -> None:
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in dict(row).items()}
        v, t = row.get("val_loss"), row.get("train_loss")
        if v is not None and math.isfinite(v):
            state.update(obj=float(v), val=True)
        elif not state["val"] and t is not None and math.isfinite(t):
            state["obj"] = float(t)
        tune.report({"row": row, OBJECTIVE: state["obj"], "tokens": row.get("tokens") or 0})

    parent = root / cfg.parent_run_id if cfg.parent_run_id else None
    trainer = load_trainer(paths.get("trainer") or DEFAULT_TRAINER)
    res = trainer(cfg, workdir, report, tokenizer_dir=paths.get("tokenizer"), parent_workdir=parent)
    final = result_dict(res)
    if paths.get("remote_checkpoints") and final.get("status") == "done" and final.get("checkpoint"):
        from orchestrator.runs.store import Store

        Store(paths["remote_checkpoints"]).upload(Path(final["checkpoint"]), f"{cfg.run_id}/final")
        final["checkpoint"] = f"checkpoints/{cfg.run_id}/final"   # below the sweep directory
    atomic_write(marker, json.dumps(final, default=str))
    loss = final.get("final_val_loss")
    tune.report({"final": final, OBJECTIVE: loss if loss is not None else state["obj"],
                 "tokens": final.get("D") or cfg.tokens})


def trial_resources(cpus: float, gpus: float, workers: int):
    """Per-trial resources for ``tune.with_resources``.

    One worker: the trial itself trains and holds ``cpus``/``gpus``. With ``workers > 1`` the
    trial only drives a Ray Train ``TorchTrainer``: under Ray Train v2 (default in Ray ≥ 2.50)
    the workers are scheduled by Train itself, so the trial reserves a sliver of a CPU; under
    v1 a placement group holds the driver bundle plus one bundle per worker.
    """
    from ray import tune

    if workers <= 1:
        return {"cpu": cpus, "gpu": gpus}
    try:
        from ray.train.v2._internal.constants import is_v2_enabled
        v2 = is_v2_enabled()
    except Exception:  # noqa: BLE001 - older Ray
        v2 = False
    if v2:
        return {"cpu": 0.01}
    return tune.PlacementGroupFactory([{"CPU": 0.01}] + [{"CPU": cpus, "GPU": gpus}] * workers,
                                      strategy="PACK")


def search_and_scheduler(spec: Any, budget_tokens: int) -> dict:
    """TuneConfig keyword arguments for the spec's search algorithm and scheduler."""
    kw: dict[str, Any] = {}
    if spec.search.kind == "optuna" or spec.scheduler.kind == "asha":
        kw.update(metric=OBJECTIVE, mode="min")
    if spec.scheduler.kind == "asha":
        from ray.tune.schedulers import ASHAScheduler

        kw["scheduler"] = ASHAScheduler(
            time_attr="tokens", max_t=budget_tokens,
            grace_period=max(1, int(spec.scheduler.grace_frac * budget_tokens)),
            reduction_factor=spec.scheduler.reduction_factor)
    return kw


def optuna_space(spec: Any, base: RunSpec, paths: dict) -> dict:
    """Optuna param space over the LR (log-uniform) and batch (choice) sub-space."""
    from ray import tune

    space: dict[str, Any] = {"run": base.to_dict(), "paths": paths,
                             "lr": tune.loguniform(spec.lr.min, spec.lr.max)}
    if len(spec.batch_tokens) > 1:
        space["batch_tokens"] = tune.choice(list(spec.batch_tokens))
    return space


def optuna_searcher(done_points: list[dict], rewards: list[float], seed: int = 0):
    """An OptunaSearch seeded with the already finished trials of this group."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(points_to_evaluate=done_points or None,
                        evaluated_rewards=rewards or None,
                        sampler=optuna.samplers.TPESampler(seed=seed))
