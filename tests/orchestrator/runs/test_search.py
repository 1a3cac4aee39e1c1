"""Optuna search over the LR sub-space with the ASHA scheduler (fixed N and D), real trainer."""
from __future__ import annotations

import pytest

from orchestrator import Sweep, SweepSpec

pytestmark = pytest.mark.slow

SPEC = {
    "name": "hp",
    "model": {"shapes": [[32, 1]], "head_dim": 32, "seq_len": 32},
    "tokens": {"D": [8192]},
    "lr": {"min": 0.001, "max": 0.03},
    "batch_tokens": [1024],
    "schedule": {"kind": "cosine"},
    "search": {"kind": "optuna", "n_trials": 3},
    "scheduler": {"kind": "asha", "grace_frac": 0.5},
    "data": {"source": "arith", "options": {"level": 1, "pool_docs": 2000, "val_docs": 50}},
    "max_concurrent": 2,
    "train": {"eval_every": 2, "eval_tokens": 1024, "log_every": 1},
}


def test_optuna_asha_then_resubmit_adds_nothing(ray_local, tmp_path):
    spec = SweepSpec.from_dict(SPEC)
    first = Sweep(spec, storage=tmp_path, live_fit=False).run()
    runs = first.runs
    assert len(runs) == 3 and set(runs.status) == {"done"}, runs[["status", "reason"]]
    assert runs.lr.between(0.001, 0.03).all() and runs.lr.nunique() == 3
    again = Sweep(spec, storage=tmp_path, live_fit=False).run()
    assert set(again.runs.run_id) == set(runs.run_id)        # budget already spent
