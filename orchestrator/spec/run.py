"""The fully resolved configuration of ONE training run (the unit Ray Tune schedules).

A :class:`~orchestrator.spec.sweep.SweepSpec` expands into many ``RunSpec`` objects; the trainer
only ever sees a ``RunSpec``. The run id is a stable hash of the fields that change the
numbers a run produces (not its resources), so re-submitting a spec recognises finished runs.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from typing import Any

# Fields that do not change what a run computes: excluded from the run id.
_NOT_IDENTITY = {"sweep", "cpus", "gpus", "workers", "eval_every", "save_at_tokens",
                 "compile", "log_every"}


@dataclass(frozen=True)
class RunSpec:
    """One run: model shape, data, optimisation, schedule, seed, resources.

    Token counts are in tokens; ``batch_tokens`` is the global batch (all workers, after
    gradient accumulation). For a WSD cooldown *branch*, ``parent_run_id`` names the trunk run
    and ``branch_from_tokens`` the trunk token count the branch starts from (the end of its
    stable phase); the branch then decays the LR over its own cooldown to ``tokens``.
    """

    sweep: str
    # model (Llama-style); vocab_size comes from the sweep's tokenizer
    width: int
    depth: int
    head_dim: int
    vocab_size: int
    seq_len: int
    # data: registry name + options (JSON-able), e.g. {"source": "arith", "level": 2}
    data: dict[str, Any]
    # optimisation
    lr: float
    batch_tokens: int
    tokens: int                      # D: tokens this run trains on in total
    schedule: str = "cosine"         # cosine | wsd | constant
    warmup_frac: float = 0.05
    cooldown_frac: float = 0.2       # wsd: fraction of `tokens` spent decaying
    min_lr_frac: float = 0.0         # final LR as a fraction of peak (cosine/wsd)
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    mup_base_width: int | None = None  # muP (orchestrator/train/mup.py) at this base width; None = SP
    seed: int = 0
    # WSD branches
    parent_run_id: str | None = None
    branch_from_tokens: int | None = None
    save_at_tokens: tuple[int, ...] = ()  # trunk: keep checkpoints at these token counts
    # evaluation / bookkeeping
    eval_every: int = 50             # steps
    eval_tokens: int = 8192
    log_every: int = 10              # steps between reported train rows
    diverge_factor: float = 3.0      # stop when loss > factor × initial loss (or NaN/inf)
    # resources
    cpus: float = 1.0
    gpus: float = 0.0
    workers: int = 1
    compile: bool = False

    @cached_property
    def run_id(self) -> str:
        """Stable 12-hex-digit id from the identity fields (order-independent JSON hash),
        computed once per object (the fields are frozen)."""
        ident = {k: v for k, v in asdict(self).items() if k not in _NOT_IDENTITY}
        blob = json.dumps(ident, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (round-trips through :meth:`from_dict`)."""
        d = asdict(self)
        d["save_at_tokens"] = list(self.save_at_tokens)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if "save_at_tokens" in kw:
            kw["save_at_tokens"] = tuple(kw["save_at_tokens"])
        return cls(**kw)

    def replace(self, **changes: Any) -> "RunSpec":
        """A copy with ``changes`` applied."""
        return replace(self, **changes)
