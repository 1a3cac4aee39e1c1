"""The run ledger: which runs of a sweep are pending, running, done, diverged or failed.

Truth is an append-only event log: every status change is one small immutable Parquet part in
``<sweep>/runs/`` (written atomically, see :mod:`orchestrator.runs.store`). Reads merge the events
per ``run_id`` with "latest status wins", except that a ``done`` is never overridden by a later
``pending``/``running`` (so a stale event cannot lose a finished run). After every event the
merged table is rewritten atomically as ``<sweep>/runs.parquet`` (one row per run), which is
what ``laws`` and the CLI read. A SIGKILL at any instant leaves both readable.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable, Union

import pandas as pd

from orchestrator.runs.store import SEQ_COL, Store, append_rows, compact_tag, read_parts, write_view
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
    row = {
        "sweep": cfg.sweep, "run_id": cfg.run_id, "parent_run_id": cfg.parent_run_id,
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


def merge_events(events: pd.DataFrame) -> pd.DataFrame:
    """One row per run: the latest event wins, but a ``done`` is only replaced by a ``done``."""
    if events.empty:
        return pd.DataFrame(columns=RUN_COLUMNS)
    latest: dict[str, dict] = {}
    for row in events.sort_values(SEQ_COL, kind="stable").to_dict("records"):
        prev = latest.get(row["run_id"])
        if prev is not None and prev["status"] == "done" and row["status"] != "done":
            continue
        latest[row["run_id"]] = row
    df = pd.DataFrame(list(latest.values()))
    cols = [c for c in RUN_COLUMNS if c in df.columns]
    return df[cols].reset_index(drop=True)


class Ledger:
    """Status of every run of one sweep directory (event log + ``runs.parquet`` view)."""

    def __init__(self, store: Union[Store, str, Path]):
        self.store = store if isinstance(store, Store) else Store(store)
        self.store.makedirs(_EVENTS)
        if len(self.store.listdir(_EVENTS)) > 200:
            compact_tag(self.store, _EVENTS, _TAG)
        self._events = read_parts(self.store, _EVENTS)
        self._table = merge_events(self._events)

    def table(self) -> pd.DataFrame:
        """The merged runs table (one row per run)."""
        return self._table.copy()

    def status(self, run_id: str) -> str | None:
        """The current status of ``run_id`` (None if the ledger has never seen it)."""
        hit = self._table[self._table["run_id"] == run_id] if len(self._table) else self._table
        return None if hit.empty else str(hit["status"].iloc[0])

    def statuses(self) -> dict[str, str]:
        """``{run_id: status}`` for every run in the ledger."""
        if self._table.empty:
            return {}
        return dict(zip(self._table["run_id"], self._table["status"]))

    def row(self, run_id: str) -> dict | None:
        """The merged row of ``run_id`` as a dict."""
        hit = self._table[self._table["run_id"] == run_id] if len(self._table) else self._table
        return None if hit.empty else hit.iloc[0].to_dict()

    def record_many(self, rows: Iterable[dict]) -> None:
        """Append events (one part file) and refresh ``runs.parquet`` atomically."""
        rows = list(rows)
        if not rows:
            return
        name = append_rows(self.store, _EVENTS, rows, tag=_TAG)
        new = read_parts(self.store, _EVENTS, names=[name])
        self._events = pd.concat([self._events, new], ignore_index=True, sort=False) \
            if len(self._events) else new
        self._table = merge_events(self._events)
        write_view(self.store, "runs.parquet", self._table)

    def record(self, cfg: RunSpec, status: str, **fields: Any) -> None:
        """Record one status change of ``cfg``'s run."""
        self.record_many([run_row(cfg, status, **fields)])

    def add_pending(self, cfgs: Iterable[RunSpec]) -> list[RunSpec]:
        """Record ``pending`` for runs the ledger has not seen; returns the runs to (re)run.

        Runs already ``done`` or ``diverged`` are skipped; ``running``/``failed``/``pending``
        ones are returned (they resume from their checkpoints).
        """
        known = self.statuses()
        fresh = [c for c in cfgs if c.run_id not in known]
        self.record_many(run_row(c, "pending") for c in fresh)
        return [c for c in cfgs if known.get(c.run_id) not in FINISHED]


def read_runs(sweep_dir: Union[str, Path, Store]) -> pd.DataFrame:
    """The runs table of a sweep directory (from the event log, else ``runs.parquet``)."""
    store = sweep_dir if isinstance(sweep_dir, Store) else Store(sweep_dir)
    if store.listdir(_EVENTS):
        return merge_events(read_parts(store, _EVENTS))
    if store.exists("runs.parquet"):
        with store.fs.open_input_file(store.path("runs.parquet")) as fh:
            import pyarrow.parquet as pq
            return pq.read_table(fh).to_pandas()
    return pd.DataFrame(columns=RUN_COLUMNS)
