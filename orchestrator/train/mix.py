"""Data mixtures: one model trained on several data sources at fixed proportions.

Spec form (a shorthand the sweep spec's ``data`` section expands to ``source: mix``)::

    data:
      mix:
        - {source: python, weight: 0.75}
        - {source: arith, weight: 0.25, options: {level: 1}}
      options: {vocab_size: 1024}

becomes the run's ``data = {"source": "mix", "mix": [...], "vocab_size": 1024}``.

- **One tokenizer** for every component: a digit-splitting byte-level BPE
  (:func:`orchestrator.train.corpus.train_bpe_on_texts`) trained on each component's training
  documents (``python``: its train files; ``text``: its files; ``arith``: ``tokenizer_docs``
  train-split problems, default 20 000). A component's held-out split never enters it.
- **Batches**: the rows of every batch (train and val) are split among the components in
  proportion to the normalised weights, by largest remainder (ties to the earlier component),
  so a batch of ``rows`` rows holds exactly ``round``-ed shares; choose weights that are
  multiples of ``1/rows`` for exact proportions. Component ``i`` draws its rows with its own
  deterministic stream (``seed·1000 + i``), then the rows are shuffled by ``(seed, split,
  step)``. Batches depend only on ``(seed, split, step)``, as for every source.
- **Validation loss** is therefore the mixture's loss at the same proportions (the same
  windows at every evaluation, as for every source).

Options: ``mix`` (2–16 components ``{source, weight, options}``; weights > 0), ``vocab_size``
(shared BPE, default 1024), ``tokenizer_docs`` (arith documents for the BPE, default 20 000).
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from orchestrator.train.data import (
    SPLITS,
    ArithSource,
    DataError,
    DataSource,
    TextSource,
    get_data_source,
    register_data_source,
)

MAX_COMPONENTS = 16


def row_counts(weights: list[float], rows: int) -> list[int]:
    """Rows per component for a batch of ``rows``: largest remainder of ``w_i/Σw · rows``."""
    w = np.asarray(weights, dtype=np.float64)
    share = w / w.sum() * rows
    base = np.floor(share).astype(int)
    rest = share - base
    order = sorted(range(len(w)), key=lambda i: (-rest[i], i))
    for i in order[:rows - int(base.sum())]:
        base[i] += 1
    return [int(b) for b in base]


def _component_texts(comp: DataSource, n_arith: int) -> list[str]:
    """Training documents a component contributes to the shared tokenizer."""
    if hasattr(comp, "tokenizer_texts"):
        return list(comp.tokenizer_texts())
    if isinstance(comp, ArithSource):
        from evaluators.tasks.arith import training_documents

        return training_documents(min(n_arith, comp.pool_docs), comp.level, comp.data_seed)
    if isinstance(comp, TextSource):
        return [f.read_text(encoding="utf-8") for f in comp.files]
    raise DataError(f"data.mix: source {comp.name!r} has no text to train a shared tokenizer on "
                    "(pre-tokenized data cannot be mixed)")


@register_data_source("mix")
class MixSource(DataSource):
    """Several sources at fixed proportions with one shared BPE tokenizer (module docstring)."""

    allowed = ("mix", "vocab_size", "tokenizer_docs")

    def __init__(self, **options: Any):
        super().__init__(**options)
        mix = options.get("mix")
        if not isinstance(mix, list) or not 2 <= len(mix) <= MAX_COMPONENTS:
            raise DataError(f"data.mix must be a list of 2 to {MAX_COMPONENTS} components "
                            f"{{source, weight, options}}, got {mix!r}")
        self.components: list[DataSource] = []
        self.weights: list[float] = []
        for i, c in enumerate(mix):
            where = f"data.mix[{i}]"
            if not isinstance(c, dict) or "source" not in c:
                raise DataError(f"{where}: must be a mapping with 'source' and 'weight', got {c!r}")
            extra = sorted(set(c) - {"source", "weight", "options"})
            if extra:
                raise DataError(f"{where}.{extra[0]}: unknown key (allowed: source, weight, options)")
            w = c.get("weight")
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w < float("inf"):
                raise DataError(f"{where}.weight: must be a number > 0, got {w!r}")
            if c["source"] == "mix":
                raise DataError(f"{where}.source: a mix cannot contain a mix")
            opts = c.get("options") or {}
            if not isinstance(opts, dict):
                raise DataError(f"{where}.options: must be a mapping, got {opts!r}")
            try:
                comp = get_data_source({"source": c["source"], **opts})
            except DataError as exc:
                text = str(exc)
                field = text[len("data."):] if text.startswith("data.") else None
                if field is None:
                    raise DataError(f"{where}: {text}") from None
                # the component's own 'source' is a key of the component, the rest its options
                sub = field if field.startswith("source") else f"options.{field}"
                raise DataError(f"{where}.{sub}") from None
            self.components.append(comp)
            self.weights.append(float(w))
        v = options.get("vocab_size", 1024)
        if not isinstance(v, int) or isinstance(v, bool) or not 260 <= v <= 65536:
            raise DataError(f"data.vocab_size must be an integer in [260, 65536], got {v!r}")
        self.bpe_vocab = v
        n = options.get("tokenizer_docs", 20000)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise DataError(f"data.tokenizer_docs must be an integer >= 1, got {n!r}")
        self.tokenizer_docs = n

    def fingerprint(self) -> str:
        """Options plus every component's fingerprint (file contents included where read)."""
        parts = [super().fingerprint()] + [c.fingerprint() for c in self.components]
        return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]

    @property
    def fractions(self) -> list[float]:
        """Normalised weights (the expected share of each component's tokens)."""
        total = sum(self.weights)
        return [w / total for w in self.weights]

    def build_tokenizer(self):
        """One BPE (digits split) trained on every component's training documents."""
        from orchestrator.train.corpus import train_bpe_on_texts

        texts = {f"{i:02d}-{c.name}": _component_texts(c, self.tokenizer_docs)
                 for i, c in enumerate(self.components)}
        return train_bpe_on_texts(texts, self.bpe_vocab)

    def _sync(self) -> None:
        """Give every component the mixture's tokenizer (once)."""
        tok = self.tokenizer
        for c in self.components:
            if c._tokenizer is not tok:
                c.set_tokenizer(tok)

    def _component_shards(self, c: DataSource, split: str) -> list[np.ndarray]:
        """``c.shards(split)``; arith tokens are cached on disk (BPE-encoding its 60 000
        documents takes ~4 s, in every trial process) by options, tokenizer and generator."""
        if isinstance(c, ArithSource) and split not in c._cache:
            import json
            from pathlib import Path

            import evaluators.tasks.arith as arith
            from orchestrator.train.corpus import cached_encode

            label = "arith-" + split + "-" + json.dumps(c.options, sort_keys=True) + \
                Path(arith.__file__).read_text(encoding="utf-8")
            c._cache[split] = [cached_encode(c, [], label, lambda: c._shards(split)[0])]
        return c.shards(split)

    def set_tokenizer(self, tok) -> None:
        """Use ``tok`` for the mixture and all its components."""
        super().set_tokenizer(tok)
        for c in self.components:
            c.set_tokenizer(tok)

    def _shards(self, split: str) -> list[np.ndarray]:
        self._sync()
        return [s for c in self.components for s in self._component_shards(c, split)]

    def batch(self, split: str, batch_size: int, seq_len: int, seed: int, step: int):
        """``(x, y)`` with each component's share of the rows (module docstring)."""
        import torch

        if split not in SPLITS:
            raise DataError(f"split must be one of {SPLITS}, got {split!r}")
        self._sync()
        xs, ys = [], []
        for i, (c, k) in enumerate(zip(self.components, row_counts(self.weights, batch_size))):
            if k:
                self._component_shards(c, split)
                x, y = c.batch(split, k, seq_len, seed * 1000 + i, step)
                xs.append(x)
                ys.append(y)
        perm = torch.from_numpy(np.random.default_rng([seed, SPLITS.index(split), step, 1])
                                .permutation(batch_size))
        return torch.cat(xs)[perm], torch.cat(ys)[perm]
