"""Benchmark: test-time methods through the evaluator vs raw vLLM, on one engine.

1. best-of-N completion tokens/s through ``evaluators`` (strategy ``best_of_n``, reward
   ``logprob``) ÷ raw ``vllm.LLM.generate`` with the same prompts and sampling parameters on
   the same ``LLM`` (goal ≥ 0.95). Those parameters are the evaluator's: without stop strings
   vLLM does not detokenize while decoding (``engine_detokenizes``); ``raw_detokenized`` is
   the same call with vLLM's default ``detokenize=True``, and ``raw_over_raw_detokenized``
   what that saves;
2. particle filtering tokens/s ÷ best-of-N tokens/s at equal budget (goal ≥ 0.85; oracle PRM,
   so the ratio measures the step-wise generation, not a reward model). Particle filtering
   runs pipelined on the in-process engine (``VLLMEngine.pipeline``); the lock-step search,
   one engine call per step for all problems (``particle_filtering_lockstep``, option
   ``pipeline: false``), is measured in the same run as its baseline. The evaluator asks
   for token logprobs only when the reward model reads them, so best-of-N with the logprob
   reward pays for them and particle filtering with the oracle PRM does not; the ratio is
   therefore also reported against best-of-N with the oracle ORM (``best_of_n_oracle``: no
   logprobs either), which compares the generation patterns alone.

3. where the time goes (``where_time_goes``, 5 more repeats): each run's wall time split into
   the engine's steps, request submission (vLLM's ``add_request``) and the strategy's own work,
   with the number of requests — what separates particle filtering from best-of-N.

The prefix cache is reset before every timed run; runs alternate and the median of
``--repeats`` is reported, and beside it each ratio taken within every repeat, then its median
over repeats (``paired_median_ratios``; steadier on a shared box). The policy is trained here
with the real trainer (``orchestrator.train.loop.train_run``, ~1 min) unless ``--model DIR`` is
given — no downloads.
Writes ``bench/results/tts_engine.json`` (or ``--out``).

    python bench/tts_engine.py [--model DIR] [--budget 16] [--problems 64] [--repeats 5] [--out F]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

RESULTS = Path(__file__).resolve().parent / "results" / "tts_engine.json"


def train_policy(workdir: Path, tokens: int) -> Path:
    """Train a tiny arith Llama with the project's trainer; returns its HF directory."""
    from orchestrator.spec.run import RunSpec
    from orchestrator.train.loop import train_run

    cfg = RunSpec(sweep="bench", width=64, depth=2, head_dim=32, vocab_size=22, seq_len=128,
                    data={"source": "arith", "level": 2}, lr=1e-2, batch_tokens=2048,
                    tokens=tokens, schedule="cosine", warmup_frac=0.05, min_lr_frac=0.1,
                    eval_every=10 ** 9, log_every=10 ** 9, seed=0, cpus=1)
    res = train_run(cfg, workdir)
    if res.status != "done":
        raise SystemExit(f"tts_engine bench: training {res.status}: {res.reason}")
    return Path(res.checkpoint)


def classifier_overlap(con, engine, task, problems, sampling, args, reset) -> dict:
    """Particle filtering with a vLLM classifier PRM, scoring overlapped with generation
    (two halves of the problems, default) vs not (``overlap_reward: false``)."""
    from evaluators.rewards import make_reward_model, random_classifier
    from evaluators.strategies import get_strategy

    tmp = Path(tempfile.mkdtemp(prefix="tts-bench-rm-"))
    rm = make_reward_model("classifier", model=str(random_classifier(engine.model, tmp)),
                           task=task, mode="prm")
    runs = {"overlap": get_strategy("particle_filtering"),
            "serial": get_strategy("particle_filtering", overlap_reward=False)}
    for strat in runs.values():
        strat.run(engine, task, problems, args.budget, rm, 10 ** 6, sampling)
    rates: dict[str, list[float]] = {k: [] for k in runs}
    for rep in range(args.repeats):
        for name, strat in runs.items():
            reset()
            res, secs = _timed(lambda: strat.run(engine, task, problems, args.budget, rm,
                                                 1000 * (rep + 1), sampling))
            n_tok = sum(r.completion_tokens for r in res)
            rates[name].append(n_tok / secs)
            con.print(f"repeat {rep}: classifier PRM, {name:>8s} {n_tok:7d} tokens {secs:6.2f} s "
                      f"{n_tok / secs:8.0f} tok/s")
    rm.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"tokens_per_s": med, "all_tokens_per_s": rates,
            "overlap_over_serial": med["overlap"] / med["serial"]}


