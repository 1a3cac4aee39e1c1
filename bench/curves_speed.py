"""Benchmark: test-time curves (pass@k, maj@n, bon@n, wbon@n) at the scale users run.

Synthetic candidates (no model): per-problem accuracy ~ Beta(0.6, 0.6); wrong answers from a
Zipf(1.3) over 200 problem-specific values; 5 % of samples have no answer; reward scores are
rounded to 0.01 (correct ~ N(0.62, 0.18), wrong ~ N(0.45, 0.18)), so scores tie.

Measured, in one process, back to back:

1. 500 problems × 1024 samples: pass@k for every k = 1 … 1024 (goal ≤ 0.5 s) and the whole
   curves table (pass, maj, bon, wbon with 200 resamples, 1000 bootstrap replicates,
   n = 1, 2, 4 … 1024; goal ≤ 5 s), each split into its parts;
2. 128 × 10,000 (Large Language Monkeys' size): the same two, reported (no goal);
3. the previous implementation (``evaluators/curves.py`` at commit ``BASELINE``, read from
   git) on what it finishes: all-k pass@k on 500 × 1024, and the curves table on 100 × 256
   (it did not finish 500 × 1024 in 300 s when the issue was filed), with the new code on the
   same data for the ratio.

Writes ``bench/results/curves_speed.json``. Usage: ``python bench/curves_speed.py``.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from evaluators import curves  # noqa: E402
from evaluators.subsets import best_of_n_exact, encode, majority_exact  # noqa: E402

BASELINE = "890a44a"          # the last commit with the resampling implementation
RESULTS = ROOT / "bench" / "results" / "curves_speed.json"


def synthetic(P: int, N: int, seed: int = 0) -> list[dict]:
    """``P`` problems × ``N`` candidates as ``curves`` takes them (see the module doc)."""
    rng = np.random.default_rng(seed)
    acc = rng.beta(0.6, 0.6, size=P)
    zipf = 1.0 / np.arange(1, 201) ** 1.3
    zipf /= zipf.sum()
    out = []
    for i in range(P):
        right = rng.random(N) < acc[i]
        none = ~right & (rng.random(N) < 0.05)
        wrong = rng.choice(200, size=N, p=zipf)
        answers = np.where(right, "r", np.char.add("w", wrong.astype(str))).astype(object)
        answers[none] = None
        sc = np.where(right, rng.normal(0.62, 0.18, N), rng.normal(0.45, 0.18, N))
        out.append({"answers": answers.tolist(), "correct": right.tolist(),
                    "scores": np.round(np.clip(sc, 0, 1), 2).tolist()})
    return out


def baseline_module():
    """The previous ``evaluators.curves`` (from git), or None when git cannot show it."""
    try:
        src = subprocess.run(["git", "show", f"{BASELINE}:evaluators/curves.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    mod = types.ModuleType("curves_baseline")
    exec(compile(src, "curves_baseline.py", "exec"), mod.__dict__)
    return mod


def timed(fn):
    """(result, seconds) of ``fn()``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def counts(problems):
    """Samples and correct samples per problem."""
    return ([len(p["correct"]) for p in problems], [sum(p["correct"]) for p in problems])


def measure_new(problems) -> dict:
    """Times of the new code on ``problems``: all-k pass@k, the table and its parts."""
    N = min(len(p["correct"]) for p in problems)
    n, c = counts(problems)
    _, t_pass = timed(lambda: curves.pass_at_k_matrix(n, c, np.arange(1, N + 1)))
    rows, t_table = timed(lambda: curves.curves_table(problems, resamples=200, seed=0))
    ns = [r["n"] for r in rows]
    enc, t_enc = timed(lambda: encode(problems))
    _, t_maj = timed(lambda: majority_exact(enc, ns))
    _, t_bon = timed(lambda: best_of_n_exact(enc, ns))
    _, t_wbon = timed(lambda: curves._weighted_resampled(enc, ns, 200, np.random.default_rng(0)))
    return {"problems": len(problems), "samples": N, "pass_all_k_s": t_pass,
            "table_s": t_table, "parts_s": {"encode": t_enc, "maj_exact": t_maj,
                                            "bon_exact": t_bon, "wbon_200_resamples": t_wbon},
            "table": rows}


def main() -> None:
    """Run the benchmark and write the JSON result."""
    load0 = os.getloadavg()
    out: dict = {"bench": "curves_speed", "baseline_commit": BASELINE}
    big = synthetic(500, 1024)
    out["500x1024"] = measure_new(big)
    print(f"500x1024 new: pass@k all k {out['500x1024']['pass_all_k_s']:.3f} s (goal 0.5), "
          f"table {out['500x1024']['table_s']:.2f} s (goal 5); parts "
          + ", ".join(f"{k} {v:.2f}" for k, v in out["500x1024"]["parts_s"].items()), flush=True)
    old = baseline_module()
    if old is None:
        out["baseline"] = "not run: git could not show the baseline commit"
    else:
        n, c = counts(big)
        _, t_old_pass = timed(lambda: old.pass_at_k_curve(n, c, range(1, 1025)))
        small = synthetic(100, 256, seed=1)
        _, t_old_table = timed(lambda: old.curves_table(small, resamples=200, seed=0))
        _, t_new_table = timed(lambda: curves.curves_table(small, resamples=200, seed=0))
        out["baseline"] = {
            "pass_all_k_500x1024_s": t_old_pass,
            "pass_all_k_speedup": t_old_pass / out["500x1024"]["pass_all_k_s"],
            "table_100x256_old_s": t_old_table, "table_100x256_new_s": t_new_table,
            "table_100x256_speedup": t_old_table / t_new_table,
            "note": "the old table is timed on 100 x 256 (it did not finish 500 x 1024 in "
                    "300 s); the new code is timed on the same 100 x 256 for the ratio"}
        b = out["baseline"]
        print(f"old: pass@k all k on 500x1024 {t_old_pass:.2f} s "
              f"({b['pass_all_k_speedup']:.0f}x slower); table on 100x256 {t_old_table:.1f} s vs "
              f"new {t_new_table:.2f} s ({b['table_100x256_speedup']:.0f}x)", flush=True)
    monkeys = synthetic(128, 10_000, seed=2)
    out["128x10000"] = measure_new(monkeys)
    print(f"128x10000 new: pass@k all k {out['128x10000']['pass_all_k_s']:.3f} s, table "
          f"{out['128x10000']['table_s']:.2f} s; parts "
          + ", ".join(f"{k} {v:.2f}" for k, v in out["128x10000"]["parts_s"].items()), flush=True)
    out.update(goals={"pass_all_k_500x1024_s": 0.5, "table_500x1024_s": 5.0},
               cpu_count=os.cpu_count(), machine=platform.machine(),
               python=platform.python_version(), load_avg_at_start=load0,
               load_avg_at_end=os.getloadavg(), time=time.strftime("%Y-%m-%dT%H:%M:%S"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    from laws.atomic import atomic_write

    atomic_write(RESULTS, json.dumps(out, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
