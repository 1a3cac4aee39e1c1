"""End to end on local Ray with the REAL trainer: a 2×2 WSD ladder, checkpoints that load in
transformers, and branches with their own D and parent. (That a sweep's checkpoints generate in
vLLM is checked by tests/orchestrator/runs/test_s3.py, whose test-time run serves them, and by the
e2e demo.)"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestrator import Sweep, SweepSpec
from orchestrator.runs.store import read_metrics

pytestmark = pytest.mark.slow

LADDER = {
    "name": "ladder2x2",
    "model": {"shapes": [[32, 1], [64, 1]], "head_dim": 32, "seq_len": 32},
    "tokens": {"D": [8192, 16384]},
    "lr": {"values": [0.003]},
    "batch_tokens": [1024],
    "schedule": {"kind": "wsd", "warmup_frac": 0.05, "cooldown_frac": 0.25},
    "data": {"source": "arith", "options": {"level": 1, "pool_docs": 2000, "val_docs": 50}},
    "max_concurrent": 2,
    "train": {"eval_every": 4, "eval_tokens": 1024, "log_every": 2},
}


@pytest.fixture(scope="module")
def ladder(ray_local, tmp_path_factory):
    storage = tmp_path_factory.mktemp("sweeps")
    result = Sweep(SweepSpec.from_dict(LADDER), storage=storage).run()
    return result


def test_every_run_done_and_recorded(ladder):
    runs = ladder.runs
    assert len(runs) == 2 + 4 and set(runs.status) == {"done"}, runs[["run_id", "status", "reason"]]
    on_disk = pd.read_parquet(ladder.runs_path)
    assert set(on_disk.run_id) == set(runs.run_id) and set(on_disk.status) == {"done"}
    for col in ("N", "N_total", "D", "C", "C_6nd", "final_val_loss", "checkpoint"):
        assert on_disk[col].notna().all(), col
    m = pd.read_parquet(ladder.metrics_path)
    assert set(m.run_id) == set(runs.run_id)
    assert not m.duplicated(["run_id", "step"]).any()
    assert (Path(ladder.sweep_dir) / "spec.yaml").exists()
    assert (Path(ladder.sweep_dir) / "tokenizer" / "tokenizer.json").exists()


def test_branches_have_parent_and_own_D(ladder):
    runs = ladder.runs.set_index("run_id")
    branches = runs[runs.role == "branch"]
    trunks = runs[runs.role == "trunk"]
    assert len(branches) == 4 and len(trunks) == 2
    assert set(branches.parent_run_id) == set(trunks.index)
    for parent, grp in branches.groupby("parent_run_id"):
        assert sorted(grp.D) == [8192, 16384]
        assert (grp.N == trunks.loc[parent, "N"]).all()
    assert (trunks.schedule == "constant").all() and (branches.schedule == "wsd").all()
    # a branch's own rows start after its branch point (it resumed from the trunk's state)
    m = read_metrics(ladder.sweep_dir)
    for run_id, b in branches.iterrows():
        rows = m[m.run_id == run_id]
        assert rows.tokens.min() > 0.7 * b.D - 1024 and rows.tokens.max() == b.D


def test_checkpoints_load_in_transformers(ladder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for ckpt in ladder.runs.checkpoint:
        model = AutoModelForCausalLM.from_pretrained(ckpt)
        tok = AutoTokenizer.from_pretrained(ckpt)
        assert model.config.vocab_size >= len(tok)
        assert sum(p.numel() for p in model.parameters()) > 0


def test_live_fits_written_during_sweep(ladder):
    """laws.LiveFitter subscribed by the sweep wrote fits/ from the finished branch runs."""
    import json

    latest = Path(ladder.sweep_dir) / "fits" / "power_law_latest.json"
    assert latest.exists()
    fit = json.loads(latest.read_text())
    assert fit["live"]["n_points"] == 4  # the four branches; constant-LR trunks are not points