def where_time_goes(con, engine, runs: dict, repeats: int) -> dict:
    """Wall time of each run in ``runs`` split into the engine's own steps
    (``LLMEngine.step``: waiting for and collecting the engine core's outputs), request
    submission (``LLMEngine.add_request``: vLLM's input processing and the send to the core)
    and the rest (the strategy's own work between calls), with the number of requests; medians
    over ``repeats``. On the 2-core box the engine core shares its CPU with this process, so the
    time outside ``step`` is not hidden behind generation."""
    eng = engine.llm.llm_engine
    acc = {"step_s": 0.0, "add_request_s": 0.0, "requests": 0}
    add0, step0 = eng.add_request, eng.step

    def add(*a, **k):
        t = time.perf_counter()
        try:
            return add0(*a, **k)
        finally:
            acc["add_request_s"] += time.perf_counter() - t
            acc["requests"] += 1

    def step():
        t = time.perf_counter()
        try:
            return step0()
        finally:
            acc["step_s"] += time.perf_counter() - t

    eng.add_request, eng.step = add, step
    out: dict[str, dict[str, list]] = {k: {} for k in runs}
    try:
        for rep in range(repeats):
            for name, fn in runs.items():
                engine.reset_prefix_cache()
                acc.update(step_s=0.0, add_request_s=0.0, requests=0)
                _, wall = _timed(lambda: fn(5000 + rep))
                row = dict(acc, wall_s=wall, rest_s=wall - acc["step_s"] - acc["add_request_s"])
                for k, v in row.items():
                    out[name].setdefault(k, []).append(v)
    finally:
        del eng.add_request, eng.step          # back to the class's methods
    # the repeat with the median wall time, whole (medians taken part by part would not add up)
    med = {}
    for name, d in out.items():
        walls = d["wall_s"]
        i = sorted(range(len(walls)), key=walls.__getitem__)[len(walls) // 2]
        med[name] = {k: v[i] for k, v in d.items()}
    for name, m in med.items():
        con.print(f"where the time goes, {name:>20s}: wall {m['wall_s']:.2f} s = engine steps "
                  f"{m['step_s']:.2f} + add_request {m['add_request_s']:.2f} "
                  f"({m['requests']:.0f} requests) + rest {m['rest_s']:.2f}")
    return med


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    """Run the benchmark and write the JSON result."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="HF directory of an arith policy (default: train one)")
    ap.add_argument("--train-tokens", type=int, default=2048 * 800)
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(RESULTS), help="JSON path (default: %(default)s)")
    ap.add_argument("--no-classifier", action="store_true",
                    help="skip particle filtering with a vLLM classifier PRM (overlap on/off)")
    args = ap.parse_args()
    load0 = os.getloadavg()

    from rich.console import Console

    from evaluators.engines import make_engine
    from evaluators.engines.vllm_engine import request_seeds, to_vllm_params
    from evaluators.rewards import make_reward_model
    from evaluators.strategies import get_strategy
    from evaluators.tasks import get_task
    from evaluators.types import SamplingSpec

    con = Console()
    model = Path(args.model) if args.model else None
    workdir = None
    if model is None:
        workdir = Path(tempfile.mkdtemp(prefix="tts-bench-"))
        with con.status("training the arith policy with orchestrator.train.loop ..."):
            model = train_policy(workdir, args.train_tokens)
    task = get_task("arith", level=2, n_problems=args.problems)
    problems = task.problems()
    prompts = [p.prompt for p in problems]
    sampling = SamplingSpec(temperature=0.8, max_tokens=args.max_tokens, logprobs=True)
    with con.status("starting vLLM ..."):
        engine = make_engine("vllm", model=str(model), model_id="bench-policy")
    bon, pf = get_strategy("best_of_n"), get_strategy("particle_filtering")
    pf_lock = get_strategy("particle_filtering", pipeline=False)   # one engine call per step
    logprob, prm = make_reward_model("logprob"), make_reward_model("oracle", task=task, mode="prm")
    llm = engine.llm

    def raw(seed: int) -> int:
        spec = replace(sampling, n=args.budget, seed=seed)
        params = [to_vllm_params(spec, s) for s in request_seeds(spec, len(prompts))]
        outs = llm.generate(prompts, params, use_tqdm=False)
        return sum(len(c.token_ids) for o in outs for c in o.outputs)

    def raw_detokenized(seed: int) -> int:
        # vLLM's default: detokenize while decoding (the evaluator's params turn it off when no
        # stop string needs the text, and decode each finished sample once)
        spec = replace(sampling, n=args.budget, seed=seed)
        params = [to_vllm_params(spec, s) for s in request_seeds(spec, len(prompts))]
        for p in params:
            p.detokenize = True
        outs = llm.generate(prompts, params, use_tqdm=False)
        return sum(len(c.token_ids) for o in outs for c in o.outputs)

    def through(strategy, reward, seed: int) -> int:
        res = strategy.run(engine, task, problems, args.budget, reward, seed, sampling)
        return sum(r.completion_tokens for r in res)

    orm = make_reward_model("oracle", task=task, mode="orm")
    runs = {"raw": lambda s: raw(s), "raw_detokenized": raw_detokenized, "best_of_n": lambda s: through(bon, logprob, s),
            "best_of_n_oracle": lambda s: through(bon, orm, s),
            "particle_filtering": lambda s: through(pf, prm, s),
            "particle_filtering_lockstep": lambda s: through(pf_lock, prm, s)}
    with con.status("warm-up (first logprobs call compiles) ..."):
        for fn in runs.values():
            fn(10 ** 6)
    rates: dict[str, list[float]] = {k: [] for k in runs}
    tokens: dict[str, list[int]] = {k: [] for k in runs}
    for rep in range(args.repeats):
        for name, fn in runs.items():
            engine.reset_prefix_cache()
            n_tok, secs = _timed(lambda: fn(1000 * (rep + 1)))
            rates[name].append(n_tok / secs)
            tokens[name].append(n_tok)
            con.print(f"repeat {rep}: {name:>20s} {n_tok:7d} tokens {secs:6.2f} s {n_tok / secs:8.0f} tok/s")
    breakdown = where_time_goes(con, engine, {k: runs[k] for k in (
        "best_of_n_oracle", "particle_filtering", "particle_filtering_lockstep")}, 5)
    overlap = {} if args.no_classifier else classifier_overlap(
        con, engine, task, problems, sampling, args, reset=engine.reset_prefix_cache)
    engine.shutdown()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "bench": "tts_engine",
        "model": str(model) if workdir is None else f"trained here: arith L2, {args.train_tokens} tokens",
        "n_params": engine.n_params,
        "budget": args.budget, "problems": args.problems, "max_tokens": args.max_tokens,
        "repeats": args.repeats, "tokens_per_s": med, "tokens": tokens, "all_tokens_per_s": rates,
        "best_of_n_over_raw": med["best_of_n"] / med["raw"],
        "particle_filtering_over_best_of_n": med["particle_filtering"] / med["best_of_n"],
        "particle_filtering_over_best_of_n_oracle":
            med["particle_filtering"] / med["best_of_n_oracle"],
        "particle_filtering_lockstep_over_best_of_n":
            med["particle_filtering_lockstep"] / med["best_of_n"],
        "particle_filtering_pipelined_over_lockstep":
            med["particle_filtering"] / med["particle_filtering_lockstep"],
        # the same ratios taken within each repeat (adjacent runs share the box's state), then
        # the median over repeats: steadier than a ratio of medians on a shared, noisy box
        "paired_median_ratios": {
            f"{a}_over_{b}": statistics.median(x / y for x, y in zip(rates[a], rates[b]))
            for a, b in (("best_of_n", "raw"), ("particle_filtering", "best_of_n"),
                         ("particle_filtering", "best_of_n_oracle"),
                         ("particle_filtering", "particle_filtering_lockstep"),
                         ("raw", "raw_detokenized"))},
        "goals": {"best_of_n_over_raw": 0.95, "particle_filtering_over_best_of_n": 0.85},
        "where_time_goes": breakdown,
        "classifier_prm": overlap,
        "cpu_count": os.cpu_count(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "load_avg_at_start": load0, "load_avg_at_end": os.getloadavg(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out)
    con.print(f"best_of_n / raw vLLM: {result['best_of_n_over_raw']:.3f} (goal ≥ 0.95)")
    con.print(f"particle_filtering / best_of_n: {result['particle_filtering_over_best_of_n']:.3f} "
              f"(goal ≥ 0.85); / best_of_n_oracle (no logprobs either): "
              f"{result['particle_filtering_over_best_of_n_oracle']:.3f}")
    con.print("paired (median over repeats of each repeat's ratio): " + ", ".join(
        f"{k} {v:.3f}" for k, v in result["paired_median_ratios"].items()))
    con.print(f"particle_filtering pipelined / lock-step (same run): "
              f"{result['particle_filtering_pipelined_over_lockstep']:.3f}; lock-step / best_of_n: "
              f"{result['particle_filtering_lockstep_over_best_of_n']:.3f}")
    if overlap:
        con.print(f"classifier PRM: overlapped scoring / serial: "
                  f"{overlap['overlap_over_serial']:.3f}")
    con.print(f"wrote {out}")


if __name__ == "__main__":
    main()
