"""The run ledger: which runs of a sweep are pending, running, done, diverged or failed.

Truth is an append-only event log: status changes are small immutable Parquet parts in
``<sweep>/runs/`` (written atomically, see :mod:`orchestrator.runs.store`; a sweep batches the
events that arrive while the previous part is being written into one part). Reads merge the events
per ``run_id`` with "latest status wins", except that a ``done`` is never overridden by a later
``pending``/``running`` (so a stale event cannot lose a finished run). The merged table is
rewritten atomically as ``<sweep>/runs.parquet`` (one row per run) every few seconds and
when the sweep ends; readers (:func:`read_runs`) merge the events themselves, so they are
never behind. A SIGKILL at any instant leaves both readable.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Union

import pandas as pd

from orchestrator.runs.queue import AppendQueue
from orchestrator.runs.store import (
    SEQ_COL,
    Store,
    StoreError,
    append_rows,
    compact_tag,
    read_parts,
    read_table,
    write_view,
)
from orchestrator.spec.run import RunSpec

STATUSES = ("pending", "running", "done", "diverged", "failed")
FINISHED = ("done", "diverged")          # never re-run
RUN_COLUMNS = ["sweep", "run_id", "parent_run_id", "role", "status", "reason", "N", "N_total",
               "D", "C", "C_6nd", "width", "depth", "lr", "batch", "schedule", "seed",
               "final_val_loss", "checkpoint", "steps", "config_json", "updated_at"]
_EVENTS = "runs"
_TAG = "ev"


def role_of(cfg: RunSpec) -> str:
    """``trunk`` (a WSD stable phase), ``branch`` (a WSD cooldown) or ``run``."""
    if cfg.parent_run_id:
        return "branch"
    return "trunk" if cfg.save_at_tokens and cfg.schedule == "constant" else "run"


def run_row(cfg: RunSpec, status: str, **fields: Any) -> dict[str, Any]:
    """A complete ledger row for ``cfg`` with ``status`` and any result ``fields``."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    try:
        from orchestrator.train.model import param_counts
        n, n_total = param_counts(cfg.width, cfg.depth, cfg.head_dim, cfg.vocab_size)
    except Exception:  # noqa: BLE001 - counts are informative only
        n = n_total = None
    run_id = fields.pop("run_id", None) or cfg.run_id     # callers that know it save a hash
    row = {
        "sweep": cfg.sweep, "run_id": run_id, "parent_run_id": cfg.parent_run_id,
        "role": role_of(cfg), "status": status, "reason": "", "N": n, "N_total": n_total,
        "D": cfg.tokens, "C": None, "C_6nd": None, "width": cfg.width, "depth": cfg.depth,
        "lr": cfg.lr, "batch": cfg.batch_tokens, "schedule": cfg.schedule, "seed": cfg.seed,
        "final_val_loss": None, "checkpoint": None, "steps": None,
        "config_json": json.dumps(cfg.to_dict(), sort_keys=True), "updated_at": time.time(),
    }
    for k, v in fields.items():
        if k not in RUN_COLUMNS:
            raise KeyError(f"unknown ledger column {k!r}")
        row[k] = str(v) if k == "checkpoint" and v is not None else v
    return row


def _merge_rows(latest: dict[str, dict], rows: Iterable[dict]) -> dict[str, dict]:
    """Fold events (in sequence order) into ``{run_id: row}``: the latest event wins, but a
    ``done`` is only replaced by a ``done``."""
    for row in rows:
        prev = latest.get(row["run_id"])
        if prev is not None and prev["status"] == "done" and row["status"] != "done":
            continue
        latest[row["run_id"]] = row
    return latest


def _frame(latest: dict[str, dict]) -> pd.DataFrame:
    if not latest:
        return pd.DataFrame(columns=RUN_COLUMNS)
    df = pd.DataFrame(list(latest.values()))
    return df[[c for c in RUN_COLUMNS if c in df.columns]].reset_index(drop=True)


def merge_events(events: pd.DataFrame) -> pd.DataFrame:
    """One row per run: the latest event wins, but a ``done`` is only replaced by a ``done``."""
    if events.empty:
        return pd.DataFrame(columns=RUN_COLUMNS)
    missing = {"run_id", "status"} - set(events.columns)
    if missing:
        raise StoreError(f"runs/: ledger events lack column {sorted(missing)[0]!r}")
    ordered = events.sort_values(SEQ_COL, kind="stable") if SEQ_COL in events.columns else events
    return _frame(_merge_rows({}, ordered.to_dict("records")))


