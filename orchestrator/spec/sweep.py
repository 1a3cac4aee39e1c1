"""The sweep spec: one YAML file (or Python object) describing a ladder of training runs.

    name: quickstart
    model: {widths: [32, 64], depths: [1, 2], head_dim: 32, seq_len: 64}
    tokens: {per_param: [5, 10, 20]}        # or {D: [200000, 400000]}
    lr: {values: [0.003]}
    batch_tokens: [2048]
    schedule: {kind: wsd, warmup_frac: 0.05, cooldown_frac: 0.2}
    data: {source: arith, options: {level: 1}}

:meth:`SweepSpec.expand` resolves it into :class:`~orchestrator.spec.run.RunSpec` objects.
With ``schedule.kind: wsd`` every (shape, lr, batch, seed) gets ONE trunk run trained at the
stable LR up to the latest branch point (``schedule='constant'`` in its own row), and one
cooldown *branch* per token budget D_i that starts from the trunk at ``D_i·(1 − cooldown_frac)``
(own run id, ``parent_run_id`` = the trunk). Token counts are rounded to whole batches. Every
invalid field raises :class:`SpecError` naming it (one line, exit code 2).
"""
from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator, model_validator

from orchestrator.spec.base import SpecError, StrictSpec, field_error
from orchestrator.spec.fields import (
    LR,
    Data,
    ModelLadder,
    Resources,
    Schedule,
    Scheduler,
    Search,
    Tokens,
    Train,
)
from orchestrator.spec.run import RunSpec

__all__ = ["SweepSpec", "SpecError"]

MAX_TOKENS = 10**15          # a run's D above this is a typo, not a plan


