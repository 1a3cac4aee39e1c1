"""THE store of scalelab: append-only, atomic Parquet on a local path or any pyarrow filesystem URI.

A *table directory* (``metrics/``, ``runs/``, ``tts/``) holds small immutable part files; each
is written to a temporary name and published atomically (:func:`laws.atomic.atomic_write`
locally; object stores publish an object whole on close), so a SIGKILL at any instant leaves
either the whole part or nothing. Readers concatenate parts in name order (names start with a
nanosecond sequence) and ignore temporary files. Compaction writes a merged view
(``metrics.parquet``, ``tts.parquet``) atomically. Training sweeps and test-time runs both use
it, so both work on ``s3://…`` as well as on a local disk.

    store = Store("scalelab_runs/quickstart")          # or "s3://bucket/sweeps/quickstart"
    store = Store("s3://bucket/sweeps/q?endpoint_override=127.0.0.1:9000&scheme=http")
    append_rows(store, "metrics", [row, ...], tag=run_id)
    df = read_parts(store, "metrics", dedupe_on=("run_id", "step"))
    tts = RowTable(store, "tts", key=TTS_KEY)          # parts in tts/ + the view tts.parquet
"""
from __future__ import annotations

import io
import itertools
import os
import time
from pathlib import Path
from typing import Iterable, Sequence, Union

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from laws.atomic import atomic_write
from orchestrator.errors import OrchestratorError
from orchestrator.spec.base import join_uri

SEQ_COL = "_seq"
_COUNTER = itertools.count()


