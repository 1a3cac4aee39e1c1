"""``scalelab demo``: the whole chain on a laptop, resumable.

1. **Ladder**: ``Sweep(spec).run()`` trains every run of ``examples/quickstart.yaml`` on Ray
   Tune (WSD trunks, then their cooldown branches), refitting the law live as runs finish.
2. **Test-time scaling** on the trained checkpoints with vLLM (:mod:`orchestrator.runs.tts`):
   one model per size (its longest-trained cooled-down run), on held-out problems of the arith
   level it was trained on (alone or in a mixture): strategies ``sample`` (pass@k),
   ``majority``, ``best_of_n`` with the task's verifier (oracle) and with the policy's own
   logprob (a non-oracle reward) over parallel budgets (n); ``--quick`` also runs
   ``particle_filtering`` with the exact step checker and a sequential budget (max new tokens). Rows land in
   the sweep directory's ``tts.parquet``.
3. **Report**: law with bootstrap CIs, frontiers, test-time frontier, joint plan, report.html;
   a summary table is printed.

Both the sweep and the test-time run skip what is already stored, so re-running resumes. Ray:
``RAY_ADDRESS`` when set, else one local instance shared by both stages.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import OrchestratorError
from orchestrator.runs.sweepdir import SweepDir
from orchestrator.spec.tts import TTSSpec

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = "examples/quickstart.yaml"
QUICK_SPEC = "examples/demo_small.yaml"

# Test-time settings of the demo (full / --quick). ``oracle`` is the task's exact checker (the
# answer verifier for best-of-n, the step checker for PF); ``logprob`` (full demo) is a
# non-oracle reward: the policy's own confidence, exp(mean token logprob), no extra model.
# 100 held-out problems (a pass@1 of 0.5 is then known within about +-0.1, 95 % Wilson),
# parallel budgets only, and particle filtering only in --quick: measured on the shared 2-core
# box (2026-12-02), 4 models x 128 problems with PF and a sequential budget took 383 s, and 100
# problems with PF 317 s (demo 596 s in all, 8.4 GiB peak tree RSS), too close to the limits.
TTS_FULL: dict[str, Any] = {
    "task": {"name": "arith", "options": {"n_problems": 100}},
    "strategies": ["sample", "majority",
                   {"name": "best_of_n", "reward_models": ["oracle", "logprob"]}],
    "budgets": {"parallel": [1, 2, 4, 8], "max_tokens": 64, "sequential": [], "n": 4},
    "reward_models": ["oracle"],
    "sampling": {"temperature": 0.8},
    "engine": {"name": "vllm", "cpus": 1},
    "chunk_size": 50,
}
TTS_QUICK: dict[str, Any] = {
    **TTS_FULL,
    "task": {"name": "arith", "options": {"n_problems": 8}},
    "strategies": ["sample", "majority", "best_of_n",
                   {"name": "particle_filtering", "options": {"temperature": 1.0}}],
    "budgets": {"parallel": [1, 4], "max_tokens": 48, "sequential": [24], "n": 2},
    "chunk_size": 16,
}
MAX_MODELS = 4


class DemoError(OrchestratorError):
    """Bad demo input (missing spec file, nothing trained): one line, exit code 2."""


@dataclass
class DemoResult:
    """Where the demo left everything and how long each stage took."""

    sweep_dir: Path
    report: Path
    timings: dict
    analysis: Any = None


def resolve_spec(spec: str | None, quick: bool) -> Path:
    """The spec path: as given, else the (quick) default, looked up in CWD then the repo."""
    name = spec or (QUICK_SPEC if quick else DEFAULT_SPEC)
    for p in (Path(name), REPO / name):
        if p.is_file():
            return p.resolve()
    where = " and ".join(dict.fromkeys([os.getcwd(), str(REPO)]))
    raise DemoError(f"--spec: file {name!r} not found (looked in {where})")


def pick_models(sweep: SweepDir, limit: int = MAX_MODELS) -> list[dict]:
    """One model per size: its done run with the most tokens, preferring cooled-down runs
    (WSD trunks at constant LR are used only if no branch of that size finished). Spread over
    the ladder when there are more sizes than ``limit``."""
    done = sweep.models()
    if done.empty:
        raise DemoError("the sweep has no finished run to evaluate (see runs.parquet: status/reason)")
    done["trunk"] = done["role"] == "trunk"
    best = (done.sort_values(["N", "trunk", "D"], ascending=[True, True, False])
            .drop_duplicates("N", keep="first").reset_index(drop=True))
    if len(best) > limit:
        idx = sorted({round(i * (len(best) - 1) / (limit - 1)) for i in range(limit)})
        best = best.iloc[idx]
    return [{"path": str(r.checkpoint), "id": str(r.run_id)} for r in best.itertuples()]


def tts_spec(sweep_spec, storage: str, models: list[dict], quick: bool) -> TTSSpec:
    """The test-time spec of the demo: rows go to ``<storage>/<sweep name>/tts.parquet``.

    The models are evaluated on held-out problems of the task they were trained on (for the
    ``arith`` data source: the same difficulty ``level``).
    """
    settings = TTS_QUICK if quick else TTS_FULL
    task = settings["task"]
    level = arith_level(sweep_spec.data.source, sweep_spec.data.options)
    if level is not None:
        task = {**task, "options": {**task["options"], "level": level}}
    return TTSSpec.from_dict({**settings, "task": task, "name": sweep_spec.name,
                              "storage": storage, "models": models})


def arith_level(source: str, options: dict) -> int | None:
    """The ``arith`` level a ladder was trained on: its own (source ``arith``) or that of its
    ``arith`` component (source ``mix``); None when it saw no arith data or the default."""
    if source == "arith":
        return options.get("level")
    if source == "mix":
        for comp in options.get("mix", []):
            if comp.get("source") == "arith":
                return (comp.get("options") or {}).get("level")
    return None


def _ray() -> bool:
    """Connect to RAY_ADDRESS or start one local Ray for both stages; True if we started it."""
    from orchestrator.runs.sweep import ensure_ray

    return ensure_ray()


def run_demo(storage: str = "./scalelab_runs", spec: str | None = None, quick: bool = False,
             bootstrap: int = 200, console: Any = None) -> DemoResult:
    """Run (or resume) the demo; prints a summary table and the report path."""
    from rich.console import Console

    from orchestrator import Sweep, SweepSpec
    from orchestrator.report import make_report

    console = console or Console(width=None if sys.stdout.isatty() else 110)
    spec_path = resolve_spec(spec, quick)
    sweep_spec = SweepSpec.from_yaml(spec_path)
    storage = str(Path(storage).expanduser().resolve())
    timings: dict[str, float] = {}
    ours = _ray()
    try:
        console.rule(f"[bold]1/3 training ladder[/] {sweep_spec.name} ({spec_path.name})")
        t0 = time.time()
        result = Sweep(sweep_spec, storage=storage).run()
        timings["train_s"] = time.time() - t0
        sweep_dir = Path(result.sweep_dir)
        models = pick_models(SweepDir(sweep_dir))
        console.rule(f"[bold]2/3 test-time scaling[/] on {len(models)} checkpoints with vLLM")
        t0 = time.time()
        from orchestrator.runs.tts import run_tts

        run_tts(tts_spec(sweep_spec, storage, models, quick))
        timings["tts_s"] = time.time() - t0
    finally:
        if ours:
            import ray

            ray.shutdown()
    console.rule("[bold]3/3 laws, frontiers, plan, report[/]")
    t0 = time.time()
    rep = make_report(sweep_dir, bootstrap=bootstrap)
    timings["report_s"] = time.time() - t0
    from orchestrator.report.summary import print_summary

    print_summary(console, rep.data, rep.analysis, rep.path, timings)
    return DemoResult(sweep_dir, rep.path, timings, rep.analysis)


if __name__ == "__main__":  # vLLM spawns its engine process: keep the guard
    run_demo(*sys.argv[1:2])