class SweepSpec(StrictSpec):
    """A whole sweep: model ladder × token budgets × LRs × batches × seeds, plus how to run it."""

    name: str
    model: ModelLadder
    tokens: Tokens
    lr: LR
    batch_tokens: list[int] = Field(default_factory=lambda: [2048])
    schedule: Schedule = Field(default_factory=Schedule)
    seeds: list[int] = Field(default_factory=lambda: [0])
    data: Data
    resources: Resources = Field(default_factory=Resources)
    max_concurrent: int = Field(2, ge=1)
    max_failures: int = Field(2, ge=0)        # Tune retries of a trial whose process died
    search: Search = Field(default_factory=Search)
    scheduler: Scheduler = Field(default_factory=Scheduler)
    storage: str = "scalelab_runs"
    train: Train = Field(default_factory=Train)

    @field_validator("batch_tokens", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _cross(self) -> "SweepSpec":
        seq = self.model.seq_len
        if not self.batch_tokens:
            raise field_error("batch_tokens", "must not be empty")
        for i, b in enumerate(self.batch_tokens):
            if b <= 0 or b % seq:
                raise field_error(f"batch_tokens[{i}]", f"must be a positive multiple of model.seq_len={seq}, got {b}")
        if len(set(self.batch_tokens)) != len(self.batch_tokens):
            raise field_error("batch_tokens", f"has duplicate values {self.batch_tokens}")
        for i, d in enumerate(self.tokens.D or []):
            if d < 2 * max(self.batch_tokens):
                raise field_error(f"tokens.D[{i}]", f"must be at least 2 batches ({2 * max(self.batch_tokens)} tokens), got {d}")
        if self.search.kind == "optuna":
            if self.lr.min is None or self.lr.max is None:
                raise field_error("lr.min", "search.kind optuna needs lr.min and lr.max (log range)")
            if self.schedule.kind == "wsd":
                raise field_error("search.kind", "optuna is not supported with schedule wsd (branches share a trunk); use grid")
        elif self.lr.values is None:
            raise field_error("lr.values", "required with search.kind grid")
        elif not self.lr.values:
            raise field_error("lr.values", "must not be empty")
        if self.scheduler.kind == "asha":
            n_sizes = len(self.model.shapes or self.model.target_N or []) or \
                len(self.model.widths or []) * len(self.model.depths or [])
            n_budgets = len(self.tokens.D or self.tokens.per_param or [])
            if n_sizes > 1 or n_budgets > 1 or self.schedule.kind == "wsd":
                raise field_error("scheduler.kind", "asha is only allowed for hyperparameter sweeps at ONE model size and ONE token budget (no wsd branches): a run cut short is not the final loss of a shorter run, so the N×D grid must run to completion")
            if len(self.lr.values or []) + len(self.batch_tokens) < 3 and self.search.kind == "grid":
                raise field_error("scheduler.kind", "asha needs more than one lr or batch value to choose between")
        if self.resources.workers > 1 and self.resources.gpus == 0 and self.resources.cpus < 1:
            raise field_error("resources.cpus", "each Ray Train worker needs >= 1 CPU")
        return self

    # ---------------------------------------------------------------- expansion
    def _budgets(self, n_params: int, batch: int, where: str) -> list[int]:
        """Token budgets for one model size, rounded to whole batches (sorted, unique)."""
        if self.tokens.D is not None:
            raw, key = list(self.tokens.D), "tokens.D"
        else:
            raw, key = [m * n_params for m in self.tokens.per_param], "tokens.per_param"
        out = []
        for i, d in enumerate(raw):
            rounded = int(round(d / batch)) * batch
            if rounded > MAX_TOKENS:
                raise SpecError(f"spec.{key}[{i}]: gives D={d:.3g} tokens for {where}, more than "
                                f"{MAX_TOKENS:.0e}")
            if rounded < 2 * batch:
                raise SpecError(f"spec.{key}[{i}]: gives D={int(d)} tokens for {where}, fewer than"
                                f" 2 batches of {batch}")
            out.append(rounded)
        return sorted(set(out))

    def _check_targets(self, vocab_size: int) -> None:
        """A ``target_N`` the shape rule cannot come near (it would be clamped to the smallest
        or largest buildable model without a word) is an error."""
        from orchestrator.train.model import choose_shape, param_counts

        m = self.model
        if m.target_N is None:
            return
        ends = [choose_shape(n, vocab_size, m.head_dim, m.aspect_ratio) for n in (1.0, 1e300)]
        lo, hi = (param_counts(w, d, m.head_dim, vocab_size)[0] for w, d in ends)
        for i, n in enumerate(m.target_N):
            if not lo / 2 <= n <= hi * 2:
                raise SpecError(f"spec.model.target_N[{i}]: {n:g} is outside what the shape rule "
                                f"builds ({lo:,} to {hi:,} non-embedding parameters with head_dim="
                                f"{m.head_dim}, aspect_ratio={m.aspect_ratio:g})")

    def mup_base_width(self, vocab_size: int) -> int | None:
        """muP's base width: ``lr.mup_base_width``, else the ladder's smallest width; None
        with ``lr.mup: false`` (standard parametrization)."""
        if not self.lr.mup:
            return None
        return self.lr.mup_base_width or min(w for w, _ in self.model.resolve(vocab_size))

    def base_config(self, width: int, depth: int, vocab_size: int, lr: float, batch: int,
                    seed: int, tokens: int) -> RunSpec:
        """A RunSpec carrying every spec-wide setting for one (shape, lr, batch, seed, D)."""
        t, r, s = self.train, self.resources, self.schedule
        return RunSpec(
            sweep=self.name, width=width, depth=depth, head_dim=self.model.head_dim,
            vocab_size=vocab_size, seq_len=self.model.seq_len,
            data={"source": self.data.source, **self.data.options}, lr=float(lr),
            batch_tokens=batch, tokens=tokens, schedule=s.kind, warmup_frac=s.warmup_frac,
            cooldown_frac=s.cooldown_frac, min_lr_frac=s.min_lr_frac,
            weight_decay=t.weight_decay, beta1=t.beta1, beta2=t.beta2, grad_clip=t.grad_clip,
            mup_base_width=self.mup_base_width(vocab_size), seed=seed, eval_every=t.eval_every,
            eval_tokens=t.eval_tokens, log_every=t.log_every, diverge_factor=t.diverge_factor,
            cpus=r.cpus, gpus=r.gpus, workers=r.workers, compile=t.compile)

    def lr_values(self) -> list[float]:
        """The LR grid (optuna: the geometric middle of the range, as a placeholder)."""
        if self.search.kind == "optuna":
            return [math.sqrt(self.lr.min * self.lr.max)]
        return list(self.lr.values)

    def expand(self, vocab_size: int) -> list[RunSpec]:
        """All runs of the sweep: trunks and plain runs first, then WSD branches.

        With ``search.kind: optuna`` this returns one *base* run per (shape, D, batch, seed)
        whose lr is a placeholder; the searcher fills in lr (and batch) per trial.
        """
        from orchestrator.train.model import ModelShapeError, param_counts

        try:
            shapes = self.model.resolve(vocab_size)
            counts = {sh: param_counts(sh[0], sh[1], self.model.head_dim, vocab_size)[0] for sh in shapes}
            self._check_targets(vocab_size)
        except ModelShapeError as exc:
            raise SpecError(f"spec.model: {exc}") from None
        batches = self.batch_tokens[:1] if self.search.kind == "optuna" else self.batch_tokens
        first: list[RunSpec] = []
        branches: list[RunSpec] = []
        s = self.schedule
        for (w, d) in shapes:
            for batch in batches:
                budgets = self._budgets(counts[(w, d)], batch, f"width={w} depth={d} (N={counts[(w, d)]})")
                for lr in self.lr_values():
                    for seed in self.seeds:
                        if s.kind != "wsd":
                            first += [self.base_config(w, d, vocab_size, lr, batch, seed, D) for D in budgets]
                            continue
                        trunk, brs = self._wsd(w, d, vocab_size, lr, batch, seed, budgets)
                        first.append(trunk)
                        branches += brs
        return first + branches

    def _wsd(self, w: int, d: int, vocab: int, lr: float, batch: int, seed: int,
             budgets: list[int]) -> tuple[RunSpec, list[RunSpec]]:
        """One stable-LR trunk and its cooldown branches (one per budget)."""
        cf = self.schedule.cooldown_frac
        starts = []
        for D in budgets:
            start = int(round(D * (1 - cf) / batch)) * batch
            starts.append(min(max(start, batch), D - batch))
        trunk_tokens = max(starts)
        trunk = self.base_config(w, d, vocab, lr, batch, seed, trunk_tokens).replace(
            schedule="constant", cooldown_frac=0.0, save_at_tokens=tuple(sorted(set(starts))))
        warm = self.schedule.warmup_frac * trunk_tokens
        if warm > min(starts):
            raise SpecError(f"spec.schedule.warmup_frac: warmup ({int(warm)} tokens) runs past the "
                            f"first branch point ({min(starts)} tokens) for width={w} depth={d}")
        brs = [self.base_config(w, d, vocab, lr, batch, seed, D).replace(
                   warmup_frac=warm / D, cooldown_frac=(D - st) / D,
                   parent_run_id=trunk.run_id, branch_from_tokens=st)
               for D, st in zip(budgets, starts)]
        return trunk, brs
