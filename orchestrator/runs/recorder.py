"""Live bookkeeping of a sweep: metric rows → store, run status → ledger, rows → subscribers.

:class:`SweepRecorder` holds the logic (plain Python, unit-testable without Ray);
:class:`TuneCallback` adapts it to Ray Tune's ``Callback`` hooks on the driver. A trial reports
``{"row": <step row>}`` for every step row and ``{"final": <TrainResult fields>}`` once at the
end (see :mod:`orchestrator.runs.tune`).

Subscribers are callables or objects with ``add(row)`` (e.g. ``laws.LiveFitter``): they get
every step row and every final run row (the ledger row, ``status`` set) as it happens. A
subscriber that raises is reported once and then ignored; it never stops the sweep.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from orchestrator.runs.ledger import Ledger, role_of, run_row
from orchestrator.runs.store import Store, append_rows, compact_parts, compact_tag
from orchestrator.spec.run import RunSpec

STEP_COLUMNS = ("sweep", "run_id", "parent_run_id", "step", "tokens", "flops", "flops_6nd",
                "lr", "train_loss", "val_loss", "tokens_per_s", "wall_s", "mfu")
_METRIC_TAG = "rec"                # metrics/ parts of the queued recorder (all runs in one)
_RESULT_FIELDS = ("N", "N_total", "D", "C", "C_6nd", "final_val_loss", "checkpoint", "steps")


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


class SweepRecorder:
    """Writes rows and status changes of one sweep; thread-safe; used on the driver.

    With the ledger's :class:`~orchestrator.runs.queue.AppendQueue` (what a sweep uses), step
    rows and ledger events are queued and published by its writer thread, batched (step rows
    of all runs in one ``metrics/`` part per write, every ``compact_every`` such parts merged
    into one), so a Tune callback never waits for storage. Rows are queued before the final
    event of their run and the ledger's part of a batch is written last: a run is never
    ``done`` on storage before its step rows. :meth:`close` publishes everything queued.
    Without a queue every row is its own part and a run's parts are merged when it ends.
    """

    def __init__(self, store: Store, ledger: Ledger, subscribers: Iterable[Any] = (),
                 on_progress: Callable[["SweepRecorder"], None] | None = None,
                 compact_every: int = 100):
        self.store, self.ledger = store, ledger
        self.queue = ledger.queue
        self.compact_every = compact_every
        self._metric_parts: list[str] = []       # queued mode: parts not merged yet
        if self.queue is not None:
            self.queue.on_part(self._published)
        self.subscribers = list(subscribers)
        self.on_progress = on_progress
        self.finished: dict[str, str] = {}        # run_id -> final status (this session)
        self.speed: dict[str, float] = {}         # run_id -> latest tokens/s
        self._final_seen: set[str] = set()
        self._broken: set[int] = set()
        self._lock = threading.Lock()

    # -------------------------------------------------------------- subscribers
    def _publish(self, row: dict) -> None:
        for i, sub in enumerate(self.subscribers):
            if i in self._broken:
                continue
            try:
                (sub.add if hasattr(sub, "add") else sub)(row)
            except Exception as exc:  # noqa: BLE001 - a subscriber never stops the sweep
                self._broken.add(i)
                print(f"scalelab: subscriber {sub!r} failed ({exc}); ignoring it", file=sys.stderr)

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self)

    # -------------------------------------------------------------- events
    def start(self, cfg: RunSpec) -> None:
        """A trial for ``cfg`` started: status ``running``."""
        with self._lock:
            self.ledger.record_many([run_row(cfg, "running", run_id=cfg.run_id)])
        self._progress()

    def step(self, cfg: RunSpec, row: dict) -> None:
        """One step row: append to ``metrics/`` (its own atomic part) and publish it."""
        out = {k: row.get(k) for k in STEP_COLUMNS if k in row}
        rid = cfg.run_id
        out.update(sweep=cfg.sweep, run_id=rid, parent_run_id=cfg.parent_run_id)
        for k, v in row.items():           # keep extra numeric columns the trainer adds
            if k not in out and isinstance(v, (int, float)) and not k.startswith("_"):
                out[k] = v
        with self._lock:
            if self.queue is not None:
                self.queue.put("metrics", [out], tag=_METRIC_TAG)
            else:
                append_rows(self.store, "metrics", [out], tag=rid)
            if _finite(out.get("tokens_per_s")):
                self.speed[rid] = float(out["tokens_per_s"])
        self._publish(out)
        self._progress()

    def final(self, cfg: RunSpec, result: dict) -> dict:
        """The trainer's final result: record ``done``/``diverged``/``failed`` and publish."""
        status = result.get("status", "failed")
        if status not in ("done", "diverged", "failed"):
            status, result = "failed", {**result, "reason": f"unknown trainer status {status!r}"}
        fields = {k: result.get(k) for k in _RESULT_FIELDS if result.get(k) is not None}
        rid = cfg.run_id
        row = run_row(cfg, status, reason=str(result.get("reason") or ""), run_id=rid, **fields)
        with self._lock:
            self.ledger.record_many([row])
            self._final_seen.add(rid)
            self.finished[rid] = status
            self.speed.pop(rid, None)
            if self.queue is None:
                compact_tag(self.store, "metrics", rid, dedupe_on=("run_id", "step"))
        if role_of(cfg) != "trunk":        # a constant-LR trunk is no point of the N×D grid
            self._publish(row)
        self._progress()
        return row

    def fail(self, cfg: RunSpec, reason: str) -> None:
        """The trial raised or ended without a final result: status ``failed``."""
        reason = " ".join(str(reason).split())[:500]
        rid = cfg.run_id
        with self._lock:
            if rid in self._final_seen:
                return
            self.ledger.record_many([run_row(cfg, "failed", reason=reason, run_id=rid)])
            self.finished[rid] = "failed"
            self.speed.pop(rid, None)
        self._progress()

    def complete(self, cfg: RunSpec, last_row: dict | None = None) -> None:
        """The trial ended normally; if it never sent a final result (ASHA stop), record it."""
        if cfg.run_id in self._final_seen:
            return
        if last_row is not None and _finite(last_row.get("val_loss")):
            self.final(cfg, {"status": "done", "reason": "stopped early by the asha scheduler",
                             "D": last_row.get("tokens"), "final_val_loss": last_row["val_loss"]})
        else:
            self.fail(cfg, "trial ended without a final result")

    def _published(self, table_dir: str, name: str, rows: list) -> None:
        """(writer thread) A ``metrics/`` part is on storage; merge them every ``compact_every``."""
        if table_dir != "metrics":
            return
        self._metric_parts.append(name)
        if len(self._metric_parts) > self.compact_every:
            compact_parts(self.store, "metrics", self._metric_parts, _METRIC_TAG,
                          dedupe_on=("run_id", "step"))
            self._metric_parts = []     # the merged part stays as it is (one per compaction)

    def close(self) -> None:
        """Publish every queued row and event, merge this recorder's ``metrics/`` parts (one
        file for readers of the finished sweep; the ledger's events stay as they are, so their
        history is kept), rewrite the ledger's view."""
        if self.queue is not None:
            self.queue.wait()
            ends = (f"-{_METRIC_TAG}.parquet", f"-{_METRIC_TAG}.c.parquet")
            compact_parts(self.store, "metrics",
                          [n for n in self.store.listdir("metrics") if n.endswith(ends)],
                          _METRIC_TAG, dedupe_on=("run_id", "step"))
            self._metric_parts = []
        self.ledger.flush()

    @property
    def tokens_per_s(self) -> float:
        """Sum of the latest tokens/s of the running trials."""
        return float(sum(self.speed.values()))


