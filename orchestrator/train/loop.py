"""The trainer: the one function a Ray Tune trial runs for a :class:`RunSpec`.

``train_run`` trains in this process (CPU, or one GPU with bf16 autocast and optional
``torch.compile``); :mod:`orchestrator.train.ddp` runs the same :func:`train_loop` on several
Ray Train workers. What a run leaves in ``workdir``:

- ``resume/state.pt``: model + optimizer + step (= data position) + RNG, written atomically at
  every eval point; a later call with the same workdir continues from it (rows after the last
  checkpoint are reported again: consumers dedupe on ``(run_id, step)``). States are loaded with
  ``torch.load(weights_only=True)`` (:func:`load_state`): tensors and plain values only, never
  code from storage.
- ``starts.jsonl``: one line per start of the run: the step it starts from and whether from
  scratch, a resume state or a trunk's branch state.
- ``at_tokens/<T>/state.pt``: a trunk's state at each ``save_at_tokens`` count (WSD branches
  start there; a branch's cooldown starts at its ``branch_from_tokens``).
- ``final/``: the HF model + tokenizer directory (written to a temp dir, then renamed).
- ``train_result.json``: the :class:`TrainResult` (``result.json`` belongs to the Tune trial).

Step rows (ARCHITECTURE.md schema) go to ``report(row)`` at step 1, every ``log_every`` steps, at
every eval point and at the last step; ``step`` counts optimizer steps done, ``tokens`` and
``flops`` count everything the model has seen (a branch includes its trunk's tokens).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from laws.atomic import atomic_path, atomic_write, publish_dir
from orchestrator.errors import OrchestratorError
from orchestrator.spec.run import RunSpec
from orchestrator.train.data import get_data_source
from orchestrator.train.model import build_model, flops_per_token, param_counts, peak_flops
from orchestrator.train.mup import export_state, param_groups
from orchestrator.train.schedules import lr_at
from orchestrator.train.tokenizer import load_tokenizer, save_tokenizer

MICRO_BATCH_BYTES = {"cpu": 1 << 30, "cuda": None}  # activation budget (cuda: 25 % of memory)


class TrainError(OrchestratorError):
    """A run config the trainer cannot execute (one line naming the field; CLI exit 2)."""


@dataclass
class TrainResult:
    """What a run produced (one row of ``runs.parquet`` minus the spec fields)."""

    status: str                      # done | diverged | failed
    reason: str
    N: int
    N_total: int
    D: int                           # tokens the final model has seen
    C: float                         # exact training FLOPs (incl. attention, lm_head)
    C_6nd: float
    final_val_loss: float
    checkpoint: str | None           # path of final/ (None unless done)
    steps: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return asdict(self)


@dataclass
class Dist:
    """How the loop runs in parallel: identity for one process; set by train_ddp for DDP."""

    rank: int = 0
    world_size: int = 1
    device: str | None = None
    wrap: Callable[[torch.nn.Module], torch.nn.Module] = lambda m: m
    all_sum: Callable[[torch.Tensor], torch.Tensor] = lambda t: t
    barrier: Callable[[], None] = lambda: None
    finish: Callable[[torch.nn.Module], None] = lambda model: None   # every rank, at the end


def train_run(cfg: RunSpec, workdir: Path, report: Callable[[dict], None] | None = None,
              tokenizer_dir: Path | None = None, parent_workdir: Path | None = None) -> TrainResult:
    """Train ``cfg`` in this process; see the module docstring for what lands in ``workdir``."""
    return train_loop(cfg, Path(workdir), report, tokenizer_dir, parent_workdir, Dist())


STATE_KEYS = ("model", "optim", "step", "batch_tokens", "initial_loss", "rng")
# numpy scalars are plain data (a dtype and its bytes); nothing else outside torch's allowlist
_NUMPY_SCALARS = [np._core.multiarray.scalar, np.dtype, type(np.dtype(np.float64))]


def load_state(path: Path, device: Any = "cpu") -> dict:
    """A resume or branch state written by the trainer, loaded with ``weights_only=True``:
    tensors and plain values only, so a file planted in shared storage cannot run code in the
    worker that resumes from it. Anything else is a one-line :class:`TrainError`."""
    import pickle

    try:
        with torch.serialization.safe_globals(_NUMPY_SCALARS):   # older states hold np.float64 LRs
            st = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        import re

        wanted = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", str(exc))
        if wanted:
            raise TrainError(f"{path}: refused to load: not a plain tensor checkpoint, it asks to "
                             f"call {wanted.group(1)}") from None
        raise TrainError(f"{path}: cannot load the training state (not a torch checkpoint)") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise TrainError(f"{path}: cannot load the training state ({type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''})") from None
    if not isinstance(st, dict) or any(k not in st for k in STATE_KEYS):
        raise TrainError(f"{path}: not a scalelab training state (needs keys {', '.join(STATE_KEYS)})")
    return st


def _log_start(workdir: Path, start: int, source: str) -> None:
    """Append where this start of the run begins (``starts.jsonl``): how a resume is proven to
    continue from its last checkpoint instead of step 0."""
    with open(workdir / "starts.jsonl", "a") as fh:
        fh.write(json.dumps({"time": time.time(), "pid": os.getpid(), "start_step": start,
                             "from": source}) + "\n")


def _atomic_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _micro_rows(cfg: RunSpec, rows: int, device: torch.device) -> int:
    """Largest divisor of ``rows`` whose activations fit the device's budget."""
    w, heads = cfg.width, cfg.width // cfg.head_dim
    per_token = 4 * (cfg.depth * (16 * w + 3 * math.ceil(8 * w / 3) + 2 * heads * cfg.seq_len)
                     + 4 * cfg.vocab_size)
    budget = MICRO_BATCH_BYTES.get(device.type)
    if budget is None:
        budget = torch.cuda.get_device_properties(device).total_memory // 4
    fit = max(1, budget // (per_token * cfg.seq_len))
    return max(d for d in range(1, rows + 1) if rows % d == 0 and d <= fit)


def _param_groups(model: torch.nn.Module, cfg: RunSpec) -> list[dict]:
    """AdamW groups embedding / hidden / readout / vector with per-group LR multiplier and
    weight decay: muP when ``cfg.mup_base_width`` is set, else SP (:mod:`orchestrator.train.mup`)."""
    return param_groups(model, cfg.width, cfg.mup_base_width, cfg.weight_decay)


def _check(cfg: RunSpec, vocab: int, world: int) -> tuple[int, int]:
    """Validate the shape of the batch; return (global rows, total steps)."""
    if cfg.batch_tokens % cfg.seq_len:
        raise TrainError(f"batch_tokens={cfg.batch_tokens} must be a multiple of seq_len={cfg.seq_len}")
    rows = cfg.batch_tokens // cfg.seq_len
    if rows % world:
        raise TrainError(f"batch_tokens/seq_len={rows} rows must divide among workers={world}")
    if cfg.tokens < cfg.batch_tokens:
        raise TrainError(f"tokens={cfg.tokens} must be at least batch_tokens={cfg.batch_tokens}")
    if vocab > cfg.vocab_size:
        raise TrainError(f"vocab_size={cfg.vocab_size} is smaller than the tokenizer's {vocab}")
    if cfg.parent_run_id and not cfg.branch_from_tokens:
        raise TrainError("branch_from_tokens is required when parent_run_id is set")
    return rows, cfg.tokens // cfg.batch_tokens


def _lrs(cfg: RunSpec, total: int, branch_step: int | None) -> np.ndarray:
    """Per-step LR; a WSD branch starts its cooldown at its branch point."""
    cooldown = cfg.cooldown_frac
    if branch_step is not None and cfg.schedule == "wsd":
        cooldown = (total - branch_step) / total
    return lr_at(np.arange(total), total, cfg.lr, cfg.schedule, cfg.warmup_frac, cooldown,
                 cfg.min_lr_frac)


def _evaluate(model, source, cfg, dist: Dist, device, micro: int, amp) -> float:
    """Mean held-out loss over ``eval_tokens`` (the same windows at every eval)."""
    n = max(dist.world_size, cfg.eval_tokens // cfg.seq_len)
    x, y = source.batch("val", n, cfg.seq_len, seed=0, step=0)
    x, y = x[dist.rank::dist.world_size], y[dist.rank::dist.world_size]
    tot = torch.zeros(2, dtype=torch.float64, device=device)
    model.eval()
    with torch.no_grad(), amp():
        for i in range(0, len(x), micro):
            xb, yb = x[i:i + micro].to(device), y[i:i + micro].to(device)
            logits = model(input_ids=xb, use_cache=False).logits
            tot[0] += F.cross_entropy(logits.float().flatten(0, 1), yb.flatten(), reduction="sum")
            tot[1] += yb.numel()
    model.train()
    tot = dist.all_sum(tot)
    return float(tot[0] / tot[1])


def _save_final(model, tok, workdir: Path) -> Path:
    """Write the HF directory to a temp dir, then rename it to ``workdir/final``."""
    final, tmp = workdir / "final", workdir / f".final.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    if tok is not None:
        for k in ("bos_token_id", "eos_token_id", "pad_token_id"):
            setattr(model.config, k, getattr(tok, k))
            setattr(model.generation_config, k, getattr(tok, k))
    model.save_pretrained(str(tmp), state_dict=export_state(model))   # muP: multiplier folded
    if tok is not None:
        save_tokenizer(tok, tmp)
    return publish_dir(tmp, final)


def train_loop(cfg: RunSpec, workdir: Path, report: Callable[[dict], None] | None,
               tokenizer_dir: Path | None, parent_workdir: Path | None, dist: Dist) -> TrainResult:
    """The training loop shared by single-process and DDP runs (rank 0 reports and saves)."""
    torch.set_num_threads(max(1, int(cfg.cpus)))
    workdir.mkdir(parents=True, exist_ok=True)
    device = torch.device(dist.device or ("cuda" if cfg.gpus > 0 and torch.cuda.is_available() else "cpu"))
    source = get_data_source(cfg.data)
    if tokenizer_dir is not None:
        source.set_tokenizer(load_tokenizer(tokenizer_dir))
    tok = source.tokenizer
    rows, total = _check(cfg, source.vocab_size, dist.world_size)
    rows_rank = rows // dist.world_size
    micro = _micro_rows(cfg, rows_rank, device)
    n_micro = rows_rank // micro
    N, N_total = param_counts(cfg.width, cfg.depth, cfg.head_dim, cfg.vocab_size)
    fpt = flops_per_token(cfg.width, cfg.depth, cfg.head_dim, cfg.vocab_size, cfg.seq_len)
    lead = dist.rank == 0

    raw = build_model(cfg.width, cfg.depth, cfg.head_dim, cfg.vocab_size, cfg.seq_len, cfg.seed,
                      cfg.mup_base_width).to(device)
    groups = _param_groups(raw, cfg)
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8,
                            fused=device.type == "cuda")
    start, initial_loss, wall_prev, branch_step = 0, None, 0.0, None
    resume = workdir / "resume" / "state.pt"
    if cfg.parent_run_id:
        src = Path(parent_workdir or "") / "at_tokens" / str(cfg.branch_from_tokens) / "state.pt"
        if not resume.exists() and not src.exists():
            raise TrainError(f"branch_from_tokens={cfg.branch_from_tokens}: no trunk checkpoint {src}")
    state_path = resume if resume.exists() else (src if cfg.parent_run_id else None)
    if state_path is not None:
        st = load_state(state_path, device)
        if st["batch_tokens"] != cfg.batch_tokens:
            raise TrainError(f"batch_tokens={cfg.batch_tokens} differs from the checkpoint's "
                             f"{st['batch_tokens']} ({state_path})")
        raw.load_state_dict(st["model"])
        opt.load_state_dict(st["optim"])
        start, initial_loss = st["step"] + 1, st["initial_loss"]
        torch.set_rng_state(st["rng"])
        if state_path == resume:
            wall_prev, branch_step = st["wall_s"], st.get("branch_step")
        else:
            branch_step = start
    if lead:
        _log_start(workdir, start, "scratch" if state_path is None else
                   ("resume" if state_path == resume else "branch"))
    model = dist.wrap(raw)
    if cfg.compile:
        model = torch.compile(model)
    lrs = _lrs(cfg, total, branch_step)
    mults = [g["lr_mult"] for g in opt.param_groups]
    cuda = device.type == "cuda"
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext
    no_sync = getattr(model, "no_sync", contextlib.nullcontext)
    peak = peak_flops(device) * dist.world_size
    save_at = sorted(t for t in cfg.save_at_tokens if t > start * cfg.batch_tokens)

    def state(step: int) -> dict:
        return {"model": raw.state_dict(), "optim": opt.state_dict(), "step": step,
                "batch_tokens": cfg.batch_tokens, "initial_loss": initial_loss,
                "wall_s": wall_prev + time.perf_counter() - t0, "rng": torch.get_rng_state(),
                "branch_step": branch_step, "run_id": cfg.run_id}

    def emit(step: int, train_loss: float, val_loss: float, tps: float) -> None:
        tokens = (step + 1) * cfg.batch_tokens
        if lead and report is not None:
            report({"sweep": cfg.sweep, "run_id": cfg.run_id, "parent_run_id": cfg.parent_run_id,
                    "step": step + 1, "tokens": tokens, "flops": float(tokens * fpt["exact"]),
                    "flops_6nd": float(tokens * fpt["six_n"]), "lr": float(lrs[step]),
                    "train_loss": train_loss, "val_loss": val_loss, "tokens_per_s": tps,
                    "wall_s": wall_prev + time.perf_counter() - t0,
                    "mfu": tps * fpt["exact"] / peak if cuda else float("nan")})

    status, reason, val_loss, step = "done", "", float("nan"), start - 1
    t0 = t_win = time.perf_counter()
    loss_win = torch.zeros((), device=device)
    n_win = 0
    for step in range(start, total):
        x, y = source.batch("train", rows, cfg.seq_len, cfg.seed, step)
        if dist.world_size > 1:
            x, y = x[dist.rank * rows_rank:(dist.rank + 1) * rows_rank], y[dist.rank * rows_rank:(dist.rank + 1) * rows_rank]
        for g, m in zip(opt.param_groups, mults):
            g["lr"] = float(lrs[step] * m)   # a plain float: states load with weights_only
        for i in range(n_micro):
            xb = x[i * micro:(i + 1) * micro].to(device, non_blocking=True)
            yb = y[i * micro:(i + 1) * micro].to(device, non_blocking=True)
            with (no_sync() if i < n_micro - 1 else contextlib.nullcontext()), amp():
                logits = model(input_ids=xb, use_cache=False).logits
                loss = F.cross_entropy(logits.float().flatten(0, 1), yb.flatten()) / n_micro
            loss.backward()
            loss_win += loss.detach()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(raw.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        n_win += 1
        last = step == total - 1
        is_eval = (step + 1) % cfg.eval_every == 0 or last
        done_tokens = (step + 1) * cfg.batch_tokens
        crossing = [t for t in save_at if t <= done_tokens]
        if not (step == start or (step + 1) % cfg.log_every == 0 or is_eval or crossing):
            continue
        train_loss = float(dist.all_sum(loss_win) / (n_win * dist.world_size))
        now = time.perf_counter()
        tps = n_win * cfg.batch_tokens / (now - t_win)
        loss_win.zero_()
        n_win = 0
        if initial_loss is None:
            initial_loss = train_loss
        if not math.isfinite(train_loss) or train_loss > cfg.diverge_factor * initial_loss:
            status = "diverged"
            reason = (f"train loss {train_loss:.4g} at step {step + 1} is not finite"
                      if not math.isfinite(train_loss) else
                      f"train loss {train_loss:.4g} > {cfg.diverge_factor} x initial "
                      f"{initial_loss:.4g} at step {step + 1}")
            emit(step, train_loss, float("nan"), tps)
            break
        val_loss = _evaluate(model, source, cfg, dist, device, micro, amp) if is_eval else float("nan")
        emit(step, train_loss, val_loss, tps)
        if lead:
            for t in crossing:
                _atomic_save(state(step), workdir / "at_tokens" / str(t) / "state.pt")
            if is_eval:
                _atomic_save(state(step), resume)
        save_at = [t for t in save_at if t > done_tokens]
        if is_eval and not math.isfinite(val_loss):
            status, reason = "diverged", f"val loss {val_loss} at step {step + 1} is not finite"
            break
        dist.barrier()
        t_win = time.perf_counter()
    steps = step + 1
    D = steps * cfg.batch_tokens
    if status == "done" and start >= total:  # called again after the run had finished
        val_loss = _evaluate(model, source, cfg, dist, device, micro, amp)
    final = str(_save_final(raw, tok, workdir)) if status == "done" and lead else None
    dist.finish(raw)
    dist.barrier()
    result = TrainResult(status, reason, N, N_total, D, float(D * fpt["exact"]),
                         float(D * fpt["six_n"]), val_loss if status == "done" else float("nan"),
                         final, steps)
    if lead:
        atomic_write(workdir / "train_result.json", json.dumps(result.to_dict()))
    return result
