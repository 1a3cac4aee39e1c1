"""A stand-in trainer for BOOKKEEPING tests of the sweep wiring only (ledger, store, resume
markers, Tune callbacks). End-to-end tests use the real trainer (orchestrator.train.loop)."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class FakeResult:
    status: str
    reason: str
    N: int
    N_total: int
    D: int
    C: float
    C_6nd: float
    final_val_loss: float
    checkpoint: Path | None
    steps: int


def run_trial(cfg, workdir, report, tokenizer_dir=None, parent_workdir=None):
    """Pretend to train: one row per step, 'resume' from workdir/resume/step.json."""
    if cfg.seed == 13:
        raise RuntimeError("fake trainer exploded on purpose")
    steps = cfg.tokens // cfg.batch_tokens
    resume = Path(workdir) / "resume" / "step.json"
    start = json.loads(resume.read_text())["step"] if resume.exists() else 0
    n = cfg.width * cfg.width * cfg.depth * 12
    delay = float(os.environ.get("FAKE_TRAINER_STEP_S", "0"))
    for step in range(start + 1, steps + 1):
        loss = 10.0 / (1 + step) + 1.0 / cfg.width
        if cfg.lr > 10:
            loss = float("nan")
        report({"step": step, "tokens": step * cfg.batch_tokens, "lr": cfg.lr,
                "train_loss": loss, "val_loss": loss if step % 2 == 0 else float("nan"),
                "tokens_per_s": 1000.0, "wall_s": 0.01 * step, "flops": 6.0 * n * step * cfg.batch_tokens})
        if not math.isfinite(loss):
            return FakeResult("diverged", f"loss is nan at step {step}", n, n, step * cfg.batch_tokens,
                              0.0, 0.0, float("nan"), None, step)
        resume.parent.mkdir(parents=True, exist_ok=True)
        resume.write_text(json.dumps({"step": step}))
        time.sleep(delay)
    final = Path(workdir) / "final"
    final.mkdir(exist_ok=True)
    D = steps * cfg.batch_tokens
    return FakeResult("done", "", n, n, D, 6.0 * n * D, 6.0 * n * D, 10.0 / (1 + steps), final, steps)
