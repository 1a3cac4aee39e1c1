"""Real trainer on local Ray: a huge LR diverges (marked, rows kept, sweep completes); adding a
grid value and re-submitting trains only the new run."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from orchestrator import Sweep, SweepSpec
from orchestrator.runs.store import read_metrics

pytestmark = pytest.mark.slow

SPEC = {
    "name": "div",
    "model": {"shapes": [[32, 1]], "head_dim": 32, "seq_len": 32},
    "tokens": {"D": [16384]},
    "lr": {"values": [0.003]},
    "batch_tokens": [1024],
    "schedule": {"kind": "cosine", "warmup_frac": 0.0},
    "data": {"source": "arith", "options": {"level": 1, "pool_docs": 2000, "val_docs": 50}},
    "max_concurrent": 2,
    "train": {"eval_every": 4, "eval_tokens": 1024, "log_every": 1},
}


def _starts(result, run_id) -> int:
    log = Path(result.checkpoints) / run_id / "starts.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_divergence_and_adding_a_grid_value(ray_local, tmp_path):
    first = Sweep(SweepSpec.from_dict(SPEC), storage=tmp_path).run()
    assert first.runs.status.tolist() == ["done"]
    good = first.runs.run_id.iloc[0]
    assert _starts(first, good) == 1

    spec2 = copy.deepcopy(SPEC)
    spec2["lr"]["values"] = [0.003, 50.0]
    second = Sweep(SweepSpec.from_dict(spec2), storage=tmp_path).run()
    runs = second.runs.set_index("run_id")
    assert len(runs) == 2
    assert _starts(second, good) == 1                      # the done run did not train again
    bad = [r for r in runs.index if r != good][0]
    assert runs.loc[good, "status"] == "done"
    assert runs.loc[bad, "status"] == "diverged", runs.loc[bad].to_dict()
    assert "loss" in runs.loc[bad, "reason"]
    m = read_metrics(second.sweep_dir)
    assert (m.run_id == bad).sum() >= 1                    # the diverged run keeps its rows
    assert not m.duplicated(["run_id", "step"]).any()


FAKE = str(Path(__file__).parents[1] / "runs" / "fake_trainer.py") + ":run_trial"


def test_trial_exception_fails_run_and_its_branches_only(ray_local, tmp_path):
    """Bookkeeping with the stand-in trainer (seed 13 raises): the sweep goes on, the failing
    trunk is ``failed`` with the exception as reason, and only ITS branches are skipped."""
    spec = SweepSpec.from_dict({**SPEC, "name": "boom", "seeds": [0, 13], "tokens": {"D": [8192, 16384]},
                                "schedule": {"kind": "wsd", "cooldown_frac": 0.25}})
    runs = Sweep(spec, storage=tmp_path, trainer=FAKE, live_fit=False).run().runs
    trunks = runs[runs.role == "trunk"].set_index("seed")
    assert trunks.loc[0, "status"] == "done"
    assert trunks.loc[13, "status"] == "failed" and "exploded on purpose" in trunks.loc[13, "reason"]
    branches = runs[runs.role == "branch"]
    ok = branches[branches.parent_run_id == trunks.loc[0, "run_id"]]
    bad = branches[branches.parent_run_id == trunks.loc[13, "run_id"]]
    assert list(ok.status) == ["done", "done"]
    assert list(bad.status) == ["failed", "failed"] and bad.reason.str.contains("is failed").all()
