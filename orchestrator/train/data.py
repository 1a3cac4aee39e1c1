"""Data sources (a registry): where training tokens come from.

A run's ``data`` dict names a source and its options, e.g. ``{"source": "arith", "level": 2}``.
Every source turns its split (``train`` | ``val``) into a list of 1-D token arrays (shards).
Documents are ``BOS + text + EOS``, concatenated (packed) nanoGPT-style; a batch is
``batch_size`` random windows of ``seq_len + 1`` tokens. The windows of step ``s`` depend only on
``(seed, split, s)``, so a resumed run sees exactly the batches it would have seen.

Built-in sources:

- ``arith``: the synthetic task of :mod:`evaluators.tasks.arith`; train = ``training_documents``
  (train split of problems), val = held-out problems. Options: ``level`` (1–3, default 2),
  ``pool_docs`` (train documents generated, default 60000 ≈ 2M tokens), ``val_docs`` (2000),
  ``data_seed`` (0).
- ``text``: a local ``.txt`` file or a directory of them (recursive). Options: ``path``,
  ``tokenizer`` (``bpe`` default, or ``char``), ``vocab_size`` (BPE, default 512),
  ``val_fraction`` (0.1: the tail of every file).
- ``bin``: nanoGPT ``.bin`` shards (``train*.bin`` / ``val*.bin``) read with ``np.memmap``.
  Options: ``path``, ``vocab_size`` (required), ``dtype`` (``uint16`` default | ``uint32``),
  ``tokenizer`` (optional HF tokenizer directory, saved beside checkpoints when given).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from laws.registry import Registry
from orchestrator.errors import OrchestratorError

SPLITS = ("train", "val")


class DataError(OrchestratorError):
    """Bad data options or data (one line naming the field; CLI exit 2)."""


# built-in sources: arith, text, bin below; python (the shipped corpus) and mix in their modules
DATA_SOURCES = Registry("data source", DataError, stamp="name",
                        builtin=("orchestrator.train.corpus", "orchestrator.train.mix"))
register_data_source = DATA_SOURCES.register


def get_data_source(data: dict[str, Any]) -> "DataSource":
    """Instantiate the source named by ``data["source"]`` with the remaining options."""
    if not isinstance(data, dict) or "source" not in data:
        raise DataError(f"data.source is required (one of {', '.join(DATA_SOURCES.names())}), got {data!r}")
    opts = dict(data)
    name = opts.pop("source")
    if name not in DATA_SOURCES:
        raise DataError(f"data.source: {DATA_SOURCES.unknown(name)}")
    return DATA_SOURCES.build(name, **opts)


def _int_opt(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo or (hi and value > hi):
        rng = f"in [{lo}, {hi}]" if hi else f"≥ {lo}"
        raise DataError(f"data.{name} must be an integer {rng}, got {value!r}")
    return value


class DataSource:
    """Base class: options validated in ``__init__``; subclasses implement :meth:`_shards`."""

    name = "?"
    allowed: tuple[str, ...] = ()

    def __init__(self, **options: Any):
        unknown = sorted(set(options) - set(self.allowed))
        if unknown:
            raise DataError(f"data.{unknown[0]}: unknown option for source {self.name!r} "
                            f"(allowed: {', '.join(self.allowed)})")
        self.options = options
        self._tokenizer = None
        self._cache: dict[str, list[np.ndarray]] = {}

    # -- checks before any work (the sweep calls these before it writes anything) ------------
    def fingerprint(self) -> str:
        """A hash of what the tokenizer is built from (source + options; sources that read
        files add their contents), stored beside a sweep's tokenizer so it is only reused for
        the same data."""
        blob = json.dumps({"source": self.name, **self.options}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def check(self, seq_len: int) -> None:
        """Inspect the data before any training starts: both splits must hold a stretch longer
        than ``seq_len + 1`` tokens and every id must fit :attr:`vocab_size`; raises
        :class:`DataError` naming the option or file. Sources whose files are large override
        this with cheaper checks."""
        vocab = self.vocab_size
        for split in SPLITS:
            shards = self.shards(split)
            longest = max((len(s) for s in shards), default=0)
            if longest <= seq_len + 1:
                raise DataError(f"data: split {split!r} has no stretch longer than seq_len+1="
                                f"{seq_len + 1} tokens (longest: {longest})")
            top = max(int(s.max()) for s in shards if len(s))
            if top >= vocab:
                raise DataError(f"data: split {split!r} holds token id {top} >= vocab_size {vocab}")

    # -- tokenizer ---------------------------------------------------------------------------
    def build_tokenizer(self):
        """Build (or load) this source's tokenizer; may be None for pre-tokenized data."""
        raise NotImplementedError

    @property
    def tokenizer(self):
        """The tokenizer in use (built on first access unless set with :meth:`set_tokenizer`)."""
        if self._tokenizer is None:
            self._tokenizer = self.build_tokenizer()
        return self._tokenizer

    def set_tokenizer(self, tok) -> None:
        """Use ``tok`` (e.g. the sweep's saved tokenizer) instead of building one."""
        self._tokenizer, self._cache = tok, {}

    @property
    def vocab_size(self) -> int:
        """Number of token ids the model must embed."""
        return len(self.tokenizer)

    def _encode_docs(self, docs: list[str]) -> np.ndarray:
        """Tokenise documents as ``BOS + text + EOS`` and concatenate them."""
        tok = self.tokenizer
        ids = tok(docs, add_special_tokens=True)["input_ids"]
        eos = tok.eos_token_id
        flat = [t for doc in ids for t in (*doc, eos)]
        return np.asarray(flat, dtype=np.uint16 if len(tok) <= 65536 else np.int32)

    # -- tokens and batches ------------------------------------------------------------------
    def _shards(self, split: str) -> list[np.ndarray]:
        raise NotImplementedError

    def shards(self, split: str) -> list[np.ndarray]:
        """The split's token arrays (cached per source object)."""
        if split not in SPLITS:
            raise DataError(f"split must be one of {SPLITS}, got {split!r}")
        if split not in self._cache:
            self._cache[split] = self._shards(split)
        return self._cache[split]

    def batch(self, split: str, batch_size: int, seq_len: int, seed: int, step: int):
        """``(x, y)`` int64 tensors ``[batch_size, seq_len]`` for ``step`` (y = x shifted by 1)."""
        import torch

        shards = [s for s in self.shards(split) if len(s) > seq_len + 1]
        if not shards:
            total = sum(len(s) for s in self.shards(split))
            raise DataError(f"data: split {split!r} has no shard longer than seq_len+1="
                            f"{seq_len + 1} tokens ({total} tokens in all)")
        rng = np.random.default_rng([seed, SPLITS.index(split), step])
        sizes = np.array([len(s) - seq_len - 1 for s in shards], dtype=np.float64)
        which = rng.choice(len(shards), size=batch_size, p=sizes / sizes.sum())
        starts = (rng.random(batch_size) * sizes[which]).astype(np.int64)
        win = np.arange(seq_len + 1)
        out = np.empty((batch_size, seq_len + 1), dtype=np.int64)
        for k in np.unique(which):
            rows = np.nonzero(which == k)[0]
            out[rows] = shards[k][starts[rows, None] + win]
        t = torch.from_numpy(out)
        return t[:, :-1], t[:, 1:]

    def batches(self, split: str, batch_size: int, seq_len: int, seed: int,
                start_step: int = 0) -> Iterator[tuple[Any, Any]]:
        """Endless deterministic batches from ``start_step`` on (resume-exact)."""
        step = start_step
        while True:
            yield self.batch(split, batch_size, seq_len, seed, step)
            step += 1


