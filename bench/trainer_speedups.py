"""Would the CPU trainer go faster with torch.compile or bf16 autocast? (a benchmark)

For the quickstart ladder's smallest and largest shapes (vocab 1024, seq_len 128, 2,048-token
batches, one thread, as a demo trial runs), the bare training step (forward, loss, backward,
AdamW step) is timed three ways in the same run: eager fp32 (the baseline, what the trainer
does on CPU), ``torch.compile`` and ``torch.autocast("cpu", bfloat16)``. Modes alternate over
``--repeats`` rounds; each ratio is the median over rounds of (mode tokens/s ÷ eager tokens/s
of the same round). Compilation time is reported beside it (paid once per trial).
Writes ``bench/results/trainer_speedups.json`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from orchestrator.train.model import build_model  # noqa: E402

SHAPES = ((32, 1), (96, 2))
MODES = ("eager", "compile", "bf16")


def make_step(width: int, depth: int, mode: str):
    """A training step closure for one shape and mode; returns (step, warm-up seconds)."""
    model = build_model(width, depth, 32, 1024, 128, seed=0)
    if mode == "compile":
        model = torch.compile(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, 1024, (16, 128), generator=torch.Generator().manual_seed(0))
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if mode == "bf16" else contextlib.nullcontext

    def step() -> None:
        with ctx():
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    t = time.perf_counter()
    for _ in range(3):           # compiles here in "compile" mode
        step()
    return step, time.perf_counter() - t


def main() -> int:
    """Time every shape and mode, print the ratios, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "trainer_speedups.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = {"bench": "trainer_speedups", "torch": torch.__version__, "threads": 1, "batch_tokens": 2048,
           "steps": args.steps, "repeats": args.repeats, "shapes": {}}
    for width, depth in SHAPES:
        steps, warm = {}, {}
        for m in MODES:
            steps[m], warm[m] = make_step(width, depth, m)
        rates: dict[str, list[float]] = {m: [] for m in MODES}
        for _ in range(args.repeats):
            for m in MODES:
                t = time.perf_counter()
                for _ in range(args.steps):
                    steps[m]()
                rates[m].append(2048 * args.steps / (time.perf_counter() - t))
        ratio = {m: statistics.median(a / b for a, b in zip(rates[m], rates["eager"])) for m in MODES}
        key = f"[{width}, {depth}]"
        out["shapes"][key] = {"tokens_per_s": {m: statistics.median(v) for m, v in rates.items()},
                              "ratio_vs_eager": ratio, "warmup_s": warm}
        print(f"{key}: eager {statistics.median(rates['eager']):,.0f} tok/s; "
              + ", ".join(f"{m} {ratio[m]:.2f}x (warm-up {warm[m]:.1f} s)" for m in MODES[1:]))
    out["load_avg_at_end"] = os.getloadavg()
    out["date_utc"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    from laws.atomic import atomic_write

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(args.out), json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
