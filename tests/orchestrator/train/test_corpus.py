"""The shipped corpus (data source ``python``) on the real snapshot file: its notice, the
split by file, the locally trained tokenizer, deterministic batches, the token cache, and a
real training run that saves the tokenizer beside its checkpoint."""
from __future__ import annotations

import hashlib
import json
import lzma
import re

import numpy as np
import pytest

from orchestrator.train import corpus
from orchestrator.train.data import DataError, get_data_source


@pytest.fixture(scope="module")
def records():
    """The snapshot's JSON lines, read here without the module's loader."""
    with lzma.open(corpus.SNAPSHOT, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """One source with its BPE built once (≈5 s), caching tokens in a private dir."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SCALELAB_CACHE", str(tmp_path_factory.mktemp("cache")))
    s = get_data_source({"source": "python"})
    s.tokenizer  # noqa: B018 - build it once for the module
    yield s
    mp.undo()


def _val_by_hash(path: str, fraction: float) -> bool:
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "big") % 10_000 < fraction * 10_000


def test_snapshot_matches_its_notice_and_licence(records):
    notice = (corpus.CORPORA / "NOTICE.txt").read_text()
    assert f"{len(records)} \".py\" files" in notice
    assert hashlib.sha256(corpus.SNAPSHOT.read_bytes()).hexdigest() in notice
    stated = int(re.search(r"\(([\d ]+) bytes of UTF-8", notice).group(1).replace(" ", ""))
    assert stated == sum(len(r["text"].encode()) for r in records)
    assert "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2" in (corpus.CORPORA / "LICENSE-PSF.txt").read_text()
    assert all(hashlib.sha256(r["text"].encode()).hexdigest() == r["sha256"] for r in records)
    assert all(r["path"].startswith("Lib/") and "/test" not in r["path"] for r in records)
    assert corpus.SNAPSHOT.stat().st_size < 3 * 2**20          # "a few MB at most"


def test_split_by_file_is_disjoint_and_follows_the_hash(source, records):
    train = {p for p, _ in source.files("train")}
    val = {p for p, _ in source.files("val")}
    assert not train & val and train | val == {r["path"] for r in records}
    assert val == {r["path"] for r in records if _val_by_hash(r["path"], 0.05)}
    assert 5 <= len(val) <= 40
    other = get_data_source({"source": "python", "val_fraction": 0.2})
    assert {p for p, _ in other.files("val")} > val      # a larger fraction keeps the old val files


def test_tokenizer_trained_on_train_files_only_and_deterministic(source):
    tok = source.tokenizer
    assert len(tok) == 1024
    assert tok.convert_ids_to_tokens(tok("x = 1234")["input_ids"])[-4:] == ["1", "2", "3", "4"]
    again = corpus.train_bpe_on_texts({"python": source.tokenizer_texts()}, 1024)
    assert again.backend_tokenizer.to_str() == tok.backend_tokenizer.to_str()
    # the held-out files are not in the tokenizer's training text
    train_text = "\n".join(source.tokenizer_texts())
    assert all(t not in train_text for _, t in source.files("val") if len(t) > 2000)


def test_batches_are_deterministic_and_val_windows_come_from_val_files(source):
    fresh = get_data_source({"source": "python"})
    fresh.set_tokenizer(source.tokenizer)
    for split in ("train", "val"):
        a, b = source.batch(split, 4, 64, seed=3, step=7), fresh.batch(split, 4, 64, seed=3, step=7)
        assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
        assert (a[0][:, 1:] == a[1][:, :-1]).all()
    assert not (source.batch("train", 4, 64, 3, 8)[0] == source.batch("train", 4, 64, 3, 7)[0]).all()
    val_ids = np.concatenate([np.asarray(source.tokenizer(t)["input_ids"]) for _, t in source.files("val")])
    x, _ = source.batch("val", 8, 32, seed=0, step=0)
    hay = val_ids.tobytes()
    for row in x.numpy():   # the longest stretch between specials (BOS/EOS at file boundaries)
        cuts = np.flatnonzero(row <= 3)
        pieces = np.split(row, cuts)
        core = max((p[1:] if len(p) and p[0] <= 3 else p for p in pieces), key=len)
        assert len(core) >= 8 and core.astype(val_ids.dtype).tobytes() in hay


def test_token_cache_is_used_and_rebuilt_when_damaged(source):
    files = sorted((corpus.cache_dir() / "corpus").glob("python-train-*.npy"))
    assert len(files) == 1
    ids = np.load(files[0])
    assert np.array_equal(ids, source.shards("train")[0])
    files[0].write_bytes(b"not an array")
    fresh = get_data_source({"source": "python"})
    fresh.set_tokenizer(source.tokenizer)
    assert np.array_equal(fresh.shards("train")[0], ids)
    assert np.array_equal(np.load(files[0]), ids)


@pytest.mark.parametrize("opts,needle", [({"vocab_size": 100}, "data.vocab_size"),
                                         ({"val_fraction": 0.9}, "data.val_fraction"),
                                         ({"path": "x"}, "data.path: unknown option")])
def test_bad_options_name_the_field(opts, needle):
    with pytest.raises(DataError, match=re.escape(needle)):
        get_data_source({"source": "python", **opts})


def test_bad_option_in_a_spec_is_one_line():
    from orchestrator.spec.base import SpecError
    from orchestrator.spec.sweep import SweepSpec

    with pytest.raises(SpecError, match=r"^spec\.data\.options\.vocab_size: "):
        SweepSpec.from_dict({"name": "c", "model": {"widths": [32], "depths": [1]},
                             "tokens": {"D": [8192]}, "lr": {"values": [0.01]},
                             "data": {"source": "python", "options": {"vocab_size": 7}}})


@pytest.mark.slow
def test_real_run_saves_the_tokenizer_beside_its_checkpoint(tmp_path, source):
    from transformers import AutoModelForCausalLM

    from orchestrator.spec.run import RunSpec
    from orchestrator.train.loop import train_run
    from orchestrator.train.tokenizer import load_tokenizer, save_tokenizer

    tok_dir = save_tokenizer(source.tokenizer, tmp_path / "tokenizer")
    cfg = RunSpec(sweep="c", width=32, depth=1, head_dim=32, vocab_size=1024, seq_len=64,
                  data={"source": "python"}, lr=1e-2, batch_tokens=1024, tokens=1024 * 30,
                  eval_every=15, eval_tokens=2048, log_every=5)
    rows = []
    res = train_run(cfg, tmp_path / "run", rows.append, tokenizer_dir=tok_dir)
    assert res.status == "done"
    vals = [r["val_loss"] for r in rows if r["val_loss"] == r["val_loss"]]
    assert vals[-1] < vals[0] < np.log(1024) + 0.5          # it learns from the text
    saved = load_tokenizer(res.checkpoint)
    assert saved.backend_tokenizer.to_str() == source.tokenizer.backend_tokenizer.to_str()
    model = AutoModelForCausalLM.from_pretrained(res.checkpoint)
    assert model.config.vocab_size == 1024 and model.config.bos_token_id == saved.bos_token_id
