"""Append-only, atomic storage of test-time rows: ``<dir>/tts/part-*.parquet`` + ``tts.parquet``.

Writers (Tune trials, possibly several processes at once) only ever add immutable part files,
each written to a temporary name and published with ``os.replace`` — a SIGKILL at any instant
leaves the whole part or nothing. Readers see ``tts.parquet`` (the compacted view) plus every
part, de-duplicated on :data:`KEY` (first written wins). :meth:`TTSStore.compact` rewrites the
compacted view atomically and then removes the parts it absorbed.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Sequence

import pandas as pd

# One row per (model, task, problem, method, parallel budget n, sequential budget, seed, reward)
KEY = ("model_id", "task", "problem_id", "method", "budget", "max_tokens", "seed",
       "reward_model")


class TTSStore:
    """The test-time rows of one run directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.parts = self.root / "tts"
        self.view = self.root / "tts.parquet"

    def append(self, rows: Sequence[dict]) -> Path | None:
        """Write ``rows`` as one new part file (atomically); returns its path."""
        if not rows:
            return None
        self.parts.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.parts / f".tmp-{name}"
        pd.DataFrame(list(rows)).to_parquet(tmp, index=False)
        os.replace(tmp, self.parts / name)
        return self.parts / name

    def _part_files(self) -> list[Path]:
        if not self.parts.is_dir():
            return []
        return sorted(p for p in self.parts.glob("part-*.parquet"))

    def read(self) -> pd.DataFrame:
        """All rows (compacted view + parts), de-duplicated on :data:`KEY`."""
        frames = [pd.read_parquet(self.view)] if self.view.exists() else []
        frames += [pd.read_parquet(p) for p in self._part_files()]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=list(KEY))
        df = pd.concat(frames, ignore_index=True)
        return df.drop_duplicates(subset=list(KEY), keep="first").reset_index(drop=True)

    def done_keys(self) -> set[tuple]:
        """Keys of the rows already written."""
        df = self.read()
        if df.empty:
            return set()
        return set(map(tuple, df[list(KEY)].astype(object).itertuples(index=False, name=None)))

    def compact(self) -> pd.DataFrame:
        """Rewrite ``tts.parquet`` with every row (atomically), then drop absorbed parts."""
        parts = self._part_files()
        df = self.read()
        if not parts:
            return df
        tmp = self.root / f".tmp-tts-{uuid.uuid4().hex[:8]}.parquet"
        df.to_parquet(tmp, index=False)
        os.replace(tmp, self.view)
        for p in parts:
            p.unlink(missing_ok=True)
        return df


def row_key(row: dict) -> tuple:
    """The :data:`KEY` tuple of one row."""
    return tuple(row[k] for k in KEY)