class Ledger:
    """Status of every run of one sweep directory (event log + ``runs.parquet`` view).

    :meth:`record_many` folds events into an in-memory table at once (O(events recorded), not
    O(runs)) and publishes them as one event part (atomically) — synchronously, or, with an
    :class:`~orchestrator.runs.queue.AppendQueue`, from its writer thread, batched with
    whatever else is queued (the caller never waits for storage; :meth:`flush` does). The
    ``runs.parquet`` view is rewritten at most every ``view_every_s`` seconds and by
    :meth:`flush`; every ``compact_every`` parts the parts this ledger has read or written are
    replaced by ONE part holding what they merge to (written first, then the absorbed parts
    removed; parts another process wrote meanwhile are left alone), so a sweep of thousands of
    runs keeps both the driver and readers (``scalelab sweep status``) fast.
    """

    def __init__(self, store: Union[Store, str, Path], view_every_s: float = 5.0,
                 compact_every: int = 200, queue: AppendQueue | None = None):
        self.store = store if isinstance(store, Store) else Store(store)
        self.view_every_s, self.compact_every = view_every_s, compact_every
        self.store.makedirs(_EVENTS)
        if len(self.store.listdir(_EVENTS)) > compact_every:
            compact_tag(self.store, _EVENTS, _TAG)
        self._absorbed = self.store.listdir(_EVENTS)      # parts folded into _durable
        events = read_parts(self.store, _EVENTS, names=self._absorbed)
        self._latest = _merge_rows({}, merge_events(events).to_dict("records")) if len(events) else {}
        self._durable = dict(self._latest)                 # what the published parts merge to
        self._table: pd.DataFrame | None = None
        self._view_at, self._dirty = 0.0, False
        self._io = threading.Lock()                        # view writes and compaction
        self.queue = queue
        if queue is not None:
            queue.on_part(self._published)

    def table(self) -> pd.DataFrame:
        """The merged runs table (one row per run)."""
        table = self._table
        if table is None:
            table = self._table = _frame(dict(self._latest))
        return table.copy()

    def status(self, run_id: str) -> str | None:
        """The current status of ``run_id`` (None if the ledger has never seen it)."""
        row = self._latest.get(run_id)
        return None if row is None else str(row["status"])

    def statuses(self) -> dict[str, str]:
        """``{run_id: status}`` for every run in the ledger."""
        return {k: str(v["status"]) for k, v in list(self._latest.items())}

    def row(self, run_id: str) -> dict | None:
        """The merged row of ``run_id`` as a dict."""
        row = self._latest.get(run_id)
        return None if row is None else {k: row.get(k) for k in RUN_COLUMNS if k in row}

    def record_many(self, rows: Iterable[dict]) -> None:
        """Fold events into the table and publish them as one part (through the queue, if any)."""
        rows = [{k: r.get(k) for k in RUN_COLUMNS} for r in rows]
        if not rows:
            return
        _merge_rows(self._latest, rows)
        self._table = None
        if self.queue is not None:
            self.queue.put(_EVENTS, rows, tag=_TAG)
        else:
            self._published(_EVENTS, append_rows(self.store, _EVENTS, rows, tag=_TAG), rows)

    def _published(self, table_dir: str, name: str, rows: list[dict]) -> None:
        """An event part is on storage: absorb it; compact / rewrite the view when due."""
        if table_dir != _EVENTS:
            return
        with self._io:
            self._absorbed.append(name)
            _merge_rows(self._durable, rows)
            self._dirty = True
            if len(self._absorbed) > self.compact_every:
                self._compact()
            if time.monotonic() - self._view_at >= self.view_every_s:
                self._write_view()

    def _compact(self) -> None:
        """Replace the absorbed event parts by one part of what they merge to (no re-reading)."""
        name = append_rows(self.store, _EVENTS, _frame(self._durable), tag=_TAG)  # newest seq wins
        for n in self._absorbed:
            self.store.delete(f"{_EVENTS}/{n}")
        self._absorbed = [name]

    def _write_view(self) -> None:
        if self._dirty:
            write_view(self.store, "runs.parquet", _frame(self._durable))
            self._dirty, self._view_at = False, time.monotonic()

    def flush(self) -> None:
        """Publish every queued event, then rewrite ``runs.parquet`` (atomically) if events
        were recorded since the last write."""
        if self.queue is not None:
            self.queue.wait()
        with self._io:
            self._write_view()

    def record(self, cfg: RunSpec, status: str, **fields: Any) -> None:
        """Record one status change of ``cfg``'s run."""
        self.record_many([run_row(cfg, status, **fields)])

    def add_pending(self, cfgs: Iterable[RunSpec]) -> list[RunSpec]:
        """Record ``pending`` for runs the ledger has not seen; returns the runs to (re)run.

        Runs already ``done`` or ``diverged`` are skipped; ``running``/``failed``/``pending``
        ones are returned (they resume from their checkpoints).
        """
        cfgs = list(cfgs)
        return todo_runs(cfgs, self.statuses(), record=self.record_many)


def todo_runs(cfgs: list[RunSpec], known: dict[str, str], record=None) -> list[RunSpec]:
    """The runs of ``cfgs`` that are not finished in ``known`` (``{run_id: status}``); with
    ``record``, new runs are recorded ``pending`` through it."""
    if record is not None:
        record([run_row(c, "pending") for c in cfgs if c.run_id not in known])
    return [c for c in cfgs if known.get(c.run_id) not in FINISHED]


def read_runs(sweep_dir: Union[str, Path, Store]) -> pd.DataFrame:
    """The runs table of a sweep directory (from the event log, else ``runs.parquet``)."""
    store = sweep_dir if isinstance(sweep_dir, Store) else Store(sweep_dir)
    if store.listdir(_EVENTS):
        return merge_events(read_parts(store, _EVENTS))
    if store.exists("runs.parquet"):
        return read_table(store, "runs.parquet")
    return pd.DataFrame(columns=RUN_COLUMNS)
