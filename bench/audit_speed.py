"""Benchmark: a full ``laws.audit`` on a 245-point table (goal: <= 30 s on 2 cores).

Full means the defaults: every registered L(N, D) form (chinchilla, kaplan, overtrain,
farseer), 200 bootstrap replicates per fit, the hold-out backtest of the largest size group,
leave-one-size-out over 8 size groups, the Huber-delta refits, approaches 1 and 2, and the
simulated next-run proposals.  The table is the 245-point Chinchilla-like design of
``bench/fit_speed.py`` (1 % log-normal noise) with exact FLOPs 6·N·D·(1 + 0.3·(N/1e8)^-0.3).
The audit runs twice back to back: on 1 process (the baseline) and on 2 (the default on a
2-core machine); the ratio and the load average are recorded.

Writes ``bench/results/audit_speed.json``.  Run it under the shared lock:
``flock /tmp/scalelab-heavy.lock .venv/bin/python bench/audit_speed.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fit_speed import chinchilla_245  # noqa: E402

import laws  # noqa: E402


def table() -> pd.DataFrame:
    """The 245-point table with exact FLOPs above 6·N·D."""
    df = pd.DataFrame(chinchilla_245())
    df["C"] = 6 * df["N"] * df["D"] * (1 + 0.3 * (df["N"] / 1e8) ** -0.3)
    return df


def main() -> None:
    """Run the benchmark and write the JSON result."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "audit_speed.json"))
    args = ap.parse_args()
    df = table()
    target = 10 * float(df["C"].max())
    laws.fit("power_law", {"x": np.arange(1.0, 9.0), "y": 1 + 1 / np.arange(1.0, 9.0)})  # warm imports
    load0 = os.getloadavg()
    runs = {}
    for workers in (1, 2):
        t = time.perf_counter()
        a = laws.audit(df, bootstrap=args.boot, seed=0, target_C=target, workers=workers)
        runs[workers] = (time.perf_counter() - t, a)
        print(f"{workers} process(es): {runs[workers][0]:.1f} s — verdict {a.verdict}, chosen {a.chosen}")
    a = runs[2][1]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out = {
        "benchmark": "audit_speed", "n_points": len(df), "forms": list(a.fits), "n_boot": args.boot,
        "cores": cores, "load_avg_at_start": list(load0), "load_avg_at_end": list(os.getloadavg()),
        "seconds_1_process": runs[1][0], "seconds_2_processes": runs[2][0],
        "speedup_2_vs_1": runs[1][0] / runs[2][0], "goal_s": 30.0, "goal_met": runs[2][0] <= 30.0,
        "same_result_1_vs_2": runs[1][1].to_dict()["verdict"] == a.verdict and
                              runs[1][1].answer["N"] == a.answer["N"],
        "fits": {"full": len(a.fits), "backtest_rows": len(a.backtest),
                 "backtest_folds": int(a.backtest["fold"].nunique())},
        "verdict": a.verdict, "chosen": a.chosen, "reasons": a.reasons, "answer": a.answer,
        "next_runs": a.next_runs.to_dict(orient="records"),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from laws.atomic import atomic_write

    atomic_write(args.out, json.dumps(out, indent=1, default=float))
    print(f"speed-up {out['speedup_2_vs_1']:.2f}x; goal <= 30 s: {'met' if out['goal_met'] else 'NOT met'}; "
          f"wrote {args.out}")


if __name__ == "__main__":
    main()
