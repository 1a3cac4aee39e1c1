"""How much noise can a ladder's N x D grid take before chinchilla's intervals blow up? (a benchmark)

    python bench/chinchilla_noise.py --check bench/results/ladder_check.json [--out F]

Reads a ``bench/ladder_check.py`` record (its grid of sizes and budgets, and its chinchilla fit
as the ground truth), then, for each noise level sigma (relative, log-normal, independent per
run), draws ``--replicates`` synthetic ladders on exactly that grid, fits ``chinchilla`` with the
same bootstrap as ladder_check (``laws.fit``) and reports the median 95 % CI half-width of E,
alpha and beta relative to the truth. Beside it: the real ladder's residual rms and half-widths.

What it tells a ladder designer: whether the grid itself can pin chinchilla down (half-widths
<= 50 % at the noise the runs really show), or whether the real intervals are wide for another
reason — residuals that are not independent noise (a size whose runs all sit on one side of the
law: a shape effect the form lacks, or the N-D interaction of under-trained runs).
Writes ``bench/results/chinchilla_noise.json`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIGMAS = (0.0025, 0.005, 0.01)


def grid_of(rec: dict) -> pd.DataFrame:
    """The (N, D) points of a ladder_check record's loss table (runs that exist only)."""
    rows = [{"N": float(n.split("=")[1]), "D": float(d.split("=")[1])}
            for n, row in rec["monotonicity"]["loss_table"].items()
            for d, v in row.items() if v is not None]
    return pd.DataFrame(rows)


def half_widths(fit) -> dict[str, float]:
    """95 % CI half-width / estimate for E, alpha, beta."""
    return {k: float((fit.ci[k][1] - fit.ci[k][0]) / 2 / abs(fit.params[k])) for k in ("E", "alpha", "beta")}


def simulate(grid: pd.DataFrame, truth: dict, sigma: float, replicates: int, bootstrap: int) -> dict:
    """Median (and each replicate's) half-widths of chinchilla fitted to synthetic ladders."""
    import laws

    n, d = grid["N"].to_numpy(float), grid["D"].to_numpy(float)
    # chinchilla's formula written out: the ground truth is not computed by the code under test
    clean = truth["E"] + truth["A"] / n ** truth["alpha"] + truth["B"] / d ** truth["beta"]
    reps = []
    for r in range(replicates):
        rng = np.random.default_rng(1000 + r)
        y = clean * np.exp(rng.normal(0.0, sigma, clean.size))
        fit = laws.fit("chinchilla", grid.assign(loss=y), bootstrap=bootstrap, seed=0)
        reps.append(half_widths(fit))
    return {"sigma": sigma, "median_half_width": {k: float(np.median([h[k] for h in reps])) for k in reps[0]},
            "replicates": reps}


def main() -> int:
    """Simulate every noise level, print the table, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", required=True, help="a bench/ladder_check.py JSON record")
    ap.add_argument("--replicates", type=int, default=3)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "chinchilla_noise.json"))
    args = ap.parse_args()
    rec = json.loads(Path(args.check).read_text())
    ch = rec["chinchilla"]
    grid, truth = grid_of(rec), ch["params"]
    t0 = time.time()
    sims = [simulate(grid, truth, s, args.replicates, args.bootstrap) for s in SIGMAS]
    real = {k: ch["ci_rel_halfwidth"][k] for k in ("E", "alpha", "beta")}
    print(f"grid: {grid['N'].nunique()} sizes x {grid['D'].nunique()} budgets ({len(grid)} runs), "
          f"truth = the ladder's chinchilla fit {', '.join(f'{k} {v:.4g}' for k, v in truth.items())}")

    def row(label: str, h: dict) -> None:
        print(f"  {label:<46s}" + "".join(f"{100 * h[k]:6.0f} %" for k in ("E", "alpha", "beta")))

    print(f"  {'median 95 % CI half-width / estimate':<46s}" + "".join(f"{k:>6s}  " for k in ("E", "alpha", "beta")))
    for s in sims:
        row(f"synthetic, noise sigma {100 * s['sigma']:.2f} %", s["median_half_width"])
    rms = ch.get("residual_rms")
    row("the real runs" + (f" (residual rms {100 * rms:.2f} %)" if rms is not None else ""), real)
    out = {"bench": "chinchilla_noise", "check": args.check, "sweep": rec.get("sweep"),
           "grid": {"N": sorted(grid["N"].unique().tolist()), "D": sorted(grid["D"].unique().tolist())},
           "truth": truth, "bootstrap": args.bootstrap, "simulations": sims,
           "real": {"residual_rms": rms, "residual_mean_by_size": ch.get("residual_mean_by_size"),
                    "half_width": real},
           "seconds": round(time.time() - t0, 1),
           "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    from laws.atomic import atomic_write

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(args.out), json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