_ARITH_POOLS: dict[tuple, list[np.ndarray]] = {}


@register_data_source("arith")
class ArithSource(DataSource):
    """The synthetic arith task (train problems vs held-out problems)."""

    allowed = ("level", "pool_docs", "val_docs", "data_seed")

    def __init__(self, **options: Any):
        super().__init__(**options)
        from evaluators.tasks.arith import LEVELS

        level = options.get("level", 2)
        if level not in LEVELS:
            raise DataError(f"data.level must be one of {sorted(LEVELS)}, got {level!r}")
        self.level = level
        self.pool_docs = _int_opt("pool_docs", options.get("pool_docs", 60000), 10)
        self.val_docs = _int_opt("val_docs", options.get("val_docs", 2000), 10)
        self.data_seed = _int_opt("data_seed", options.get("data_seed", 0), 0)

    def build_tokenizer(self):
        """The character-level arith tokenizer."""
        from orchestrator.train.tokenizer import char_tokenizer

        return char_tokenizer()

    def check(self, seq_len: int) -> None:
        """Nothing to inspect: the documents are generated from validated options."""

    def _shards(self, split: str) -> list[np.ndarray]:
        from evaluators.tasks.arith import generate, prompt_of, solution_of, training_documents

        key = (split, self.level, self.pool_docs, self.val_docs, self.data_seed,
               self.tokenizer.backend_tokenizer.to_str())
        if key not in _ARITH_POOLS:  # generating 60k documents takes ~1 s: share per process
            if split == "train":
                docs = training_documents(self.pool_docs, self.level, self.data_seed)
            else:
                gen = generate(self.level, self.data_seed, "heldout")
                docs = [prompt_of(p) + solution_of(p) for p in (next(gen) for _ in range(self.val_docs))]
            _ARITH_POOLS[key] = [self._encode_docs(docs)]
        return _ARITH_POOLS[key]


