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

Where the overhead goes (``phases_s``, measured around the real functions, same run): ``plan``
(spec expansion, data and tokenizer checks), ``ray_init``, ``tune`` (``Tuner.fit``: the
trials), ``after`` (Ray shutdown, metrics view); inside ``tune``: ``first_trial_start`` (from
the sweep's start to the first ``running`` event), ``per_trial_setup_s`` (trial time minus the
trainer's own: worker start, imports, data and model setup, final save, reporting) and
``idle_slot_s`` (slot-seconds no trial held during ``tune``: dependency waits, scheduling).

Writes ``bench/results/sweep_overhead.json`` (``sweep_overhead_<spec stem>.json`` for another
spec, e.g. ``bench/specs/quickstart_x4.yaml``: the same trials with 4x the tokens).

    python bench/sweep_overhead.py [SPEC]
"""
from __future__ import annotations

import json
import os
import platform
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
    load0 = [round(x, 2) for x in os.getloadavg()]
    import orchestrator.runs.sweep as sweep_mod
    from orchestrator import Sweep, SweepSpec
    from orchestrator.runs.store import Store, read_metrics, read_parts

    phases: dict[str, float] = {}

    def timed(owner, name, key):
        orig = getattr(owner, name)

        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return orig(*a, **kw)
            finally:
                phases[key] = phases.get(key, 0.0) + time.perf_counter() - t
        setattr(owner, name, wrapper)

    timed(sweep_mod.Sweep, "plan", "plan")
    timed(sweep_mod, "ensure_ray", "ray_init")
    timed(sweep_mod.Sweep, "_fit", "tune")
    spec = SweepSpec.from_yaml(spec_path)
    storage = tempfile.mkdtemp(prefix="sweep-overhead-")
    t0 = time.perf_counter()
    t0_wall = time.time()
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
    phases["after"] = wall - sum(phases.get(k, 0.0) for k in ("plan", "ray_init", "tune"))
    setup = (trial_s - trainer_s.reindex(trial_s.index).fillna(0.0))
    inside = {
        "first_trial_start": round(float(started.min() - t0_wall), 2),
        "last_trial_end": round(float(ended.max() - t0_wall), 2),
        "per_trial_setup_s": round(float(setup.mean()), 2),
        "per_trial_setup_max_s": round(float(setup.max()), 2),
        "idle_slot_s": round(phases.get("tune", 0.0) * conc - float(trial_s.sum()), 2),
    }
    # which worker process ran each trial (starts.log): a new process pays Python + torch +
    # transformers imports before the trainer starts; a reused one does not
    pids = {}
    for run_id in trial_s.index:
        log = Path(result.checkpoints) / run_id / "starts.log"
        if log.exists():
            pids[run_id] = log.read_text().split("pid=")[1].split()[0]
    order = sorted(pids, key=lambda r: started.get(r, 0.0))
    seen, first, reused = set(), [], []
    for r in order:
        (reused if pids[r] in seen else first).append(float(setup.get(r, float("nan"))))
        seen.add(pids[r])
    inside.update(worker_processes=len(seen), trials_on_new_process=len(first),
                  setup_new_process_s=round(sum(first) / max(1, len(first)), 2),
                  setup_reused_process_s=round(sum(reused) / max(1, len(reused)), 2))
    out = {
        "spec": str(spec_path), "runs": int(len(result.runs)), "sweep_dir": result.sweep_dir,
        "spec_source": spec_source(spec_path),
        "status": result.runs.status.value_counts().to_dict(),
        "concurrency": conc, "sweep_wall_s": round(wall, 2),
        "sum_trainer_s": round(float(trainer_s.sum()), 2),
        "sum_trial_s": round(float(trial_s.sum()), 2),
        "ratio_vs_trainer": round(wall / (trainer_s.sum() / conc), 3),
        "ratio_vs_trial": round(wall / (trial_s.sum() / conc), 3),
        "critical_path_s": round(crit, 2),
        "ratio_vs_bound": round(wall / max(trainer_s.sum() / conc, crit), 3),
        "phases_s": {k: round(v, 2) for k, v in phases.items()}, "inside_tune": inside,
        "goal": "<= 1.15 (quickstart), <= 1.10 (its 4x variant)",
        "code": os.popen(f"git -C {REPO} rev-parse --short HEAD").read().strip(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "load_avg_at_start": load0,
        "machine": f"{platform.machine()} {cpus} cores, python {platform.python_version()}",
    }
    return out


def spec_source(spec_path: str) -> str:
    """Where the spec comes from: its leading comment lines (the frozen copies say what they
    copy and when), else its path."""
    lines = []
    for line in Path(spec_path).read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").rstrip())
    return " ".join(lines) or str(spec_path)


if __name__ == "__main__":
    import argparse

    default = str(REPO / "bench" / "specs" / "quickstart.yaml")
    ap = argparse.ArgumentParser()
    ap.add_argument("spec", nargs="?", default=default,
                    help="ladder spec (default: bench/specs/quickstart.yaml, a copy of the "
                         "committed examples/quickstart.yaml of 2026-12-02)")
    ap.add_argument("--out", default=None, help="JSON path (default: bench/results/...)")
    args = ap.parse_args()
    res = main(args.spec)
    print(f"sweep wall {res['sweep_wall_s']} s, {res['runs']} runs, concurrency {res['concurrency']}")
    print(f"ratio vs trainer time: {res['ratio_vs_trainer']}  (goal <= 1.15 / 1.10 for 4x)")
    print(f"ratio vs trial time:   {res['ratio_vs_trial']}")
    print(f"ratio vs max(sum/concurrency, WSD critical path {res['critical_path_s']} s): "
          f"{res['ratio_vs_bound']}")
    print(f"phases {res['phases_s']}; inside tune {res['inside_tune']}")
    suffix = "" if args.spec == default else "_" + Path(args.spec).stem
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"sweep_overhead{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {out}")
