"""The one way to read a sweep directory: spec, runs, metrics, test-time rows, roles, checkpoints.

    sd = SweepDir("scalelab_runs/quickstart")      # or "s3://bucket/sweeps/quickstart"
    sd.runs()          # one row per run (ledger events merged, else runs.parquet)
    sd.metrics()       # training step rows, deduplicated on (run_id, step)
    sd.tts()           # test-time rows (tts.parquet + parts), deduplicated on their key
    sd.law_runs()      # finished runs the training law is fitted to (no WSD trunks)
    sd.models()        # done runs with a checkpoint: run_id, N, D, role, checkpoint

Every reader of a sweep — the report, the demo, ``scalelab sweep status|runs``, ``scalelab tts``
and a test-time spec's ``{sweep: DIR}`` models — goes through this class, so a corrupt file or
a table of the wrong schema (a required column missing, text where numbers belong) is ONE
:class:`~orchestrator.runs.store.StoreError` line naming the file, wherever it is read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd
import yaml

from evaluators.rows import KEY as TTS_KEY
from orchestrator.runs.ledger import read_runs
from orchestrator.runs.store import RowTable, Store, StoreError, read_metrics

__all__ = ["SweepDir", "TTS_KEY", "law_runs", "roles", "check_schema"]

# table -> (required columns, columns that must be numeric where present)
SCHEMAS = {
    "runs": (("run_id", "status"),
             ("N", "N_total", "D", "C", "C_6nd", "width", "depth", "lr", "batch", "seed",
              "final_val_loss", "steps")),
    "metrics": (("run_id", "step"),
                ("step", "tokens", "flops", "lr", "train_loss", "val_loss", "tokens_per_s", "wall_s")),
    "tts": (("model_id", "method", "budget", "correct"),     # older rows lack some key columns
            ("budget", "max_tokens", "seed", "N", "prompt_tokens", "completion_tokens",
             "policy_flops", "reward_flops")),
}


def check_schema(df: pd.DataFrame, table: str, where: str) -> pd.DataFrame:
    """``df`` if it has the columns and column types of ``table``; else a one-line
    :class:`StoreError` naming ``where`` (the file or directory it was read from)."""
    if df.empty:
        return df
    required, numeric = SCHEMAS[table]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise StoreError(f"{where}: not a {table} table of this version (no column {missing[0]!r})")
    for c in numeric:
        if c in df.columns and not (pd.api.types.is_numeric_dtype(df[c]) or df[c].isna().all()):
            raise StoreError(f"{where}: column {c!r} must hold numbers, got {df[c].dtype} "
                             f"(e.g. {df[c].dropna().iloc[0]!r})")
    return df


def roles(runs: pd.DataFrame) -> pd.Series:
    """``trunk`` (a WSD stable phase), ``branch`` (a WSD cooldown) or ``run`` for every run.

    Uses the ledger's ``role`` column where it is set; otherwise a run other runs branch from
    and trained at constant LR is a trunk, a run with a parent is a branch.
    """
    if runs.empty:
        return pd.Series([], dtype=object, index=runs.index)
    parent = runs["parent_run_id"] if "parent_run_id" in runs.columns else pd.Series(None, index=runs.index)
    parents = set(parent.dropna().astype(str))
    derived = pd.Series("run", index=runs.index, dtype=object)
    trunk = runs["run_id"].astype(str).isin(parents)
    if "schedule" in runs.columns:
        trunk &= runs["schedule"].astype(str) == "constant"
    derived[trunk] = "trunk"
    derived[parent.notna() & (parent.astype(str) != "")] = "branch"
    if "role" in runs.columns:
        given = runs["role"]
        return given.where(given.notna() & (given.astype(str) != ""), derived).astype(object)
    return derived


def law_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs the training law is fitted to: status ``done``, a finite positive final validation
    loss, and not a WSD trunk (a constant-LR trunk's loss has no cooldown)."""
    if runs.empty or "status" not in runs.columns:
        return runs.iloc[0:0]
    loss = pd.to_numeric(runs["final_val_loss"], errors="coerce")
    ok = (runs["status"] == "done") & np.isfinite(loss) & (loss > 0) & (roles(runs) != "trunk")
    return runs[ok].sort_values(["N", "D"]).reset_index(drop=True)