@register_data_source("text")
class TextSource(DataSource):
    """Local text: one file or a directory of ``.txt`` files; BPE or char tokenizer."""

    allowed = ("path", "tokenizer", "vocab_size", "val_fraction")

    def __init__(self, **options: Any):
        super().__init__(**options)
        if "path" not in options:
            raise DataError("data.path is required for source 'text'")
        p = Path(options["path"]).expanduser()
        self.files = sorted(p.rglob("*.txt")) if p.is_dir() else ([p] if p.is_file() else [])
        if not self.files:
            raise DataError(f"data.path: no .txt file at {p}")
        self.kind = options.get("tokenizer", "bpe")
        if self.kind not in ("bpe", "char"):
            raise DataError(f"data.tokenizer must be 'bpe' or 'char', got {self.kind!r}")
        self.bpe_vocab = _int_opt("vocab_size", options.get("vocab_size", 512), 260)
        self.val_fraction = options.get("val_fraction", 0.1)
        if not isinstance(self.val_fraction, (int, float)) or not 0 < self.val_fraction < 1:
            raise DataError(f"data.val_fraction must be in (0, 1), got {self.val_fraction!r}")

    def _texts(self) -> list[str]:
        """Every file decoded as UTF-8; a file that is not UTF-8 or holds no text is a
        :class:`DataError` naming it."""
        if getattr(self, "_decoded", None) is None:
            texts = []
            for f in self.files:
                try:
                    text = f.read_bytes().decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(f"data.path: {f} is not UTF-8 text (byte {exc.start})") from None
                except OSError as exc:
                    raise DataError(f"data.path: cannot read {f} ({exc.strerror})") from None
                if not text.strip():
                    raise DataError(f"data.path: {f} is empty (remove it or add text)")
                texts.append(text)
            self._decoded = texts
        return self._decoded

    def fingerprint(self) -> str:
        """Source options plus every file's name and contents."""
        h = hashlib.sha256(super().fingerprint().encode())
        for f, text in zip(self.files, self._texts()):
            h.update(f.name.encode() + b"\0" + text.encode() + b"\0")
        return h.hexdigest()[:16]

    def check(self, seq_len: int) -> None:
        """Every file UTF-8 and non-empty, then the token checks of :meth:`DataSource.check`."""
        self._texts()
        super().check(seq_len)

    def build_tokenizer(self):
        """BPE trained on the files (deterministic), or a char tokenizer over their alphabet."""
        from orchestrator.train.tokenizer import char_tokenizer, train_bpe

        texts = self._texts()                # files checked before the (Rust) BPE trainer reads them
        if self.kind == "bpe":
            return train_bpe(self.files, vocab_size=self.bpe_vocab)
        return char_tokenizer("".join(sorted({c for t in texts for c in t})))

    def _shards(self, split: str) -> list[np.ndarray]:
        out = []
        for text in self._texts():
            ids = self._encode_docs([text])
            cut = int(len(ids) * (1 - self.val_fraction))
            out.append(ids[:cut] if split == "train" else ids[cut:])
        return out


