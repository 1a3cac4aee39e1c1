"""Background appends to :mod:`orchestrator.runs.store` tables: the Tune driver queues step
rows and ledger events and returns at once; one writer thread publishes them in batches, each
batch as atomic parts through :func:`~orchestrator.runs.store.append_rows`."""
from __future__ import annotations

import threading
import time
from typing import Sequence

from orchestrator.runs.store import Store, StoreError, append_rows


class AppendQueue:
    """Appends rows to table directories of one :class:`Store` from a background thread, so a
    caller (the Tune driver's event loop) never waits for Parquet encoding, fsync or an object
    store round trip.

    :meth:`put` returns at once; the writer takes everything queued since its last write and
    publishes ONE part per ``(table_dir, tag)`` with :func:`append_rows` (atomic, as always),
    directories named in ``last`` after the others — the ledger's events go last, so a
    ``done`` is never on disk before the step rows queued ahead of it. Listeners
    (:meth:`on_part`) run in the writer thread after each published part (compaction, views).
    :meth:`wait` blocks until everything put so far is published; an error of the writer
    (a full disk, a read-only bucket) is raised by the next :meth:`put` or :meth:`wait`.
    """

    def __init__(self, store: Store, last: Sequence[str] = ()):
        self.store, self.last = store, tuple(last)
        self.busy_s, self.cpu_s, self.parts = 0.0, 0.0, 0   # writer wall and CPU time, parts
        self._items: list[tuple[str, str, list]] = []
        self._listeners: list = []
        self._cv = threading.Condition()
        self._put = self._done = 0
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="scalelab-append", daemon=True)
        self._thread.start()

    def on_part(self, fn) -> None:
        """Call ``fn(table_dir, name, rows)`` in the writer thread after each published part."""
        self._listeners.append(fn)

    def put(self, table_dir: str, rows: Sequence[dict], tag: str = "part") -> None:
        """Queue ``rows`` for ``table_dir`` (returns at once)."""
        self._raise()
        with self._cv:
            if self._closed:
                raise StoreError(f"storage {self.store.uri!r}: append queue is closed")
            self._items.append((table_dir, tag, list(rows)))
            self._put += 1
            self._cv.notify_all()

    def wait(self) -> None:
        """Block until every row put so far is published (or raise the writer's error)."""
        with self._cv:
            target = self._put
            while self._done < target and self._error is None:
                self._cv.wait(1.0)
        self._raise()

    def close(self, raise_error: bool = True) -> None:
        """Publish what is queued, then stop the writer thread."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join()
        if raise_error:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._items and not self._closed:
                    self._cv.wait()
                if not self._items:
                    return
                batch, self._items = self._items, []
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                self._write(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's next put/wait
                with self._cv:
                    self._error = exc
                    self._cv.notify_all()
                return
            self.busy_s += time.perf_counter() - t0
            self.cpu_s += time.thread_time() - c0
            with self._cv:
                self._done += len(batch)
                self._cv.notify_all()

    def _write(self, batch: list[tuple[str, str, list]]) -> None:
        groups: dict[tuple[str, str], list] = {}
        for table_dir, tag, rows in batch:
            groups.setdefault((table_dir, tag), []).extend(rows)
        for (table_dir, tag), rows in sorted(groups.items(), key=lambda kv: kv[0][0] in self.last):
            if not rows:
                continue
            name = append_rows(self.store, table_dir, rows, tag=tag)
            self.parts += 1
            for fn in self._listeners:
                fn(table_dir, name, rows)
