"""Run a sweep on Ray Tune: ``Sweep(spec).run() -> SweepResult``.

    from orchestrator import Sweep, SweepSpec
    result = Sweep(SweepSpec.from_yaml("examples/quickstart.yaml")).run()
    result.runs            # pandas: one row per run (status, N, D, C, final_val_loss, ...)

Steps: first :meth:`Sweep.plan` checks everything a run will need and writes NOTHING — the
storage (a writable directory or a reachable bucket), the data source and its files' contents
(:meth:`~orchestrator.train.data.DataSource.check`), the tokenizer (one found in
``<sweep>/tokenizer/`` is reused only if it was built from the same data: its fingerprint is
stored beside it), the expanded runs, and (once Ray is up) that the cluster can ever hold one
trial. Only then are ``spec.yaml``, the tokenizer and the ledger written. New runs are recorded
``pending`` and runs already ``done`` or ``diverged`` are skipped; trunks and plain runs are
submitted first and each WSD branch as soon as its trunk has saved the state at the branch
point or is ``done`` (branches of a trunk that ended without that state are marked ``failed``). Unfinished runs resume from
``<sweep>/checkpoints/<run_id>/``; a trial whose worker process dies is retried by Tune
(``max_failures``) and resumes there too. Ray: ``RAY_ADDRESS`` when set (``ray job submit``),
an already initialised Ray as is, else a new local instance (shut down afterwards).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Union

import pandas as pd

from laws.atomic import atomic_write, publish_dir
from orchestrator.errors import SpecError
from orchestrator.runs import tune as tw
from orchestrator.runs.ledger import Ledger, read_runs, todo_runs
from orchestrator.runs.queue import AppendQueue
from orchestrator.runs.recorder import (
    SweepRecorder,
    make_dependency_searcher,
    make_tune_callback,
    progress_printer,
)
from orchestrator.runs.store import Store, compact_metrics, read_metrics
from orchestrator.spec.base import join_uri
from orchestrator.spec.run import RunSpec
from orchestrator.spec.sweep import SweepSpec

# laws fitted live from finished runs (WSD trunks excluded): fits/<form>_*.json
LIVE_FORMS = ("chinchilla", "power_law")
DATA_STAMP = "scalelab_data.json"      # beside a sweep's tokenizer: the data it was built from


@dataclass
class SweepPlan:
    """What :meth:`Sweep.plan` found, all checked and nothing written yet."""

    paths: dict
    cfgs: list[RunSpec]
    todo: list[RunSpec]
    vocab_size: int
    fingerprint: str
    new_tokenizer: Any = None        # a tokenizer to save (None: reuse the stored one / none)


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
        base = str(storage if storage is not None else self.spec.storage)
        self.store = Store(join_uri(base, self.spec.name))
        self.trainer = trainer
        self.subscribers = list(subscribers or [])
        self.live_fit, self.progress = live_fit, progress

    # ------------------------------------------------------------ setup
    def _paths(self) -> dict:
        if self.store.local:
            ckpt, remote = str(self.store.local_path("checkpoints")), None
        else:  # train into a local staging dir, upload finished checkpoints
            ckpt = str(Path.home() / ".cache" / "scalelab" / self.spec.name / "checkpoints")
            remote = self.store.uri_of("checkpoints")
        return {"checkpoints": ckpt, "remote_checkpoints": remote,
                "tokenizer": str(Path(ckpt).parent / "tokenizer"), "trainer": self.trainer}

    def plan(self) -> SweepPlan:
        """Check everything the sweep needs without writing anything (see the module docstring);
        a problem is a one-line :class:`~orchestrator.errors.OrchestratorError`."""
        from orchestrator.train.data import get_data_source

        self.store.check_writable()
        paths = self._paths()
        source = get_data_source({"source": self.spec.data.source, **self.spec.data.options})
        known = {}
        if self.store.exists("runs") or self.store.exists("runs.parquet"):
            runs = read_runs(self.store)
            if len(runs) and not {"run_id", "status"} <= set(runs.columns):
                raise SpecError(f"{self.store.uri_of('runs.parquet')}: not a ledger (no run_id/status)")
            known = dict(zip(runs["run_id"], runs["status"])) if len(runs) else {}
        fp = source.fingerprint()
        tok, new = self._tokenizer(source, fp, Path(paths["tokenizer"]), bool(known))
        if tok is not None:
            source.set_tokenizer(tok)
        source.check(self.spec.model.seq_len)
        vocab = len(tok) if tok is not None else int(source.vocab_size)
        cfgs = self.spec.expand(vocab)
        todo = list(cfgs) if self.spec.search.kind == "optuna" else todo_runs(cfgs, known)
        return SweepPlan(paths, cfgs, todo, vocab, fp, tok if new else None)

    def _tokenizer(self, source, fp: str, tok_dir: Path, has_runs: bool):
        """``(tokenizer, is_new)``: the stored one when it was built from the same data (same
        fingerprint, or the same tokenizer rebuilt), else a new one built in memory. A sweep
        whose runs were trained with a tokenizer of other data is refused."""
        from orchestrator.train.tokenizer import load_tokenizer

        stored = None
        if (tok_dir / "tokenizer.json").exists():
            stamp = tok_dir / DATA_STAMP
            try:
                same = stamp.exists() and json.loads(stamp.read_text()).get("fingerprint") == fp
                stored = load_tokenizer(tok_dir)
            except Exception:  # noqa: BLE001 - a damaged tokenizer dir is rebuilt
                same, stored = False, None
            if same and stored is not None:
                return stored, False
        tok = source.build_tokenizer()
        if tok is None:                      # pre-tokenized data: vocab from the source
            return None, False
        if stored is not None and stored.backend_tokenizer.to_str() == tok.backend_tokenizer.to_str():
            return stored, True              # the same tokenizer: reuse it, record the fingerprint
        if stored is not None and has_runs:
            raise SpecError(f"spec.data: {tok_dir} holds a tokenizer built from other data and "
                            f"this sweep already has runs trained with it; use a new sweep name "
                            f"or storage for this data")
        return tok, True

    def _save_tokenizer(self, tok, tok_dir: Path, fp: str) -> None:
        """Write the tokenizer and its data fingerprint (``<sweep>/tokenizer/``) atomically."""
        tmp = tok_dir.with_name(f".tokenizer-tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tok.save_pretrained(str(tmp))
        atomic_write(tmp / DATA_STAMP, json.dumps({"fingerprint": fp, "source": self.spec.data.source}))
        publish_dir(tmp, tok_dir)         # an incomplete dir from a killed run is replaced
        if not self.store.local:
            self.store.upload(tok_dir, "tokenizer")

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
        """Run (or resume) the sweep; returns the runs table and paths.

        Everything is checked first (:meth:`plan`, then the cluster's resources); nothing is
        written before those checks pass."""
        t0 = time.time()
        store, spec = self.store, self.spec
        plan = self.plan()
        ours = ensure_ray() if plan.todo else False
        queue = None
        try:
            if plan.todo:
                r = spec.resources
                tw.check_cluster(r.cpus, r.gpus, r.workers, "spec.resources")
            store.makedirs()
            store.write_bytes("spec.yaml", spec.to_yaml().encode())
            Path(plan.paths["checkpoints"]).mkdir(parents=True, exist_ok=True)
            if plan.new_tokenizer is not None:
                self._save_tokenizer(plan.new_tokenizer, Path(plan.paths["tokenizer"]), plan.fingerprint)
            queue = AppendQueue(store, last=("runs",))     # the ledger's events go last
            ledger = Ledger(store, queue=queue)
            todo = plan.todo if spec.search.kind == "optuna" else ledger.add_pending(plan.cfgs)
            total = len(plan.cfgs) * (spec.search.n_trials if spec.search.kind == "optuna" else 1)
            with _Progress(total, ledger, self.progress) as prog:
                recorder = SweepRecorder(store, ledger, self._subscribers(), on_progress=prog.update)
                if spec.search.kind == "grid":
                    self._grid(todo, plan.paths, recorder)
                else:
                    self._phase(todo, plan.paths, recorder)
                for sub in recorder.subscribers:
                    if hasattr(sub, "flush"):
                        sub.flush()
            recorder.close()                    # every queued row and event is on storage
        finally:
            if queue is not None:               # also on an error or Ctrl-C: publish what came
                queue.close(raise_error=False)
            if ours:
                import ray
                ray.shutdown()
        compact_metrics(store)
        return SweepResult(runs=ledger.table(), sweep_dir=store.uri if not store.local else store.root,
                           runs_path=store.path("runs.parquet"), metrics_path=store.path("metrics.parquet"),
                           checkpoints=plan.paths["checkpoints"], wall_s=time.time() - t0)

    def _trainable(self):
        from ray import tune

        r = self.spec.resources
        return tune.with_resources(tw.trial_fn, tw.trial_resources(r.cpus, r.gpus, r.workers))

    def _grid(self, cfgs: list[RunSpec], paths: dict, recorder: SweepRecorder) -> None:
        """Every run in ONE Tuner: trunks and plain runs first, then WSD branches, each branch
        handed out as soon as its branch point is saved (no phase barrier; warm actors are reused).
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
        tuner = tune.Tuner(
            trainable, param_space=space,
            tune_config=tune.TuneConfig(num_samples=num_samples,
                                        max_concurrent_trials=self.spec.max_concurrent,
                                        trial_dirname_creator=_trial_dirname,
                                        reuse_actors=True, **kw),
            run_config=tune.RunConfig(name=name, verbose=0, **tw.tune_storage(self.store),
                                      callbacks=[make_tune_callback(recorder, tw.cfg_of)],
                                      failure_config=tune.FailureConfig(max_failures=self.spec.max_failures)))
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
