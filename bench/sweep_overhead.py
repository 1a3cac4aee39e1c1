"""Sweep overhead: ladder wall time ÷ (sum of trial times / concurrency). Goal ≤ 1.10.

Runs a ladder spec (default ``examples/quickstart.yaml``) from scratch in a temporary storage
directory on a fresh local Ray and compares the sweep's wall time with the ideal packing of
its trials. Two definitions of "trial time" are reported, both measured in the same run:

* ``trainer`` — the trainer's own wall time (last ``wall_s`` of each run's step rows): the
  strict ratio; everything else (Ray start, worker start + imports, phase barrier, bookkeeping)
  counts as overhead.
* ``trial`` — from the ledger's ``running`` event to its final event (as Tune sees a trial).

A WSD ladder also has a dependency bound: a branch can only start once its trunk is done, so
no schedule beats the longest trunk + its longest branch (``critical_path_s``, trainer time).
``ratio_vs_bound`` divides by ``max(sum/concurrency, critical path)``.

Writes ``bench/results/sweep_overhead.json`` (``sweep_overhead_<spec stem>.json`` for another
spec, e.g. ``bench/specs/quickstart_x4.yaml``: the same trials with 4x the tokens).

    python bench/sweep_overhead.py [SPEC]
"""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="slbench-", dir="/tmp"))

REPO = Path(__file__).resolve().parents[1]


def main(spec_path: str) -> dict:
    """Run the ladder and return the measured numbers."""
    from orchestrator import Sweep, SweepSpec
    from orchestrator.runs.store import Store, read_metrics, read_parts

    spec = SweepSpec.from_yaml(spec_path)
    storage = tempfile.mkdtemp(prefix="sweep-overhead-")
    t0 = time.perf_counter()
    result = Sweep(spec, storage=storage, progress=False, live_fit=False).run()
    wall = time.perf_counter() - t0
    m = read_metrics(result.sweep_dir)
    trainer_s = m.groupby("run_id").wall_s.max()
    ev = read_parts(Store(result.sweep_dir), "runs")
    started = ev[ev.status == "running"].groupby("run_id").updated_at.min()
    ended = ev[ev.status.isin(["done", "diverged", "failed"])].groupby("run_id").updated_at.max()
    trial_s = (ended - started).dropna()
    runs = result.runs.set_index("run_id")
    crit = 0.0
    for run_id, row in runs.iterrows():
        if row.get("role") == "branch":
            continue
        kids = runs.index[runs.parent_run_id == run_id]
        crit = max(crit, float(trainer_s.get(run_id, 0.0)) +
                   max([float(trainer_s.get(k, 0.0)) for k in kids] or [0.0]))
    cpus = os.cpu_count() or 1
    conc = max(1, min(spec.max_concurrent, int(cpus // max(spec.resources.cpus, 1e-9))))
    out = {
        "spec": str(spec_path), "runs": int(len(result.runs)),
        "status": result.runs.status.value_counts().to_dict(),
        "concurrency": conc, "sweep_wall_s": round(wall, 2),
        "sum_trainer_s": round(float(trainer_s.sum()), 2),
        "sum_trial_s": round(float(trial_s.sum()), 2),
        "ratio_vs_trainer": round(wall / (trainer_s.sum() / conc), 3),
        "ratio_vs_trial": round(wall / (trial_s.sum() / conc), 3),
        "critical_path_s": round(crit, 2),
        "ratio_vs_bound": round(wall / max(trainer_s.sum() / conc, crit), 3),
        "goal": "<= 1.10",
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "machine": f"{platform.machine()} {cpus} cores, python {platform.python_version()}",
    }
    return out


if __name__ == "__main__":
    default = str(REPO / "examples" / "quickstart.yaml")
    spec_arg = sys.argv[1] if len(sys.argv) > 1 else default
    res = main(spec_arg)
    print(f"sweep wall {res['sweep_wall_s']} s, {res['runs']} runs, concurrency {res['concurrency']}")
    print(f"ratio vs trainer time: {res['ratio_vs_trainer']}  (goal <= 1.10)")
    print(f"ratio vs trial time:   {res['ratio_vs_trial']}")
    print(f"ratio vs max(sum/concurrency, WSD critical path {res['critical_path_s']} s): "
          f"{res['ratio_vs_bound']}")
    suffix = "" if spec_arg == default else "_" + Path(spec_arg).stem
    out = REPO / "bench" / "results" / f"sweep_overhead{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {out}")
