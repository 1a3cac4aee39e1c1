"""Multi-worker training with Ray Train (DDP), and :func:`run_trial`, the trial entry point.

Ray 2.60 runs Ray Train V2, whose ``TorchTrainer`` cannot be handed to a ``Tuner``; instead a
Tune trial function calls :func:`run_trial`, which for ``cfg.workers > 1`` runs
``TorchTrainer(...).fit()`` from inside the trial. Every worker executes the same
:func:`orchestrator.train.loop.train_loop` with a :class:`~orchestrator.train.loop.Dist` that wraps the
model in ``DistributedDataParallel`` (gloo on CPU, NCCL on GPU) and takes its contiguous shard
of every global batch; the global batch, data order and schedule are those of a
single-process run. Rank 0 puts its step rows and the final :class:`TrainResult` on a
``ray.util.queue.Queue``; the trial thread drains it and calls ``report(row)`` itself, so
``report`` may be ``ray.tune.report`` (it runs in the trial's own thread). At the end every
rank sends a digest of its weights (:func:`weights_digest`, written to ``ddp_ranks.json``): a
run whose ranks do not hold bit-identical weights is ``failed``, not ``done``.

Resources: each worker asks for ``cfg.cpus`` CPUs (and one GPU when ``cfg.gpus > 0``). The
trial that calls :func:`run_trial` should therefore reserve (almost) nothing itself, e.g.
``tune.with_resources(fn, {"cpu": 0})`` for DDP runs, or it will wait for CPUs it holds.
Checkpoints (``workdir``) must be on storage every worker's node can reach.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable

from laws.atomic import atomic_write
from orchestrator.spec.run import RunSpec
from orchestrator.train.loop import Dist, TrainResult, train_loop, train_run

_RESULT = "__train_result__"
_DIGEST = "__rank_weights__"


def weights_digest(model) -> str:
    """SHA-256 of a model's state (every tensor's bytes, in name order): equal digests mean
    bit-identical weights."""
    import hashlib

    import torch

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _worker(config: dict[str, Any]) -> None:
    """Ray Train worker body: one DDP rank of :func:`train_loop`."""
    import ray.train
    import ray.train.torch
    import torch
    import torch.distributed as tdist

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    queue = config["queue"]

    def wrap(model):
        ids = [device.index] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def all_sum(t):
        tdist.all_reduce(t)
        return t

    dist = Dist(rank=rank, world_size=world, device=str(device), wrap=wrap, all_sum=all_sum,
                barrier=tdist.barrier,
                finish=lambda model: queue.put({_DIGEST: [rank, weights_digest(model)]}))
    cfg = RunSpec.from_dict(config["cfg"])
    report = queue.put if rank == 0 else None
    try:
        result = train_loop(cfg, Path(config["workdir"]), report, config["tokenizer_dir"],
                            config["parent_workdir"], dist)
    except Exception as exc:  # noqa: BLE001 - forwarded to the trial as a failed result
        if rank == 0:
            queue.put({_RESULT: {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}})
        raise
    if rank == 0:
        queue.put({_RESULT: result.to_dict()})


def train_ddp(cfg: RunSpec, workdir: Path, report: Callable[[dict], None] | None = None,
              tokenizer_dir: Path | None = None, parent_workdir: Path | None = None) -> TrainResult:
    """Run ``cfg`` on ``cfg.workers`` Ray Train workers (needs a running Ray)."""
    import ray
    from ray.train import RunConfig as TrainRunConfig
    from ray.train import ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.util.queue import Empty, Queue

    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        ray.init()
    queue = Queue(actor_options={"num_cpus": 0})
    gpu = cfg.gpus > 0
    trainer = TorchTrainer(
        _worker,
        train_loop_config={"cfg": cfg.to_dict(), "workdir": str(workdir), "queue": queue,
                           "tokenizer_dir": str(tokenizer_dir) if tokenizer_dir else None,
                           "parent_workdir": str(parent_workdir) if parent_workdir else None},
        scaling_config=ScalingConfig(num_workers=cfg.workers, use_gpu=gpu,
                                     resources_per_worker={"CPU": cfg.cpus, **({"GPU": 1} if gpu else {})}),
        torch_config=TorchConfig(backend="nccl" if gpu else "gloo"),
        run_config=TrainRunConfig(name=f"ddp-{cfg.run_id}", storage_path=str(workdir / "ray_train")),
    )
    box: dict[str, Any] = {}

    def fit() -> None:
        try:
            trainer.fit()
        except Exception as exc:  # noqa: BLE001 - reported as a failed run below
            box["error"] = exc

    thread = threading.Thread(target=fit, name=f"ddp-{cfg.run_id}", daemon=True)
    thread.start()
    result: dict | None = None
    digests: dict[int, str] = {}
    try:
        while thread.is_alive() or not queue.empty():
            try:
                item = queue.get(timeout=0.5)
            except Empty:
                continue
            if _RESULT in item:
                result = item[_RESULT]
            elif _DIGEST in item:
                digests[int(item[_DIGEST][0])] = item[_DIGEST][1]
            elif report is not None:
                report(item)
        thread.join()
    finally:
        ray.kill(queue.actor)
    if digests:
        atomic_write(workdir / "ddp_ranks.json", json.dumps({str(r): d for r, d in sorted(digests.items())}))
    if result is not None and "N" in result and len(set(digests.values())) > 1:
        result = {"status": "failed", "reason": f"DDP ranks ended with different weights "
                                                f"({len(set(digests.values()))} distinct digests)"}
    if result is None or "N" not in result:
        reason = (result or {}).get("reason") or f"ray train failed: {box.get('error')!r}"
        return TrainResult("failed", reason.splitlines()[0] if reason else "failed", 0, 0, 0,
                           0.0, 0.0, float("nan"), None, 0)
    return TrainResult(**result)


def run_trial(cfg: RunSpec, workdir: Path, report: Callable[[dict], None] | None = None,
              tokenizer_dir: Path | None = None, parent_workdir: Path | None = None) -> TrainResult:
    """THE entry point a Tune trial calls: single process when ``workers == 1``, else DDP.

    Never raises for a run that fails: any exception becomes ``status="failed"`` with a
    one-line ``reason`` (divergence is ``status="diverged"``), so the sweep goes on.
    """
    try:
        if cfg.workers > 1:
            return train_ddp(cfg, workdir, report, tokenizer_dir, parent_workdir)
        return train_run(cfg, workdir, report, tokenizer_dir, parent_workdir)
    except Exception as exc:  # noqa: BLE001 - a failed run is a result, not a crash
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return TrainResult("failed", reason, 0, 0, 0, 0.0, 0.0, float("nan"), None, 0)
