"""No code from storage: a resume state that asks to run code is refused with one line, and the
code does not run (the payload is shown to be live first: plain unpickling runs it)."""
from __future__ import annotations

import os

import pytest
import torch

from orchestrator.spec.run import RunSpec
from orchestrator.train.ddp import run_trial
from orchestrator.train.loop import TrainError, load_state, train_run

CFG = RunSpec(sweep="safe", width=32, depth=1, head_dim=32, vocab_size=22, seq_len=32,
              data={"source": "arith", "level": 1, "pool_docs": 100, "val_docs": 20}, lr=3e-3,
              batch_tokens=1024, tokens=4096, eval_every=2, eval_tokens=1024, log_every=1)


class Payload:
    """Unpickling this calls ``os.system`` (what an attacker with write access would plant)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def plant(path, marker) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": Payload(marker), "optim": {}, "step": 3, "batch_tokens": 1024,
                "initial_loss": 1.0, "rng": torch.get_rng_state()}, path)


def test_the_planted_pickle_is_live(tmp_path):
    plant(tmp_path / "state.pt", tmp_path / "ran")
    with open(tmp_path / "state.pt", "rb"):
        torch.load(tmp_path / "state.pt", weights_only=False)        # what the old code did
    assert (tmp_path / "ran").exists()


def test_resume_refuses_a_state_that_runs_code(tmp_path):
    state, marker = tmp_path / "w" / "resume" / "state.pt", tmp_path / "pwned"
    plant(state, marker)
    with pytest.raises(TrainError) as ei:
        train_run(CFG, tmp_path / "w")
    msg = str(ei.value)
    assert "refused to load" in msg and "asks to call posix.system" in msg
    assert "\n" not in msg and str(state) in msg
    assert not marker.exists()
    res = run_trial(CFG, tmp_path / "w")                 # the trial entry point: a failed run
    assert res.status == "failed" and "refused to load" in res.reason and not marker.exists()


def test_branch_state_is_loaded_the_same_way(tmp_path):
    trunk, marker = tmp_path / "trunk", tmp_path / "pwned"
    plant(trunk / "at_tokens" / "2048" / "state.pt", marker)
    branch = CFG.replace(parent_run_id="t", branch_from_tokens=2048, schedule="wsd")
    with pytest.raises(TrainError, match="refused to load"):
        train_run(branch, tmp_path / "b", parent_workdir=trunk)
    assert not marker.exists()


def test_real_states_load_and_junk_is_one_line(tmp_path):
    res = train_run(CFG, tmp_path / "ok")
    assert res.status == "done"
    st = load_state(tmp_path / "ok" / "resume" / "state.pt")
    assert st["step"] == 3 and isinstance(st["optim"]["param_groups"][0]["lr"], float)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match="cannot load the training state"):
        load_state(tmp_path / "junk.pt")
    torch.save({"just": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(TrainError, match="not a scalelab training state"):
        load_state(tmp_path / "other.pt")
