"""SweepRecorder (the logic behind the Tune callback): rows → store, status → ledger, subscribers."""
from __future__ import annotations

import laws
from orchestrator.runs.ledger import Ledger
from orchestrator.runs.recorder import SweepRecorder
from orchestrator.runs.store import Store, read_metrics
from orchestrator.spec.run import RunSpec


def _cfg(**kw):
    base = dict(sweep="s", width=32, depth=1, head_dim=32, vocab_size=20, seq_len=64,
                data={"source": "arith"}, lr=3e-3, batch_tokens=2048, tokens=8192)
    base.update(kw)
    return RunSpec(**base)


def _recorder(tmp_path, subs=()):
    store = Store(tmp_path)
    return SweepRecorder(store, Ledger(store), subs)


def test_rows_stored_and_forwarded(tmp_path):
    got = []
    rec = _recorder(tmp_path, [got.append])
    cfg = _cfg()
    rec.start(cfg)
    for step in (1, 2):
        rec.step(cfg, {"step": step, "tokens": 2048 * step, "train_loss": 3.0 / step,
                       "val_loss": float("nan"), "lr": 1e-3, "flops_6nd": 1.0, "mfu": 0.0,
                       "trial_id": "ignored-string"})
    row = rec.final(cfg, {"status": "done", "reason": "", "N": 10, "N_total": 20, "D": 4096,
                          "C": 5.0, "C_6nd": 4.0, "final_val_loss": 1.5, "checkpoint": "/x", "steps": 2})
    m = read_metrics(tmp_path)
    assert m.step.tolist() == [1, 2] and set(m.run_id) == {cfg.run_id}
    assert "trial_id" not in m.columns and "flops_6nd" in m.columns
    assert [r.get("step") for r in got[:2]] == [1, 2]
    assert got[-1]["status"] == "done" and got[-1]["final_val_loss"] == 1.5
    assert row["D"] == 4096
    assert Ledger(tmp_path).row(cfg.run_id)["checkpoint"] == "/x"
    # compaction at the end of the run: one part file left for this run
    assert len(Store(tmp_path).listdir("metrics")) == 1


def test_trunk_run_row_is_not_a_grid_point(tmp_path):
    got = []
    rec = _recorder(tmp_path, [got.append])
    trunk = _cfg(schedule="constant", save_at_tokens=(4096, 8192))
    rec.final(trunk, {"status": "done", "final_val_loss": 1.0})
    assert got == []                        # constant-LR trunk: no point for the N×D fit
    assert Ledger(tmp_path).status(trunk.run_id) == "done"


def test_broken_subscriber_is_ignored(tmp_path, capsys):
    calls = []

    def bad(row):
        calls.append(row)
        raise RuntimeError("nope")

    rec = _recorder(tmp_path, [bad])
    cfg = _cfg()
    rec.step(cfg, {"step": 1, "train_loss": 1.0})
    rec.step(cfg, {"step": 2, "train_loss": 1.0})
    assert len(calls) == 1 and "nope" in capsys.readouterr().err
    assert len(read_metrics(tmp_path)) == 2


def test_error_after_final_does_not_override(tmp_path):
    rec = _recorder(tmp_path)
    cfg = _cfg()
    rec.final(cfg, {"status": "diverged", "reason": "loss is nan"})
    rec.fail(cfg, "actor died")
    row = Ledger(tmp_path).row(cfg.run_id)
    assert (row["status"], row["reason"]) == ("diverged", "loss is nan")


def test_trial_without_final_result(tmp_path):
    rec = _recorder(tmp_path)
    a, b = _cfg(seed=1), _cfg(seed=2)
    rec.complete(a, {"tokens": 4096, "val_loss": 2.0})     # stopped by ASHA after an eval
    rec.complete(b, None)
    led = Ledger(tmp_path)
    assert led.row(a.run_id)["status"] == "done" and "asha" in led.row(a.run_id)["reason"]
    assert led.row(b.run_id)["status"] == "failed"


