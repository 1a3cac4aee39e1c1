"""The bookkeeping of a big sweep: a REAL ``Sweep.run`` (Ray Tune, the recorder, the ledger, the
store) of N runs (default 2,000) whose trainer is a stand-in that reports two step rows and
returns at once, so what is left is scalelab's and Tune's own overhead. Prints and writes
(``bench/results/ledger_scale.json``):

- the sweep's wall time and the ledger's share of it (time the driver spends inside
  ``Ledger.record_many`` and ``Ledger.flush``, measured around the real methods; goal <= 5 %),
  the recorder's metric appends beside it, all the recorder's Tune-callback time
  (``recorder_s``) and, where the store's ``AppendQueue`` exists (it writes in a background
  thread), that thread's busy wall and CPU time and the parts it published (``writer_bg_s``,
  ``writer_bg_cpu_s``, ``writer_parts``; off the driver's critical path but sharing the box's
  CPUs and the GIL);
- ``scalelab sweep status DIR`` (in-process, rich table of all runs; goal <= 2 s) and
  ``sweep runs`` wall times on the finished sweep, and ``scalelab report`` (bootstrap 0).

    flock /tmp/scalelab-heavy.lock .venv/bin/python bench/ledger_scale.py [--runs 2000]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def fake_trainer(cfg, workdir, report, tokenizer_dir=None, parent_workdir=None):
    """Two step rows and a finished run, no training (the trial function around it is real)."""
    from orchestrator.train.loop import TrainResult

    n = 12 * cfg.width ** 2 * cfg.depth
    loss = 2.0 + 0.01 * (cfg.seed % 97) / 97
    for step in (1, 2):
        report({"step": step, "tokens": step * cfg.batch_tokens, "lr": cfg.lr, "train_loss": loss,
                "val_loss": loss, "tokens_per_s": 1e6, "wall_s": 0.001 * step})
    return TrainResult("done", "", n, n, cfg.tokens, 6.0 * n * cfg.tokens, 6.0 * n * cfg.tokens,
                      loss, None, 2)


class Timer:
    """Adds the wall time spent inside wrapped methods (outermost call only: a flush made by
    record_many is not counted twice)."""

    def __init__(self):
        self.s = 0.0
        self.calls = 0
        self.depth = 0

    def wrap(self, owner, name):
        orig = getattr(owner, name)
        timer = self

        def timed(*a, **kw):
            t0 = time.perf_counter()
            timer.depth += 1
            try:
                return orig(*a, **kw)
            finally:
                timer.depth -= 1
                if timer.depth == 0:
                    timer.s += time.perf_counter() - t0
                    timer.calls += 1

        setattr(owner, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--concurrent", type=int, default=4)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "ledger_scale.json"))
    ap.add_argument("--profile", default=None, help="write the driver's cProfile top 40 here")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from orchestrator.cli import main as cli
    from orchestrator.runs import recorder as rec_mod
    from orchestrator.runs import store as store_mod
    from orchestrator.runs.ledger import Ledger
    from orchestrator.runs.sweep import Sweep
    from orchestrator.spec.sweep import SweepSpec

    ledger_t, metrics_t, rec_t = Timer(), Timer(), Timer()
    ledger_t.wrap(Ledger, "record_many")
    ledger_t.wrap(Ledger, "flush")
    metrics_t.wrap(rec_mod, "append_rows")            # the recorder's own metric parts (sync)
    if hasattr(store_mod, "AppendQueue"):
        metrics_t.wrap(store_mod.AppendQueue, "put")  # ... or its queued appends
    for name in ("start", "step", "final", "fail", "complete", "close"):
        if hasattr(rec_mod.SweepRecorder, name):
            rec_t.wrap(rec_mod.SweepRecorder, name)
    queues = []
    if hasattr(store_mod, "AppendQueue"):
        init = store_mod.AppendQueue.__init__

        def tracked(self, *a, **kw):
            init(self, *a, **kw)
            queues.append(self)

        store_mod.AppendQueue.__init__ = tracked
    tmp = Path(tempfile.mkdtemp(prefix="ledger-scale-"))
    spec = SweepSpec.from_dict({
        "name": "scale", "storage": str(tmp), "model": {"shapes": [[32, 1]], "head_dim": 32, "seq_len": 32},
        "tokens": {"D": [2048]}, "lr": {"values": [0.003]}, "batch_tokens": [1024],
        "seeds": list(range(args.runs)), "max_concurrent": args.concurrent,
        "resources": {"cpus": 0.25},
        "data": {"source": "arith", "options": {"level": 1, "pool_docs": 100, "val_docs": 20}},
    })
    ray.init(num_cpus=args.concurrent, include_dashboard=False, log_to_driver=False)
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    result = Sweep(spec, trainer=f"{Path(__file__).resolve()}:fake_trainer", live_fit=False,
                   progress=False).run()
    wall = time.perf_counter() - t0
    if prof is not None:
        import pstats

        prof.disable()
        with open(args.profile, "w") as fh:
            pstats.Stats(prof, stream=fh).sort_stats("cumulative").print_stats(60)
    ray.shutdown()
    done = int((result.runs.status == "done").sum())
    timings = {}
    for name, argv in (("sweep_status_s", ["sweep", "status", result.sweep_dir]),
                       ("sweep_runs_s", ["sweep", "runs", result.sweep_dir]),
                       ("report_s", ["report", result.sweep_dir, "--bootstrap", "0"])):
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            rc = cli(argv)
        timings[name] = round(time.perf_counter() - t, 3)
        assert rc == 0, name
    import subprocess  # what a user waits for: a fresh process, imports included
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", "status", result.sweep_dir],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    timings["sweep_status_process_s"] = round(time.perf_counter() - t, 3)
    parts = len(list((Path(result.sweep_dir) / "runs").glob("*.parquet")))
    out = {
        "runs": args.runs, "done": done, "max_concurrent": args.concurrent,
        "sweep_wall_s": round(wall, 2), "per_run_ms": round(1000 * wall / args.runs, 1),
        "ledger_s": round(ledger_t.s, 2), "ledger_calls": ledger_t.calls,
        "ledger_share": round(ledger_t.s / wall, 4), "ledger_share_goal": 0.05,
        "metric_appends_s": round(metrics_t.s, 2), "metric_appends": metrics_t.calls,
        "metric_share": round(metrics_t.s / wall, 4),
        "recorder_s": round(rec_t.s, 2), "recorder_share": round(rec_t.s / wall, 4),
        "writer_bg_s": round(sum(q.busy_s for q in queues), 2) if queues else None,
        "writer_bg_cpu_s": round(sum(q.cpu_s for q in queues), 2) if queues else None,
        "writer_parts": sum(q.parts for q in queues) if queues else None,
        "event_parts_left": parts,
        "metric_parts_left": len(list((Path(result.sweep_dir) / "metrics").glob("*.parquet"))),
        **timings,
        "status_goal_s": 2.0, "sweep_dir": result.sweep_dir, "load_avg": os.getloadavg(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "ray": ray.__version__,
    }
    print(json.dumps(out, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
