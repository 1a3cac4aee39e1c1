"""The shipped text corpus: a fixed snapshot of Python standard-library source, as a data source.

Data source ``python``: real text that ships with scalelab (nothing is downloaded). The snapshot
``corpora/python_stdlib.jsonl.xz`` holds the ``.py`` files of CPython 3.11's ``Lib/`` (tests,
IDLE, generated tables and machine-specific files left out; see ``corpora/NOTICE.txt``), one
JSON line ``{"path", "sha256", "text"}`` per file, under the PSF licence (``corpora/LICENSE-PSF.txt``).
It is the same kind of data as ParScale's Stack-V2-Python, at a size a laptop can train on.

- **Held-out split by file**: a file is ``val`` when the first 8 bytes of ``sha256(path)``, mod
  10 000, fall below ``val_fraction · 10 000``; every other file is ``train``. No file is in both.
- **Documents**: each file is ``BOS + text + EOS``; a split's files are packed (in path order)
  into one token array, so batch windows may cross a file boundary, as in nanoGPT.
- **Tokenizer**: a byte-level BPE trained locally on the *train* files only (deterministic;
  digits split one per token, as Llama does). The sweep saves it once and every checkpoint
  carries it (``final/tokenizer.json``).
- Encoding the corpus takes seconds, so token arrays are cached on disk under
  ``$SCALELAB_CACHE`` (default ``~/.cache/scalelab``) keyed by the snapshot's and the
  tokenizer's hashes (written atomically; a stale key is never read).

Options: ``vocab_size`` (BPE, default 1024), ``val_fraction`` (default 0.05).
:func:`build_snapshot` rebuilds the snapshot from a local ``Lib/`` directory.
"""
from __future__ import annotations

import hashlib
import json
import lzma
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.train.data import DataError, DataSource, register_data_source

CORPORA = Path(__file__).with_name("corpora")
SNAPSHOT = CORPORA / "python_stdlib.jsonl.xz"
# what build_snapshot leaves out of Lib/: tests, GUI/IDE code, generated tables, platform data
SKIP_DIRS = {"test", "tests", "idlelib", "lib2to3", "encodings", "pydoc_data", "ensurepip",
             "turtledemo", "tkinter", "distutils", "site-packages", "lib-dynload"}
SKIP_FILES = {"this.py", "antigravity.py", "__hello__.py", "html/entities.py", "stringprep.py"}
MAX_FILE_BYTES = 150_000


def cache_dir() -> Path:
    """Where encoded token arrays are cached (``$SCALELAB_CACHE`` or ``~/.cache/scalelab``)."""
    return Path(os.environ.get("SCALELAB_CACHE", Path.home() / ".cache" / "scalelab")).expanduser()


@lru_cache(maxsize=4)
def load_snapshot(path: str | None = None) -> tuple[tuple[str, str], ...]:
    """``((path, text), ...)`` of every file in the snapshot, in path order (cached)."""
    p = Path(path) if path else SNAPSHOT
    if not p.is_file():
        raise DataError(f"data: corpus snapshot {p} is missing (reinstall scalelab)")
    rows = []
    with lzma.open(p, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            rec = json.loads(line)
            text = rec["text"]
            if hashlib.sha256(text.encode()).hexdigest() != rec["sha256"]:
                raise DataError(f"data: corpus snapshot {p} line {i + 1} ({rec['path']}) fails its sha256")
            rows.append((rec["path"], text))
    return tuple(sorted(rows))


@lru_cache(maxsize=4)
def snapshot_digest(path: str | None = None) -> str:
    """sha256 of the snapshot file (part of every cache key)."""
    return hashlib.sha256((Path(path) if path else SNAPSHOT).read_bytes()).hexdigest()


def split_of(path: str, val_fraction: float) -> str:
    """``"val"`` or ``"train"`` for a file, by a stable hash of its path (see module docstring)."""
    h = int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "big")
    return "val" if (h % 10_000) < val_fraction * 10_000 else "train"


