"""Trainer overhead: tokens/s of ``train_run`` ÷ a bare PyTorch loop (same model, batch, threads).

The bare loop is the minimum a trainer must do per step: forward, cross-entropy, backward,
grad-norm clipping, AdamW step, zero_grad, on one pre-built batch (no data loading, no
schedule, no logging). ``train_run`` is timed between its step rows (``report`` is called in
the training thread at log points; start-up and the final evaluation fall outside). Two
clocks: wall time, and process CPU time (``time.process_time``; with one thread it equals wall
time on an idle machine and is not inflated when other jobs share the cores). Both loops run
``--repeats`` times, interleaved; each ratio is the median over the back-to-back pairs. The
headline ``ratio`` uses CPU time (goal ≥ 0.95). Writes
``bench/results/trainer_overhead.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orchestrator.spec.run import RunSpec  # noqa: E402
from orchestrator.train.loop import train_run  # noqa: E402
from orchestrator.train.model import build_model  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "trainer_overhead.json"


def bare_loop(cfg: RunSpec, steps: int) -> tuple[float, float]:
    """(wall, cpu) tokens/s of the bare loop (after 3 warm-up steps)."""
    torch.set_num_threads(int(cfg.cpus))
    model = build_model(cfg.width, cfg.depth, cfg.head_dim, cfg.vocab_size, cfg.seq_len, cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                            weight_decay=cfg.weight_decay)
    rows = cfg.batch_tokens // cfg.seq_len
    data = torch.randint(0, cfg.vocab_size, (rows, cfg.seq_len + 1))
    x, y = data[:, :-1], data[:, 1:]
    for i in range(steps + 3):
        if i == 3:
            t0, c0 = time.perf_counter(), time.process_time()
        logits = model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
    loss.item()
    tokens = steps * cfg.batch_tokens
    return tokens / (time.perf_counter() - t0), tokens / (time.process_time() - c0)


def trainer(cfg: RunSpec) -> tuple[float, float]:
    """(wall, cpu) tokens/s of ``train_run`` from its first row to its last-but-one row."""
    marks: list[tuple[int, float, float]] = []

    def report(row: dict) -> None:
        marks.append((row["tokens"], time.perf_counter(), time.process_time()))

    with tempfile.TemporaryDirectory() as d:
        res = train_run(cfg, Path(d), report)
    assert res.status == "done", res.reason
    (k0, w0, c0), (k1, w1, c1) = marks[0], marks[-2]   # the last row waits for the eval
    return (k1 - k0) / (w1 - w0), (k1 - k0) / (c1 - c0)


def main() -> None:
    """Run the comparison and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    steps = args.steps
    cfg = RunSpec(sweep="bench", width=64, depth=2, head_dim=32, vocab_size=22, seq_len=128,
                    data={"source": "arith", "level": 2, "pool_docs": 20000}, lr=3e-3,
                    batch_tokens=4096, tokens=4096 * steps, log_every=10, eval_every=10 ** 9,
                    eval_tokens=1024, cpus=args.threads)
    bare, ours = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(cfg, steps))
        ours.append(trainer(cfg))
        print(f"bare {bare[-1][0]:,.0f} tok/s ({bare[-1][1]:,.0f} per CPU-s)   "
              f"train_run {ours[-1][0]:,.0f} tok/s ({ours[-1][1]:,.0f} per CPU-s)")
    wall = statistics.median(o[0] / b[0] for o, b in zip(ours, bare))
    ratio = statistics.median(o[1] / b[1] for o, b in zip(ours, bare))
    print(f"trainer / bare = {ratio:.3f} by CPU time, {wall:.3f} by wall time  (goal >= 0.95)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "ratio": ratio, "ratio_wall": wall, "goal": 0.95,
        "train_run_tokens_per_s": [o[0] for o in ours], "bare_tokens_per_s": [b[0] for b in bare],
        "train_run_tokens_per_cpu_s": [o[1] for o in ours],
        "bare_tokens_per_cpu_s": [b[1] for b in bare],
        "model": {"width": 64, "depth": 2, "head_dim": 32, "vocab": 22, "seq_len": 128},
        "batch_tokens": cfg.batch_tokens, "steps": steps, "threads": args.threads,
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "note": "medians of back-to-back pair ratios; the machine was shared with other jobs",
    }, indent=2))


if __name__ == "__main__":
    main()