class StoreError(OrchestratorError):
    """Storage that cannot be used (not a directory, not writable, an unreachable bucket) or a
    stored file that cannot be read (corrupt Parquet, wrong schema): one line naming it."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Store:
    """A directory on a local path or a pyarrow filesystem (``file://``, ``s3://`` …).

    A URI may carry the filesystem's options as a query, e.g.
    ``s3://bucket/dir?endpoint_override=127.0.0.1:9000&scheme=http``; :meth:`child` and
    :meth:`uri_of` keep the query when they go below the root.
    """

    def __init__(self, root: Union[str, Path], filesystem: pafs.FileSystem | None = None):
        root = str(root)
        if filesystem is not None:
            self.fs, self.root = filesystem, root.rstrip("/")
        elif "://" in root:
            try:
                self.fs, self.root = pafs.FileSystem.from_uri(root)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise StoreError(f"storage {root!r}: not a usable URI ({_first_line(exc)})") from None
            self.root = self.root.rstrip("/")
        else:
            self.fs, self.root = pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(root))
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        self.uri = root if "://" in root or filesystem is not None else self.root

    def uri_of(self, *parts: str) -> str:
        """The URI (or local path) of ``parts`` below the root, query kept."""
        return join_uri(self.uri, *parts)

    def child(self, *parts: str) -> "Store":
        """The store of a sub-directory (same filesystem)."""
        sub = Store.__new__(Store)
        sub.fs, sub.local = self.fs, self.local
        sub.root, sub.uri = self.path(*parts), self.uri_of(*parts)
        return sub

    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless this directory can be created and written, without
        writing anything that stays: locally the nearest existing ancestor must be a writable
        directory (probed with a temporary file that is removed at once); on an object store
        the bucket must exist and answer."""
        if self.local:
            _check_local_dir(Path(self.root), self.uri)
            return
        bucket = self.root.split("/", 1)[0]
        try:
            info = self.fs.get_file_info(bucket)
        except (pa.ArrowException, OSError) as exc:
            raise StoreError(f"storage {self.uri!r}: cannot reach it ({_first_line(exc)})") from None
        if info.type == pafs.FileType.NotFound:
            raise StoreError(f"storage {self.uri!r}: bucket {bucket!r} does not exist")
        node = self.fs.get_file_info(self.root)
        if node.type == pafs.FileType.File:
            raise StoreError(f"storage {self.uri!r}: is a file, not a directory")

    def path(self, *parts: str) -> str:
        """Filesystem path of ``parts`` below the root."""
        return "/".join([self.root, *[p.strip("/") for p in parts if p]])

    def local_path(self, *parts: str) -> Path:
        """A local ``Path`` (only for local stores)."""
        if not self.local:
            raise ValueError(f"{self.uri} is not a local path")
        return Path(self.path(*parts))

    def makedirs(self, rel: str = "") -> None:
        """Create ``rel`` (and parents) if missing."""
        self.fs.create_dir(self.path(rel), recursive=True)

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` exists."""
        return self.fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write ``data`` to ``rel`` atomically (local: temp file + fsync + rename)."""
        target = self.path(rel)
        try:
            if self.local:
                atomic_write(target, data)
                return
            self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            with self.fs.open_output_stream(target) as out:  # objects appear whole on close
                out.write(data)
        except (pa.ArrowException, OSError) as exc:       # read-only bucket, full disk, ...
            raise StoreError(f"storage {self.uri!r}: cannot write {rel} ({_first_line(exc)})") from None

    def read_bytes(self, rel: str) -> bytes:
        """The bytes of ``rel``."""
        with self.fs.open_input_stream(self.path(rel)) as fh:
            return fh.read()

    def listdir(self, rel: str) -> list[str]:
        """Sorted names of published files in ``rel`` (temporary/hidden files excluded)."""
        sel = pafs.FileSelector(self.path(rel), allow_not_found=True)
        names = [info.base_name for info in self.fs.get_file_info(sel)
                 if info.type == pafs.FileType.File]
        return sorted(n for n in names if not n.startswith("."))

    def delete(self, rel: str) -> None:
        """Remove file ``rel`` (missing is fine)."""
        try:
            self.fs.delete_file(self.path(rel))
        except (FileNotFoundError, OSError):
            pass

    def upload(self, local_dir: Union[str, Path], rel: str) -> str:
        """Copy a local directory to ``rel`` below the root; returns its URI."""
        self.fs.create_dir(self.path(rel), recursive=True)
        pafs.copy_files(str(local_dir), self.path(rel), source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=self.fs)
        return self.uri_of(rel)

    def download(self, rel: str, local_dir: Union[str, Path]) -> Path:
        """Copy directory ``rel`` to ``local_dir`` (created); returns ``local_dir``."""
        local_dir = Path(local_dir)
        local_dir.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(self.path(rel), str(local_dir), source_filesystem=self.fs,
                        destination_filesystem=pafs.LocalFileSystem())
        return local_dir


def _check_local_dir(target: Path, label: str) -> None:
    """The local half of :meth:`Store.check_writable`."""
    import tempfile

    node = target
    while not node.exists():
        if node.is_symlink():
            raise StoreError(f"storage {label!r}: {node} is a dangling symlink")
        node = node.parent
    if not node.is_dir():
        what = "it" if node == target else str(node)
        raise StoreError(f"storage {label!r}: {what} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".scalelab-probe-", dir=node)
    except OSError as exc:
        raise StoreError(f"storage {label!r}: cannot write in {node} ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def frame_to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """Serialise a DataFrame to Parquet bytes (no index)."""
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), sink)
    return sink.getvalue()


def next_seq() -> str:
    """A sortable, process-unique sequence string: ``<time_ns>-<pid>-<counter>``."""
    return f"{time.time_ns():020d}-{os.getpid():07d}-{next(_COUNTER):08d}"


def append_rows(store: Store, table_dir: str, rows: Union[pd.DataFrame, Sequence[dict]],
                tag: str = "part") -> str:
    """Publish ``rows`` as one new immutable part file in ``table_dir``; returns its name.

    Each row gets a ``_seq`` column (the part's sequence) so readers can order rows and keep
    the first of duplicates. Dicts may have different keys: the part holds their union (a key
    missing from a row is null there).
    """
    seq = next_seq()
    name = f"{seq}-{tag}.parquet"
    blob = None
    if not isinstance(rows, pd.DataFrame):       # dicts: straight to Arrow (10x faster)
        rows = list(rows)
        cols = list(dict.fromkeys(k for r in rows for k in r))    # union, first-seen order
        data = {k: [r.get(k) for r in rows] for k in cols}
        data[SEQ_COL] = [seq] * len(rows)
        try:
            sink = io.BytesIO()
            pq.write_table(pa.Table.from_pydict(data), sink)
            blob = sink.getvalue()
        except (pa.ArrowException, TypeError, ValueError):
            rows = pd.DataFrame(data)             # mixed types in a column: let pandas decide
    if blob is None:
        df = rows.copy()
        df[SEQ_COL] = seq
        blob = frame_to_parquet_bytes(df)
    store.write_bytes(f"{table_dir}/{name}", blob)
    return name


def read_table(store: Store, rel: str) -> pd.DataFrame:
    """One Parquet file as a DataFrame; an unreadable file is a :class:`StoreError` naming it
    (a file that vanished meanwhile — compacted away — raises FileNotFoundError)."""
    try:
        with store.fs.open_input_file(store.path(rel)) as fh:
            return pq.read_table(fh).to_pandas()
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        if not store.exists(rel):
            raise FileNotFoundError(store.path(rel)) from None
        raise StoreError(f"{store.path(rel)}: not a readable Parquet file ({_first_line(exc)})") from None


def read_parts(store: Store, table_dir: str, dedupe_on: Sequence[str] | None = None,
               names: Iterable[str] | None = None) -> pd.DataFrame:
    """Concatenate the part files of ``table_dir`` in sequence order.

    With ``dedupe_on`` the FIRST row of each key wins (e.g. a resumed run re-reporting steps).
    The ``_seq`` column is kept (callers drop it for display).
    """
    for attempt in range(5):       # a concurrent compaction may delete parts while we read
        listed = list(names) if names is not None else store.listdir(table_dir)
        try:
            frames = [f for f in (read_table(store, f"{table_dir}/{n}") for n in listed) if len(f)]
            break
        except FileNotFoundError:
            if names is not None or attempt == 4:
                raise
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True, sort=False)
    if SEQ_COL in df.columns:
        df = df.sort_values(SEQ_COL, kind="stable")
    if dedupe_on:
        df = df.drop_duplicates(subset=list(dedupe_on), keep="first")
    return df.reset_index(drop=True)


def compact_tag(store: Store, table_dir: str, tag: str,
                dedupe_on: Sequence[str] | None = None) -> None:
    """Merge every part with ``tag`` into one part (then delete the originals)."""
    ends = (f"-{tag}.parquet", f"-{tag}.c.parquet")
    compact_parts(store, table_dir, [n for n in store.listdir(table_dir) if n.endswith(ends)],
                  tag, dedupe_on)


def compact_parts(store: Store, table_dir: str, names: Sequence[str], tag: str,
                  dedupe_on: Sequence[str] | None = None) -> str | None:
    """Merge the parts ``names`` (in sequence order) into one part named to sort just before
    the first of them (rows keep their ``_seq``), then delete the others; returns its name.

    The merged part is published before the originals are removed, so a crash in between only
    leaves duplicates, which ``dedupe_on`` readers drop.
    """
    names = sorted(names)
    if len(names) <= 1:
        return names[0] if names else None
    df = read_parts(store, table_dir, dedupe_on, names=names)
    merged = "-".join(names[0].split("-")[:3]) + f"-{tag}.c.parquet"
    store.write_bytes(f"{table_dir}/{merged}", frame_to_parquet_bytes(df))
    for n in names:
        if n != merged:
            store.delete(f"{table_dir}/{n}")
    return merged


def write_view(store: Store, rel: str, df: pd.DataFrame) -> None:
    """Atomically (re)write a single-file view such as ``metrics.parquet``."""
    out = df.drop(columns=[SEQ_COL], errors="ignore")
    store.write_bytes(rel, frame_to_parquet_bytes(out))


METRIC_KEY = ("run_id", "step")


def read_metrics(sweep_dir: Union[str, Path, Store]) -> pd.DataFrame:
    """All training step rows of a sweep, deduplicated on (run_id, step), first row kept.

    Reads the ``metrics/`` part files when present, else the compacted ``metrics.parquet``.
    """
    store = sweep_dir if isinstance(sweep_dir, Store) else Store(sweep_dir)
    if store.listdir("metrics"):
        df = read_parts(store, "metrics")
    elif store.exists("metrics.parquet"):
        df = read_table(store, "metrics.parquet")
    else:
        return pd.DataFrame()
    if len(df) and set(METRIC_KEY) <= set(df.columns):   # a table without them: the reader says so
        df = df.drop_duplicates(subset=list(METRIC_KEY), keep="first")
        df = df.sort_values(["run_id", "step"], kind="stable")
    return df.drop(columns=[SEQ_COL], errors="ignore").reset_index(drop=True)


def compact_metrics(sweep_dir: Union[str, Path, Store]) -> pd.DataFrame:
    """Write ``metrics.parquet`` (the deduplicated view of ``metrics/``) atomically."""
    store = sweep_dir if isinstance(sweep_dir, Store) else Store(sweep_dir)
    df = read_metrics(store)
    write_view(store, "metrics.parquet", df)
    return df


class RowTable:
    """An append-only table of keyed rows: part files in ``<name>/`` plus the view ``<name>.parquet``.

    Writers (possibly several processes at once) only ever add immutable parts
    (:func:`append_rows`). :meth:`read` returns the view's rows followed by every part's, with
    the FIRST row of each ``key`` kept (a chunk redone after a crash cannot double a row).
    :meth:`compact` rewrites the view atomically, then removes the parts it absorbed (a crash in
    between only leaves duplicates, which :meth:`read` drops).
    """

    def __init__(self, store: Store, name: str, key: Sequence[str]):
        self.store, self.name, self.key = store, name, tuple(key)
        self.view = f"{name}.parquet"

    def append(self, rows: Sequence[dict], tag: str = "part") -> str | None:
        """Publish ``rows`` as one new part (atomically); returns its name (None if no rows)."""
        return append_rows(self.store, self.name, rows, tag=tag) if rows else None

    def read(self) -> pd.DataFrame:
        """All rows (view + parts), de-duplicated on the key (first written wins)."""
        frames = [read_table(self.store, self.view)] if self.store.exists(self.view) else []
        parts = read_parts(self.store, self.name)
        frames = [f for f in frames + [parts] if len(f)]
        if not frames:
            return pd.DataFrame(columns=list(self.key))
        df = pd.concat(frames, ignore_index=True, sort=False)
        present = [k for k in self.key if k in df.columns]   # rows of an older schema lack some
        df = df.drop_duplicates(subset=present, keep="first") if present else df
        return df.drop(columns=[SEQ_COL], errors="ignore").reset_index(drop=True)

    def keys(self) -> set[tuple]:
        """The key tuples of every stored row."""
        df = self.read()
        if df.empty:
            return set()
        return set(map(tuple, df[list(self.key)].astype(object).itertuples(index=False, name=None)))

    def key_of(self, row: dict) -> tuple:
        """The key tuple of one row."""
        return tuple(row[k] for k in self.key)

    def compact(self) -> pd.DataFrame:
        """Rewrite the view with every row (atomically), then drop the absorbed parts."""
        parts = self.store.listdir(self.name)
        df = self.read()
        if parts:
            write_view(self.store, self.view, df)
            for n in parts:
                self.store.delete(f"{self.name}/{n}")
        return df
