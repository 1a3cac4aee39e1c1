"""Does the best LR transfer across width? muP vs the standard parametrization (a benchmark).

    python bench/mup_transfer.py [--tokens 400000] [--lrs 0.0025,0.005,0.01,0.02,0.04]
                                 [--widths 32,128] [--out bench/results/mup_transfer.json]

Trains depth-2 models of each width at every LR of the grid on a fixed text + arithmetic
mixture (``DATA`` below: the shipped Python corpus 75 %, arith level 2 25 %, a 1024-entry BPE;
seq_len 128, batch 2048 tokens: the quickstart ladder's data as of issue 10, written out here
so the benchmark does not move when the quickstart does), once with muP (base width = the
smallest width) and once with SP (muP off), each as one plain WSD run per LR (warmup 5 %,
cooldown 20 %, weight decay 0.1), and records each final val loss (one seed). Two runs at a
time, one thread each (``ProcessPoolExecutor``); at the base width muP *is* SP exactly
(orchestrator/train/mup.py), so those runs are shared. Goal (issue 10): under muP the best LR
at the smallest width is within x2 of the best at the largest width; the same figure is
reported for SP, with the best LR also interpolated (vertex of a parabola in log LR through the
grid's best point and its neighbours). Run it under ``flock /tmp/scalelab-heavy.lock``;
``--resummarise`` recomputes the summary of a stored result without training.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = {"mix": [{"source": "python", "weight": 0.75},
                {"source": "arith", "weight": 0.25, "options": {"level": 2}}],
        "options": {"vocab_size": 1024}}
SEQ_LEN, BATCH, DEPTH, HEAD_DIM = 128, 2048, 2, 32


def spec(tokens: int, widths: list[int], eval_tokens: int):
    """The sweep spec whose settings every run of the benchmark shares."""
    from orchestrator.spec.sweep import SweepSpec

    return SweepSpec.from_dict({
        "name": "mup-transfer", "model": {"shapes": [[w, DEPTH] for w in widths],
                                          "head_dim": HEAD_DIM, "seq_len": SEQ_LEN},
        "tokens": {"D": [tokens]}, "lr": {"values": [0.01]}, "batch_tokens": [BATCH],
        "schedule": {"kind": "wsd", "warmup_frac": 0.05, "cooldown_frac": 0.2},
        "data": DATA, "train": {"eval_every": 100_000, "eval_tokens": eval_tokens, "log_every": 50}})


def one_run(job: tuple) -> dict:
    """Train one (width, lr, parametrization) run in this process; return its final val loss."""
    cfg_dict, tok_dir = job
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import torch

    from orchestrator.spec.run import RunSpec
    from orchestrator.train.loop import train_run

    torch.set_num_threads(1)
    cfg = RunSpec.from_dict(cfg_dict)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="mupt-") as wd:
        res = train_run(cfg, Path(wd), None, tokenizer_dir=Path(tok_dir))
    return {"width": cfg.width, "lr": cfg.lr, "param": "mup" if cfg.mup_base_width else "sp",
            "status": res.status, "reason": res.reason, "final_val_loss": res.final_val_loss,
            "N": res.N, "D": res.D, "wall_s": round(time.time() - t0, 1)}


def best(rows: list[dict], width: int, param: str) -> dict | None:
    """The lowest-loss finished run of a (width, parametrization)."""
    ok = [r for r in rows if r["width"] == width and r["param"] == param and r["status"] == "done"
          and math.isfinite(r["final_val_loss"])]
    return min(ok, key=lambda r: r["final_val_loss"]) if ok else None


def vertex_lr(rows: list[dict], width: int, param: str) -> float | None:
    """The LR at the vertex of the parabola in log LR through the grid's best run and its two
    neighbours (None when the best is at the grid's edge or the three points are not convex)."""
    ok = sorted((r["lr"], r["final_val_loss"]) for r in rows if r["width"] == width
                and r["param"] == param and r["status"] == "done" and math.isfinite(r["final_val_loss"]))
    i = min(range(len(ok)), key=lambda j: ok[j][1]) if ok else 0
    if not 0 < i < len(ok) - 1:
        return None
    x = [math.log(ok[j][0]) for j in (i - 1, i, i + 1)]
    y = [ok[j][1] for j in (i - 1, i, i + 1)]
    # Lagrange form of the parabola's derivative = 0
    d1, d2 = (y[1] - y[0]) / (x[1] - x[0]), (y[2] - y[1]) / (x[2] - x[1])
    curv = (d2 - d1) / (x[2] - x[0])
    if curv <= 0:
        return None
    return math.exp((x[0] + x[1]) / 2 - d1 / (2 * curv))


def summarise(rows: list[dict], widths: list[int], lrs: list[float]) -> dict:
    """Per parametrization: best LR per width (grid and parabola vertex), small/large ratio,
    within x2, grid-edge flags, and the large width's loss at the small width's best LR (what
    transferring the small width's LR costs)."""
    out = {}
    for p in ("mup", "sp"):
        b = {w: best(rows, w, p) for w in widths}
        if not all(b.values()):
            out[p] = {"error": "a width has no finished run"}
            continue
        v = {w: vertex_lr(rows, w, p) for w in widths}
        lo, hi = b[widths[0]]["lr"], b[widths[-1]]["lr"]
        at_small = [r for r in rows if r["param"] == p and r["width"] == widths[-1] and r["lr"] == lo]
        loss_at = at_small[0]["final_val_loss"] if at_small and at_small[0]["status"] == "done" else None
        out[p] = {"best_lr": {str(w): b[w]["lr"] for w in widths},
                  "best_loss": {str(w): round(b[w]["final_val_loss"], 4) for w in widths},
                  "ratio_small_over_large": lo / hi, "within_x2": 0.5 <= lo / hi <= 2.0,
                  "vertex_lr": {str(w): (round(v[w], 6) if v[w] else None) for w in widths},
                  "vertex_ratio_small_over_large": (v[widths[0]] / v[widths[-1]]
                                                    if v[widths[0]] and v[widths[-1]] else None),
                  "at_grid_edge": [str(w) for w in widths if b[w]["lr"] in (lrs[0], lrs[-1])],
                  "large_width_loss_at_small_width_best_lr": loss_at,
                  "large_width_regret": (round(loss_at - b[widths[-1]]["final_val_loss"], 4)
                                         if loss_at is not None else None)}
    return out


def main() -> int:
    """Run the grid and write the JSON record."""
    from orchestrator.train.data import get_data_source
    from orchestrator.train.tokenizer import save_tokenizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=400_000)
    ap.add_argument("--lrs", default="0.0025,0.005,0.01,0.02,0.04")
    ap.add_argument("--widths", default="32,128")
    ap.add_argument("--params", default="mup,sp")
    ap.add_argument("--eval-tokens", type=int, default=65536)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "mup_transfer.json"))
    ap.add_argument("--resummarise", action="store_true",
                    help="recompute the summary of the stored --out file's runs (no training)")
    args = ap.parse_args()
    if args.resummarise:
        from laws.atomic import atomic_write

        rec = json.loads(Path(args.out).read_text())
        rec["summary"] = summarise(rec["runs"], rec["widths"], rec["lrs"])
        atomic_write(Path(args.out), json.dumps(rec, indent=1))
        print(json.dumps(rec["summary"], indent=1))
        return 0
    lrs = [float(x) for x in args.lrs.split(",")]
    widths = sorted(int(x) for x in args.widths.split(","))
    params = args.params.split(",")
    sp = spec(args.tokens, widths, args.eval_tokens)
    t0 = time.time()
    source = get_data_source({"source": sp.data.source, **sp.data.options})
    tok = source.tokenizer
    tok_dir = Path(tempfile.mkdtemp(prefix="mupt-tok-"))
    save_tokenizer(tok, tok_dir)
    vocab, base = len(tok), widths[0]
    jobs = []
    for w in widths:
        for lr in lrs:
            for p in params:
                if p == "sp" and w == base and "mup" in params:
                    continue            # identical to muP at the base width
                cfg = replace(sp.base_config(w, DEPTH, vocab, lr, BATCH, 0, args.tokens),
                              mup_base_width=base if p == "mup" else None, cpus=1)
                jobs.append((cfg.to_dict(), str(tok_dir)))
    jobs.sort(key=lambda j: -j[0]["width"])      # widest first: the two slots finish together
    prep_s = time.time() - t0
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        rows = list(ex.map(one_run, jobs))
    for r in [r for r in rows if r["width"] == base and r["param"] == "mup"]:
        if "sp" in params:
            rows.append({**r, "param": "sp", "shared_with": "mup"})   # SP == muP at the base width
    rows.sort(key=lambda r: (r["param"], r["width"], r["lr"]))
    rec = {"benchmark": "mup_transfer", "tokens": args.tokens, "lrs": lrs, "widths": widths,
           "depth": DEPTH, "head_dim": HEAD_DIM, "vocab_size": vocab, "data": DATA,
           "seq_len": SEQ_LEN, "batch_tokens": BATCH, "eval_tokens": args.eval_tokens, "seed": 0,
           "schedule": "wsd (warmup 0.05, cooldown 0.2), weight decay 0.1, one plain run per LR",
           "base_width": base, "runs": rows, "summary": summarise(rows, widths, lrs),
           "prep_s": round(prep_s, 1), "wall_s": round(time.time() - t0, 1),
           "load_avg_at_end": os.getloadavg(), "cpus": os.cpu_count(), "workers": args.workers}
    from laws.atomic import atomic_write

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, json.dumps(rec, indent=1))
    for r in rows:
        print(f"{r['param']:4s} width {r['width']:4d} lr {r['lr']:<8g} loss {r['final_val_loss']:.4f} "
              f"({r['status']}, {r['wall_s']} s)")
    print(json.dumps(rec["summary"], indent=1))
    print(f"wall {rec['wall_s']} s, load {rec['load_avg_at_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
