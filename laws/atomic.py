"""The one atomic-write helper of scalelab: write beside the target, fsync, rename over it.

A reader (or a process killed at any instant) sees either the old file or the whole new one,
never a half-written file. Every package uses these functions (``laws`` imports nothing of
scalelab, so the helper lives here)::

    atomic_write("fits/law.json", json.dumps(d))
    with atomic_path("figures/law.png") as tmp:      # for writers that want a path
        fig.savefig(tmp)
    publish_dir(tmp_dir, "checkpoints/abc/final")    # a whole directory
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Union

PathLike = Union[str, os.PathLike]


def replace(src: PathLike, dst: PathLike) -> None:
    """Rename ``src`` over ``dst`` atomically (same filesystem) and fsync their directory."""
    os.replace(src, dst)
    try:
        fd = os.open(os.path.dirname(os.path.abspath(dst)) or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The parent directory is created. ``suffix`` defaults to ``path``'s own (so writers that pick
    a format by extension, like ``savefig``, behave). On error the temporary file is removed and
    ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix if suffix is None
                               else suffix, dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: PathLike, data: Union[bytes, str]) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically; returns the path."""
    blob = data.encode() if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)
    return Path(path)


def publish_dir(tmp_dir: PathLike, target: PathLike) -> Path:
    """Move a finished directory ``tmp_dir`` to ``target``, replacing an old ``target`` whole.

    The old directory is first renamed aside, so ``target`` is always either the old or the new
    complete directory (absent only for the instant between the two renames).
    """
    tmp_dir, target = Path(tmp_dir), Path(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        replace(target, old)
    replace(tmp_dir, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target
