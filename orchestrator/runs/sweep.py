"""Run a sweep on Ray Tune: ``Sweep(spec).run() -> SweepResult``.

    from orchestrator import Sweep, SweepSpec
    result = Sweep(SweepSpec.from_yaml("examples/quickstart.yaml")).run()
    result.runs            # pandas: one row per run (status, N, D, C, final_val_loss, ...)

Steps: write ``spec.yaml``; build the data source's tokenizer ONCE into ``<sweep>/tokenizer/``;
expand the spec; record new runs ``pending`` in the ledger and skip runs already ``done`` or
``diverged``; trunks and plain runs are submitted first and each WSD branch as soon as its
trunk is ``done`` (branches of a trunk that did not finish are marked ``failed``). Unfinished runs resume from
``<sweep>/checkpoints/<run_id>/``. Ray: ``RAY_ADDRESS`` when set (``ray job submit``), an
already initialised Ray as is, else a new local instance (shut down afterwards).
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Union

import pandas as pd

from laws.atomic import publish_dir
from orchestrator.runs import tune as tw
from orchestrator.runs.ledger import Ledger
from orchestrator.runs.recorder import (
    SweepRecorder,
    make_dependency_searcher,
    make_tune_callback,
    progress_printer,
)
from orchestrator.runs.store import Store, compact_metrics, read_metrics
from orchestrator.spec.run import RunSpec
from orchestrator.spec.sweep import SweepSpec

# laws fitted live from finished runs (WSD trunks excluded): fits/<form>_*.json
LIVE_FORMS = ("chinchilla", "power_law")


@dataclass
class SweepResult:
    """What a sweep leaves behind: the runs table and where everything is."""

    runs: pd.DataFrame
    sweep_dir: str
    runs_path: str
    metrics_path: str
    checkpoints: str
    wall_s: float = 0.0

    def metrics(self) -> pd.DataFrame:
        """All step rows (deduplicated on run_id, step)."""
        return read_metrics(Store(self.sweep_dir))


def ensure_ray() -> bool:
    """Connect to ``RAY_ADDRESS`` (checked to answer first) or start a local Ray unless one is
    up; True if we started it."""
    from evaluators.ray_init import init_ray

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    return init_ray(include_dashboard=False, log_to_driver=False)


class Sweep:
    """One sweep: a spec, where to store it, and how to train (``trainer`` = module:function)."""

    def __init__(self, spec: Union[SweepSpec, str, Path], storage: Union[str, Path, None] = None,
                 trainer: str = tw.DEFAULT_TRAINER, subscribers: Iterable[Any] | None = None,
                 live_fit: bool = True, progress: bool = True):
        self.spec = spec if isinstance(spec, SweepSpec) else SweepSpec.from_yaml(spec)
        base = str(storage if storage is not None else self.spec.storage).rstrip("/")
        self.store = Store(f"{base}/{self.spec.name}")
        self.trainer = trainer
        self.subscribers = list(subscribers or [])
        self.live_fit, self.progress = live_fit, progress

    # ------------------------------------------------------------ setup
    def _paths(self) -> dict:
        if self.store.local:
            ckpt, remote = str(self.store.local_path("checkpoints")), None
        else:  # train into a local staging dir, upload finished checkpoints
            ckpt = str(Path.home() / ".cache" / "scalelab" / self.spec.name / "checkpoints")
            remote = self.store.uri.rstrip("/") + "/checkpoints"
        Path(ckpt).mkdir(parents=True, exist_ok=True)
        return {"checkpoints": ckpt, "remote_checkpoints": remote,
                "tokenizer": str(Path(ckpt).parent / "tokenizer"), "trainer": self.trainer}

    def _tokenizer(self, tok_dir: Path) -> int:
        """Build the data source's tokenizer once (``<sweep>/tokenizer/``); its vocab size."""
        from orchestrator.train.data import get_data_source

        if (tok_dir / "tokenizer.json").exists():
            from transformers import AutoTokenizer
            return len(AutoTokenizer.from_pretrained(str(tok_dir)))
        source = get_data_source({"source": self.spec.data.source, **self.spec.data.options})
        tok = source.build_tokenizer()
        if tok is None:                      # pre-tokenized data: vocab from the source
            return int(source.vocab_size)
        tmp = tok_dir.with_name(f".tokenizer-tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tok.save_pretrained(str(tmp))
        publish_dir(tmp, tok_dir)         # an incomplete dir from a killed run is replaced
        if not self.store.local:
            tw._upload(tok_dir, self.store.uri.rstrip("/") + "/tokenizer")
        return len(tok)

    def _subscribers(self) -> list:
        subs = list(self.subscribers)
        if self.live_fit and self.store.local:
            try:
                import laws
                for form in LIVE_FORMS:   # refit in the background as finished runs arrive
                    subs.append(laws.LiveFitter(form=form, out_dir=str(self.store.local_path("fits")),
                                                min_interval_s=5.0, background=True))
            except Exception as exc:  # noqa: BLE001 - live fitting is optional
                print(f"scalelab: live fitting disabled ({exc})", file=sys.stderr)
        return subs

    # ------------------------------------------------------------ running
    def run(self) -> SweepResult:
        """Run (or resume) the sweep; returns the runs table and paths."""
        t0 = time.time()
        store = self.store
        store.makedirs()
        store.write_bytes("spec.yaml", self.spec.to_yaml().encode())
        paths = self._paths()
        vocab = self._tokenizer(Path(paths["tokenizer"]))
        cfgs = self.spec.expand(vocab)
        ledger = Ledger(store)
        if self.spec.search.kind == "optuna":   # bases only; trials are recorded as they start
            todo, total = list(cfgs), len(cfgs) * self.spec.search.n_trials
        else:
            todo, total = ledger.add_pending(cfgs), len(cfgs)
        ours = ensure_ray() if todo else False
        try:
            with _Progress(total, ledger, self.progress) as prog:
                recorder = SweepRecorder(store, ledger, self._subscribers(), on_progress=prog.update)
                if self.spec.search.kind == "grid":
                    self._grid(todo, paths, recorder)
                else:
                    self._phase(todo, paths, recorder)
                for sub in recorder.subscribers:
                    if hasattr(sub, "flush"):
                        sub.flush()
        finally:
            if ours:
                import ray
                ray.shutdown()
        compact_metrics(store)
        return SweepResult(runs=ledger.table(), sweep_dir=store.uri if not store.local else store.root,
                           runs_path=store.path("runs.parquet"), metrics_path=store.path("metrics.parquet"),
                           checkpoints=paths["checkpoints"], wall_s=time.time() - t0)

    def _trainable(self):
        from ray import tune

        r = self.spec.resources
        return tune.with_resources(tw.trial_fn, tw.trial_resources(r.cpus, r.gpus, r.workers))

    def _grid(self, cfgs: list[RunSpec], paths: dict, recorder: SweepRecorder) -> None:
        """Every run in ONE Tuner: trunks and plain runs first, then WSD branches, each branch
        handed out as soon as its trunk is done (no phase barrier; warm actors are reused).
        Longest runs go first within each group so a sweep does not end on one straggler."""
        if not cfgs:
            return
        first = sorted((c for c in cfgs if not c.parent_run_id), key=_cost, reverse=True)
        later = sorted((c for c in cfgs if c.parent_run_id), key=_cost, reverse=True)
        kw = tw.search_and_scheduler(self.spec, max(c.tokens for c in cfgs))
        kw["search_alg"] = make_dependency_searcher(recorder, first + later, paths)
        self._fit(self._trainable(), {}, len(cfgs), kw, recorder)

    def _phase(self, cfgs: list[RunSpec], paths: dict, recorder: SweepRecorder) -> None:
        """optuna: one Tuner per (shape, D, batch, seed) group over the LR/batch sub-space."""
        if not cfgs:
            return
        spec = self.spec
        trainable = self._trainable()
        for base in cfgs:                     # optuna: one study per (shape, D, seed)
            done = self._group_done(recorder.ledger, base)
            left = spec.search.n_trials - len(done)
            if left <= 0:
                continue
            kw = tw.search_and_scheduler(spec, base.tokens)
            kw["search_alg"] = tw.optuna_searcher([p for p, _ in done], [r for _, r in done], base.seed)
            self._fit(trainable, tw.optuna_space(spec, base, paths), left, kw, recorder)

    def _group_done(self, ledger: Ledger, base: RunSpec) -> list[tuple[dict, float]]:
        """Finished optuna trials of ``base``'s group: ([{lr, batch_tokens}], loss) pairs."""
        import json

        out = []
        for row in ledger.table().to_dict("records"):
            if row["status"] != "done" or row["run_id"] == base.run_id:
                continue
            cfg = json.loads(row["config_json"])
            if (cfg["width"], cfg["depth"], cfg["seed"]) == (base.width, base.depth, base.seed):
                point = {"lr": cfg["lr"]}
                if len(self.spec.batch_tokens) > 1:
                    point["batch_tokens"] = cfg["batch_tokens"]
                out.append((point, float(row["final_val_loss"])))
        return out

    def _fit(self, trainable, space: dict, num_samples: int, kw: dict,
             recorder: SweepRecorder) -> None:
        from ray import tune

        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")   # verbose=0 then prints nothing
        name = f"tune-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.time_ns() % 10**6}"
        storage = tw.tune_storage(self.store)
        tuner = tune.Tuner(
            trainable, param_space=space,
            tune_config=tune.TuneConfig(num_samples=num_samples,
                                        max_concurrent_trials=self.spec.max_concurrent,
                                        trial_dirname_creator=_trial_dirname,
                                        reuse_actors=True, **kw),
            run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0,
                                      callbacks=[make_tune_callback(recorder, tw.cfg_of)],
                                      failure_config=tune.FailureConfig(max_failures=0)))
        import logging

        quiet = logging.getLogger("ray.tune")
        level = quiet.level
        quiet.setLevel(logging.ERROR)   # no per-trial result files: silence "could not fetch"
        try:
            tuner.fit()
        finally:
            quiet.setLevel(level)