def test_live_fitter_writes_fits(tmp_path):
    """The real laws.LiveFitter as a subscriber: done run rows → fits/ written as they arrive."""
    fitter = laws.LiveFitter(form="power_law", out_dir=str(tmp_path / "fits"))
    rec = _recorder(tmp_path, [fitter])
    for i, n in enumerate([1e4, 2e4, 4e4, 8e4, 1.6e5]):
        cfg = _cfg(seed=i)
        rec.final(cfg, {"status": "done", "N": n, "D": 20 * n, "C": 6 * n * 20 * n,
                        "final_val_loss": 2.0 + 30.0 * (6 * 20 * n * n) ** -0.3})
    assert list((tmp_path / "fits").glob("power_law_*.json"))
    assert fitter.latest is not None


def test_queued_recorder_publishes_rows_before_the_done_event(tmp_path):
    from orchestrator.runs.queue import AppendQueue
    from orchestrator.runs.store import read_parts

    store = Store(tmp_path)
    q = AppendQueue(store, last=("runs",))
    rec = SweepRecorder(store, Ledger(store, queue=q), compact_every=3)
    cfgs = [_cfg(seed=s) for s in range(6)]
    for cfg in cfgs:
        rec.start(cfg)
        for step in (1, 2, 3):
            rec.step(cfg, {"step": step, "tokens": 2048 * step, "train_loss": 3.0 / step,
                           **({"val_loss": 2.0} if step == 3 else {})})
        rec.final(cfg, {"status": "done", "final_val_loss": 2.0, "steps": 3})
        assert rec.ledger.status(cfg.run_id) == "done"
    rec.close()
    q.close()
    m = read_metrics(tmp_path)
    assert len(m) == 18 and not m.duplicated(["run_id", "step"]).any()
    assert m.groupby("run_id").val_loss.count().tolist() == [1] * 6
    # every run's done event has a later sequence than each of its step rows
    ev = read_parts(store, "runs")
    rows = read_parts(store, "metrics")
    for cfg in cfgs:
        done_seq = ev[(ev.run_id == cfg.run_id) & (ev.status == "done")]._seq.min()
        assert rows[rows.run_id == cfg.run_id]._seq.max() < done_seq
    assert Ledger(tmp_path).status(cfgs[-1].run_id) == "done"
    assert len(Store(tmp_path).listdir("metrics")) == 1       # merged at close


def test_dependency_searcher_starts_a_branch_once_its_branch_point_is_saved(tmp_path):
    from orchestrator.runs.recorder import make_dependency_searcher

    rec = _recorder(tmp_path / "s")
    trunk = _cfg(schedule="constant", save_at_tokens=(4096, 8192))
    early = _cfg(schedule="wsd", parent_run_id=trunk.run_id, branch_from_tokens=4096, tokens=6144)
    late = _cfg(schedule="wsd", parent_run_id=trunk.run_id, branch_from_tokens=8192, tokens=10240)
    ckpts = tmp_path / "ckpt"
    search = make_dependency_searcher(rec, [trunk, late, early], {"checkpoints": str(ckpts)})
    assert search.suggest("t1")["run"]["seed"] == trunk.seed
    assert search.suggest("t2") is None                 # trunk running, no branch point yet
    point = ckpts / trunk.run_id / "at_tokens" / "4096" / "state.pt"
    point.parent.mkdir(parents=True)
    point.write_bytes(b"state")
    got = search.suggest("t3")                            # the early one only: 8192 not saved
    assert got["run"]["branch_from_tokens"] == 4096
    assert search.suggest("t4") is None
    rec.final(trunk, {"status": "done", "final_val_loss": 1.0})
    assert search.suggest("t5")["run"]["branch_from_tokens"] == 8192


def test_dependency_searcher_fails_branches_of_a_trunk_that_did_not_finish(tmp_path):
    from orchestrator.runs.recorder import make_dependency_searcher

    rec = _recorder(tmp_path / "s")
    trunk = _cfg(schedule="constant", save_at_tokens=(4096,))
    branch = _cfg(schedule="wsd", parent_run_id=trunk.run_id, branch_from_tokens=4096, tokens=6144)
    search = make_dependency_searcher(rec, [trunk, branch], {"checkpoints": str(tmp_path / "c")})
    search.suggest("t1")
    rec.final(trunk, {"status": "diverged", "reason": "nan"})
    from ray.tune.search import Searcher

    assert search.suggest("t2") == Searcher.FINISHED
    assert rec.ledger.status(branch.run_id) == "failed"