# Tune pickles its callbacks with the experiment state; recorders (locks, open progress bars)
# stay in this driver-side registry and the callback only carries the key.
_RECORDERS: dict[int, SweepRecorder] = {}
_CALLBACK_CLASS: list = []


def _callback_class():
    """The Tune ``Callback`` subclass (defined on first use so this module imports without Ray)."""
    if _CALLBACK_CLASS:
        return _CALLBACK_CLASS[0]
    from ray.tune import Callback

    class TuneCallback(Callback):
        """Driver-side hooks: start → running, rows → store, final → ledger, error → failed."""

        def __init__(self, key: int, cfg_of: Callable[[dict], RunSpec]) -> None:
            self.key, self.cfg_of = key, cfg_of
            self.last_row: dict[str, dict] = {}
            self.cfgs: dict[str, RunSpec] = {}     # one RunSpec per trial (its run_id is cached)

        def __getstate__(self) -> dict:
            return {"key": self.key, "cfg_of": self.cfg_of, "last_row": {}, "cfgs": {}}

        def cfg(self, trial) -> RunSpec:
            cfg = self.cfgs.get(trial.trial_id)
            if cfg is None:
                cfg = self.cfgs[trial.trial_id] = self.cfg_of(trial.config)
            return cfg

        @property
        def rec(self) -> SweepRecorder:
            return _RECORDERS[self.key]

        def on_trial_start(self, iteration, trials, trial, **info):
            self.cfgs.pop(trial.trial_id, None)     # a retried trial may carry a new config
            self.rec.start(self.cfg(trial))

        def on_trial_result(self, iteration, trials, trial, result, **info):
            cfg = self.cfg(trial)
            if isinstance(result.get("row"), dict):
                self.last_row[trial.trial_id] = result["row"]
                self.rec.step(cfg, result["row"])
            if isinstance(result.get("final"), dict):
                self.rec.final(cfg, result["final"])

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.rec.complete(self.cfg(trial), self.last_row.pop(trial.trial_id, None))
            self.cfgs.pop(trial.trial_id, None)

        def on_trial_error(self, iteration, trials, trial, **info):
            self.rec.fail(self.cfg(trial), _error_text(trial))
            self.cfgs.pop(trial.trial_id, None)

    TuneCallback.__module__ = __name__
    TuneCallback.__qualname__ = "TuneCallback"
    globals()["TuneCallback"] = TuneCallback
    _CALLBACK_CLASS.append(TuneCallback)
    return TuneCallback