@register_data_source("bin")
class BinSource(DataSource):
    """Pre-tokenized nanoGPT-style shards ``train*.bin`` / ``val*.bin`` (np.memmap)."""

    allowed = ("path", "vocab_size", "dtype", "tokenizer")

    def __init__(self, **options: Any):
        super().__init__(**options)
        if "path" not in options:
            raise DataError("data.path is required for source 'bin'")
        self.path = Path(options["path"]).expanduser()
        if not self.path.is_dir():
            raise DataError(f"data.path: {self.path} is not a directory")
        if "vocab_size" not in options:
            raise DataError("data.vocab_size is required for source 'bin'")
        self.dtype = options.get("dtype", "uint16")
        if self.dtype not in ("uint16", "uint32"):
            raise DataError(f"data.dtype must be 'uint16' or 'uint32', got {self.dtype!r}")
        hi = 65536 if self.dtype == "uint16" else 2**31
        self._vocab = _int_opt("vocab_size", options["vocab_size"], 2, hi)
        for split in SPLITS:
            if not sorted(self.path.glob(f"{split}*.bin")):
                raise DataError(f"data.path: no {split}*.bin shard in {self.path}")

    def build_tokenizer(self):
        """The HF tokenizer named by ``data.tokenizer``, or None (checkpoint without one)."""
        if not self.options.get("tokenizer"):
            return None
        from orchestrator.train.tokenizer import load_tokenizer

        return load_tokenizer(self.options["tokenizer"])

    @property
    def vocab_size(self) -> int:
        """From the options (the shards carry no vocabulary)."""
        return self._vocab

    def _shards(self, split: str) -> list[np.ndarray]:
        return [np.memmap(f, dtype=self.dtype, mode="r")
                for f in sorted(self.path.glob(f"{split}*.bin"))]

    def fingerprint(self) -> str:
        """Source options plus the tokenizer's ``tokenizer.json`` (the shards are token ids)."""
        h = hashlib.sha256(super().fingerprint().encode())
        tok = self.options.get("tokenizer")
        if tok and (Path(tok).expanduser() / "tokenizer.json").is_file():
            h.update((Path(tok).expanduser() / "tokenizer.json").read_bytes())
        return h.hexdigest()[:16]

    def check(self, seq_len: int) -> None:
        """Every shard: a whole number of ``dtype`` items, not empty, every id < vocab_size;
        each split has a shard longer than ``seq_len + 1`` tokens (read in 16M-token chunks)."""
        item = np.dtype(self.dtype).itemsize
        for split in SPLITS:
            longest = 0
            for f in sorted(self.path.glob(f"{split}*.bin")):
                size = f.stat().st_size
                if size == 0:
                    raise DataError(f"data.path: shard {f} is empty")
                if size % item:
                    raise DataError(f"data.path: shard {f} has {size} bytes, not a whole number of "
                                    f"{self.dtype} tokens ({item} bytes each); wrong dtype?")
                ids = np.memmap(f, dtype=self.dtype, mode="r")
                for i in range(0, len(ids), 1 << 24):
                    top = int(ids[i:i + (1 << 24)].max())
                    if top >= self._vocab:
                        raise DataError(f"data.vocab_size={self._vocab} but shard {f} holds token "
                                        f"id {top}")
                longest = max(longest, len(ids))
            if longest <= seq_len + 1:
                raise DataError(f"data.path: no {split}*.bin shard in {self.path} is longer than "
                                f"seq_len+1={seq_len + 1} tokens (longest: {longest})")

    def batch(self, split: str, batch_size: int, seq_len: int, seed: int, step: int):
        """As :meth:`DataSource.batch`, plus a check that ids fit ``vocab_size``."""
        x, y = super().batch(split, batch_size, seq_len, seed, step)
        if int(y.max()) >= self._vocab or int(x[:, 0].max()) >= self._vocab:
            raise DataError(f"data.vocab_size={self._vocab} but the shards hold token id "
                            f"{max(int(y.max()), int(x[:, 0].max()))}")
        return x, y
