"""Data sources: arith, text and bin; deterministic, resumable batches; clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from evaluators.tasks.arith import training_documents
from orchestrator.train.data import DATA_SOURCES, DataError, get_data_source


def test_registry_has_builtins():
    assert {"arith", "text", "bin"} <= set(DATA_SOURCES)


def test_arith_docs_packed_with_bos_eos_and_val_is_heldout():
    src = get_data_source({"source": "arith", "level": 2, "pool_docs": 200, "val_docs": 50})
    tok = src.tokenizer
    train = src.shards("train")[0]
    docs = training_documents(200, level=2, seed=0)
    # the packed stream is exactly BOS + doc + EOS for every train document, in order
    expect = [t for d in docs for t in (*tok(d).input_ids, tok.eos_token_id)]
    assert train.tolist() == expect
    assert train[0] == tok.bos_token_id
    val_text = tok.decode(src.shards("val")[0].tolist())
    train_prompts = {d.split("\n\n")[0] for d in docs}
    val_prompts = {p.split("\n\n")[0].removeprefix("<s>") for p in val_text.split("</s>") if p}
    assert val_prompts and not (val_prompts & train_prompts)


def test_batches_deterministic_resumable_and_shifted():
    src = get_data_source({"source": "arith", "pool_docs": 300, "val_docs": 50})
    it = src.batches("train", batch_size=4, seq_len=32, seed=7)
    seq = [next(it) for _ in range(5)]
    resumed = next(src.batches("train", batch_size=4, seq_len=32, seed=7, start_step=3))
    assert torch.equal(resumed[0], seq[3][0]) and torch.equal(resumed[1], seq[3][1])
    x, y = seq[0]
    assert x.shape == y.shape == (4, 32) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert not torch.equal(seq[0][0], seq[1][0])                   # steps differ
    other = src.batch("train", 4, 32, seed=8, step=0)
    assert not torch.equal(other[0], seq[0][0])                    # seeds differ


def test_text_source_bpe_and_char(tmp_path):
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("hello world, this is a small corpus. " * 60)
    (d / "sub" / "b.txt").write_text("another file with other words in it. " * 60)
    src = get_data_source({"source": "text", "path": str(d), "vocab_size": 300})
    assert len(src.tokenizer) == 300
    assert len(src.shards("train")) == 2
    x, y = src.batch("val", 2, 16, seed=0, step=0)
    assert x.shape == (2, 16) and int(x.max()) < 300
    char = get_data_source({"source": "text", "path": str(d / "a.txt"), "tokenizer": "char"})
    n_chars = len(set((d / "a.txt").read_text()))
    assert len(char.tokenizer) == 4 + n_chars
    tr, va = char.shards("train")[0], char.shards("val")[0]
    assert abs(len(va) / (len(tr) + len(va)) - 0.1) < 0.01


def test_bin_source_memmap_shards(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("train_000.bin", 5000), ("train_001.bin", 3000), ("val_000.bin", 1000)):
        rng.integers(0, 100, n, dtype=np.uint16).tofile(tmp_path / name)
    src = get_data_source({"source": "bin", "path": str(tmp_path), "vocab_size": 100})
    assert src.vocab_size == 100 and src.tokenizer is None
    assert [len(s) for s in src.shards("train")] == [5000, 3000]
    x, y = src.batch("train", 8, 64, seed=1, step=2)
    assert x.shape == (8, 64) and torch.equal(x[:, 1:], y[:, :-1])
    # every window is a contiguous slice of one shard
    shards = [np.asarray(s) for s in src.shards("train")]
    for row in torch.cat([x, y[:, -1:]], 1).numpy():
        assert any(np.array_equal(s[i:i + 65], row) for s in shards
                   for i in np.nonzero(s == row[0])[0] if i + 65 <= len(s))
    x2, _ = src.batch("train", 8, 64, seed=1, step=2)
    assert torch.equal(x, x2)
    bad = get_data_source({"source": "bin", "path": str(tmp_path), "vocab_size": 50})
    with pytest.raises(DataError, match="vocab_size"):
        bad.batch("train", 8, 64, seed=0, step=0)


@pytest.mark.parametrize("data,field", [
    ({}, "data.source"),
    ({"source": "nope"}, "data.source"),
    ({"source": "arith", "level": 9}, "data.level"),
    ({"source": "arith", "colour": 1}, "data.colour"),
    ({"source": "arith", "pool_docs": -1}, "data.pool_docs"),
    ({"source": "text"}, "data.path"),
    ({"source": "text", "path": "/nonexistent/x"}, "data.path"),
    ({"source": "bin", "path": "/tmp", "vocab_size": 10}, "data.path"),
])
def test_bad_options_are_one_line_errors(data, field):
    with pytest.raises(DataError, match=field.replace(".", r"\.")) as e:
        get_data_source(data)
    assert "\n" not in str(e.value) and e.value.exit_code == 2


def test_split_too_short_is_clear(tmp_path):
    (tmp_path / "train.bin").write_bytes(np.arange(10, dtype=np.uint16).tobytes())
    (tmp_path / "val.bin").write_bytes(np.arange(10, dtype=np.uint16).tobytes())
    src = get_data_source({"source": "bin", "path": str(tmp_path), "vocab_size": 16})
    with pytest.raises(DataError, match="seq_len"):
        src.batch("val", 2, 64, seed=0, step=0)