def make_tune_callback(recorder: SweepRecorder, cfg_of: Callable[[dict], RunSpec]):
    """A Ray Tune ``Callback`` forwarding trial events to ``recorder``.

    ``cfg_of(trial.config)`` (a module-level function) recovers the trial's RunSpec.
    """
    _RECORDERS[id(recorder)] = recorder
    return _callback_class()(id(recorder), cfg_of)


def _error_text(trial: Any) -> str:
    """The last meaningful line of a failed trial's error (type: message)."""
    text = ""
    for attr in ("error_msg", "error_file"):
        val = getattr(trial, attr, None)
        if not val:
            continue
        if attr == "error_file":
            try:
                with open(val) as fh:
                    val = fh.read()
            except OSError:
                continue
        text = str(val)
        break
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ":" in ln and not ln.startswith(("File ", "^", "~")):
            return ln
    return lines[-1] if lines else "trial raised an exception"


def progress_printer(total: int, stream=None) -> Callable[[SweepRecorder], None]:
    """Plain-line progress (non-TTY): one line each time a run finishes."""
    stream = stream or sys.stderr
    seen: set[str] = set()
    t0 = time.time()

    def _print(rec: SweepRecorder) -> None:
        for run_id, status in list(rec.finished.items()):
            if run_id not in seen:
                seen.add(run_id)
                print(f"[{time.time() - t0:7.1f}s] run {run_id} {status} ({len(seen)}/{total} "
                      f"finished this session; {rec.tokens_per_s:,.0f} tokens/s)", file=stream,
                      flush=True)

    return _print


_SEARCHER_CLASS: list = []


def make_dependency_searcher(recorder: SweepRecorder, cfgs: list[RunSpec], paths: dict):
    """A Tune ``Searcher`` handing out ``cfgs`` in order, each WSD branch only once its trunk
    has saved the state at the branch's token count (``at_tokens/<t>/state.pt``, while the trunk
    still trains on) or is ``done``; a branch of a trunk that diverged/failed before saving that
    state is marked ``failed`` and skipped.

    One Tuner then runs trunks and branches without a phase barrier, reusing warm trial actors:
    a free slot takes a branch as soon as its branch point exists, instead of idling until the
    whole trunk has finished.
    """
    _RECORDERS[id(recorder)] = recorder
    if not _SEARCHER_CLASS:
        from ray.tune.search import Searcher

        class DependencySearcher(Searcher):
            """Suggests the first queued run whose parent (if any) has finished."""

            def __init__(self, key: int, queue: list[dict], paths: dict) -> None:
                super().__init__()
                self.key, self.queue, self.paths = key, queue, paths
                self.session = {d["run_id"] for d in queue}

            def suggest(self, trial_id: str):
                rec = _RECORDERS[self.key]
                i = 0
                while i < len(self.queue):
                    d = self.queue[i]
                    parent = d["cfg"].get("parent_run_id")
                    if parent:
                        if parent in self.session:
                            status = rec.finished.get(parent)   # None: still queued/running
                        else:
                            status = rec.ledger.status(parent)
                        if status is None and self._branch_point_saved(parent, d["cfg"]):
                            status = "done"           # its state is on disk: start it now
                        if status is None:
                            i += 1
                            continue
                        if status != "done":
                            rec.fail(RunSpec.from_dict(d["cfg"]), f"parent run {parent} is {status}")
                            self.queue.pop(i)
                            continue
                    self.queue.pop(i)
                    return {"run": d["cfg"], "paths": self.paths}
                return Searcher.FINISHED if not self.queue else None

            def _branch_point_saved(self, parent: str, cfg: dict) -> bool:
                """Whether the running trunk ``parent`` has written the state this branch starts
                from (written atomically, so it exists whole or not at all)."""
                t = cfg.get("branch_from_tokens")
                root = self.paths.get("checkpoints")
                return bool(t and root and
                            (Path(root) / parent / "at_tokens" / str(t) / "state.pt").exists())

            def set_search_properties(self, metric, mode, config, **spec):
                return True        # the runs are fixed; metric/mode only matter to schedulers

            def on_trial_complete(self, trial_id, result=None, error=False):
                return None

        DependencySearcher.__module__ = __name__
        DependencySearcher.__qualname__ = "DependencySearcher"
        globals()["DependencySearcher"] = DependencySearcher
        _SEARCHER_CLASS.append(DependencySearcher)
    queue = [{"run_id": c.run_id, "cfg": c.to_dict()} for c in cfgs]
    return _SEARCHER_CLASS[0](id(recorder), queue, paths)