@register_data_source("python")
class PythonCorpus(DataSource):
    """The shipped Python-source snapshot, split by file, with a locally trained BPE."""

    allowed = ("vocab_size", "val_fraction")

    def __init__(self, **options: Any):
        super().__init__(**options)
        v = options.get("vocab_size", 1024)
        if not isinstance(v, int) or isinstance(v, bool) or not 260 <= v <= 65536:
            raise DataError(f"data.vocab_size must be an integer in [260, 65536], got {v!r}")
        self.bpe_vocab = v
        f = options.get("val_fraction", 0.05)
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 0.5:
            raise DataError(f"data.val_fraction must be in (0, 0.5), got {f!r}")
        self.val_fraction = float(f)

    def fingerprint(self) -> str:
        """Options plus the snapshot file's sha256 (what the tokenizer is built from)."""
        return hashlib.sha256((super().fingerprint() + snapshot_digest()).encode()).hexdigest()[:16]

    def files(self, split: str) -> list[tuple[str, str]]:
        """``(path, text)`` of the split's files, in path order."""
        out = [(p, t) for p, t in load_snapshot() if split_of(p, self.val_fraction) == split]
        if not out:
            raise DataError(f"data.val_fraction={self.val_fraction} leaves the {split!r} split empty")
        return out

    def tokenizer_texts(self) -> list[str]:
        """The documents a tokenizer may be trained on: the train files only."""
        return [t for _, t in self.files("train")]

    def build_tokenizer(self):
        """Byte-level BPE (digits split) trained on the train files (deterministic)."""
        return train_bpe_on_texts({"python": self.tokenizer_texts()}, self.bpe_vocab)

    def _shards(self, split: str) -> list[np.ndarray]:
        docs = [t for _, t in self.files(split)]
        return [cached_encode(self, docs, f"python-{split}-{self.val_fraction}")]


def train_bpe_on_texts(texts: dict[str, list[str]], vocab_size: int):
    """A digit-splitting byte-level BPE trained on named groups of documents (deterministic:
    each group is written to its own file, in name order, and trained on with ``train_bpe``)."""
    from orchestrator.train.tokenizer import train_bpe

    with tempfile.TemporaryDirectory(prefix="scalelab-bpe-") as tmp:
        files = []
        for i, name in enumerate(sorted(texts)):
            f = Path(tmp) / f"{i:03d}.txt"
            f.write_text("\n".join(texts[name]), encoding="utf-8")
            files.append(f)
        return train_bpe(files, vocab_size=vocab_size, digits=True)


def cached_encode(source: DataSource, docs: list[str], label: str, make=None) -> np.ndarray:
    """``source._encode_docs(docs)`` (or ``make()``), cached on disk by (label, snapshot,
    tokenizer, documents); the file name keeps the label's first 40 characters."""
    from laws.atomic import atomic_path

    h = hashlib.sha256()
    for part in (label, snapshot_digest(), source.tokenizer.backend_tokenizer.to_str()):
        h.update(part.encode())
        h.update(b"\0")
    for d in docs:
        h.update(hashlib.sha256(d.encode()).digest())
    short = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label[:40])
    path = cache_dir() / "corpus" / f"{short}-{h.hexdigest()[:20]}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass  # a damaged cache file is rebuilt below
    ids = make() if make is not None else source._encode_docs(docs)
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, ids, allow_pickle=False)
    except OSError:
        pass  # an unwritable cache only costs time
    return ids


def build_snapshot(lib_dir: str | Path, out: str | Path = SNAPSHOT, target_bytes: int = 6_000_000) -> dict:
    """Write a snapshot of ``lib_dir``'s ``.py`` files (the selection rule of the module doc):
    eligible files (at most ``MAX_FILE_BYTES`` each) in order of ``sha256(path)`` until
    ``target_bytes`` of text; returns a summary (files, bytes, sha256 of the output)."""
    from laws.atomic import atomic_path

    lib = Path(lib_dir)
    cand = []
    for dp, dn, fn in os.walk(lib):
        dn[:] = sorted(d for d in dn if d not in SKIP_DIRS and not d.startswith(("test", "__", "config-")))
        for f in sorted(fn):
            p = Path(dp) / f
            rel = p.relative_to(lib).as_posix()
            if (not f.endswith(".py") or {f, rel} & SKIP_FILES or f.startswith(("_sysconfigdata", "test"))
                    or p.stat().st_size > MAX_FILE_BYTES):
                continue
            cand.append((hashlib.sha256(rel.encode()).hexdigest(), rel, p))
    picked, total = [], 0
    for _, rel, p in sorted(cand):
        if total >= target_bytes:
            break
        text = p.read_text(encoding="utf-8")
        picked.append((rel, text))
        total += len(text.encode())
    lines = [json.dumps({"path": f"Lib/{rel}", "sha256": hashlib.sha256(t.encode()).hexdigest(),
                         "text": t}) for rel, t in sorted(picked)]
    with atomic_path(out) as tmp:
        with lzma.open(tmp, "wt", encoding="utf-8", preset=9) as fh:
            fh.write("\n".join(lines) + "\n")
    os.chmod(out, 0o644)
    return {"files": len(picked), "bytes": total, "candidates": len(cand),
            "sha256": hashlib.sha256(Path(out).read_bytes()).hexdigest()}


if __name__ == "__main__":  # python -m orchestrator.train.corpus <Lib dir>
    import sys

    print(json.dumps(build_snapshot(sys.argv[1]), indent=1))