class SweepDir:
    """A sweep directory on a local path or a pyarrow filesystem URI (read side)."""

    def __init__(self, where: Union[str, Path, Store]):
        self.store = where if isinstance(where, Store) else Store(where)

    @classmethod
    def existing(cls, where: Union[str, Path], what: str = "dir") -> "SweepDir":
        """A sweep directory that must already exist (a reader's argument): a missing path or a
        file is a one-line :class:`StoreError` naming ``what``."""
        sd = cls(where)
        info = sd.store.fs.get_file_info(sd.store.root)
        import pyarrow.fs as pafs

        if info.type == pafs.FileType.NotFound and sd.store.local:
            raise StoreError(f"{what}: {where} does not exist")
        if info.type == pafs.FileType.File:
            raise StoreError(f"{what}: {where} is a file, not a sweep directory")
        return sd

    @property
    def path(self) -> str:
        """The directory (local path or URI)."""
        return self.store.root if self.store.local else self.store.uri

    def has_runs(self) -> bool:
        """Whether a ledger (``runs/`` events or ``runs.parquet``) is present."""
        return self.store.exists("runs.parquet") or bool(self.store.listdir("runs"))

    def has_tts(self) -> bool:
        """Whether test-time rows (``tts.parquet`` or ``tts/`` parts) are present."""
        return self.store.exists("tts.parquet") or bool(self.store.listdir("tts"))

    def spec(self) -> dict:
        """The stored ``spec.yaml`` as a mapping (empty when missing)."""
        if not self.store.exists("spec.yaml"):
            return {}
        try:
            spec = yaml.safe_load(self.store.read_bytes("spec.yaml").decode("utf-8")) or {}
        except (UnicodeDecodeError, yaml.YAMLError):
            raise StoreError(f"{self.store.path('spec.yaml')}: not a readable YAML spec") from None
        if not isinstance(spec, dict):
            raise StoreError(f"{self.store.path('spec.yaml')}: not a mapping of spec fields")
        return spec

    def runs(self) -> pd.DataFrame:
        """One row per run (the ledger's merged events, else ``runs.parquet``)."""
        where = self.store.path("runs/" if self.store.listdir("runs") else "runs.parquet")
        return check_schema(read_runs(self.store), "runs", where)

    def metrics(self) -> pd.DataFrame:
        """Training step rows, deduplicated on (run_id, step)."""
        where = self.store.path("metrics/" if self.store.listdir("metrics") else "metrics.parquet")
        return check_schema(read_metrics(self.store), "metrics", where)

    def tts_table(self) -> RowTable:
        """The test-time rows as a :class:`~orchestrator.runs.store.RowTable` (for writers)."""
        return RowTable(self.store, "tts", TTS_KEY)

    def tts(self) -> pd.DataFrame:
        """Test-time rows (view + parts), deduplicated on :data:`TTS_KEY`."""
        return check_schema(self.tts_table().read(), "tts", self.store.path("tts.parquet"))

    def law_runs(self, runs: pd.DataFrame | None = None) -> pd.DataFrame:
        """:func:`law_runs` of this sweep's runs (or of ``runs``)."""
        return law_runs(self.runs() if runs is None else runs)

    def mirror(self, local: Path) -> Path:
        """Copy the tables a report reads (``spec.yaml``, runs, metrics, tts, fits) to the
        local directory ``local``; returns it."""
        local = Path(local)
        local.mkdir(parents=True, exist_ok=True)
        for name in ("spec.yaml", "runs.parquet", "metrics.parquet", "tts.parquet", "tts_spec.yaml"):
            if self.store.exists(name):
                (local / name).write_bytes(self.store.read_bytes(name))
        for sub in ("runs", "metrics", "tts", "fits"):
            if self.store.listdir(sub):
                self.store.download(sub, local / sub)
        return local

    def checkpoint(self, value: str) -> str:
        """A stored checkpoint path made absolute (relative ones are below this directory)."""
        if "://" in value or Path(value).is_absolute():
            return value
        return self.store.path(value) if self.store.local else self.store.uri_of(value)

    def models(self, runs: pd.DataFrame | None = None) -> pd.DataFrame:
        """Done runs with a checkpoint: ``run_id, N, D, role, checkpoint`` (absolute)."""
        r = self.runs() if runs is None else runs
        cols = ["run_id", "N", "D", "role", "checkpoint"]
        if r.empty or not {"run_id", "status", "checkpoint"} <= set(r.columns):
            return pd.DataFrame(columns=cols)
        r = r.assign(role=roles(r))
        ok = (r["status"] == "done") & r["checkpoint"].notna() & (r["checkpoint"].astype(str) != "")
        out = r[ok].drop_duplicates("run_id", keep="last").copy()
        out["checkpoint"] = [self.checkpoint(str(c)) for c in out["checkpoint"]]
        for c in ("N", "D"):
            if c not in out.columns:
                out[c] = np.nan
        return out[cols].reset_index(drop=True)