def _cost(cfg: RunSpec) -> float:
    """Approximate training FLOPs of a run (a branch only trains its cooldown)."""
    from orchestrator.train.model import flops_per_token

    per_token = flops_per_token(cfg.width, cfg.depth, cfg.head_dim, cfg.vocab_size, cfg.seq_len)["exact"]
    return per_token * (cfg.tokens - (cfg.branch_from_tokens or 0))


def _trial_dirname(trial: Any) -> str:
    """Short trial directory names (Tune's default embeds the whole config)."""
    return str(trial.trial_id)


class _Progress:
    """Rich progress bar on a TTY (runs finished/total, tokens/s), plain lines otherwise."""

    def __init__(self, total: int, ledger: Ledger, enabled: bool):
        self.total, self.ledger, self.enabled = total, ledger, enabled
        self.tty = enabled and sys.stderr.isatty()
        self._plain = progress_printer(total) if enabled and not self.tty else None
        self._bar = None

    def __enter__(self) -> "_Progress":
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("runs", total=self.total, speed="",
                                            completed=self._finished())
        return self

    def _finished(self) -> int:
        return sum(s in ("done", "diverged", "failed") for s in self.ledger.statuses().values())

    def update(self, recorder: SweepRecorder) -> None:
        """Refresh after an event."""
        if self._bar is not None:
            self._bar.update(self._task, completed=self._finished(),
                             speed=f"{recorder.tokens_per_s:,.0f} tok/s")
        elif self._plain is not None:
            self._plain(recorder)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
