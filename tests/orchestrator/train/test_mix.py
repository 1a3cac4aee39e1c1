"""Data mixtures (source ``mix``) on the real files: the shipped Python corpus mixed with the
arith task — row shares, disjoint splits, one shared tokenizer, deterministic batches, the
spec shorthand and its one-line errors, and a real training run."""
from __future__ import annotations

import re

import pytest

from evaluators.tasks.arith import is_heldout, parse_expr
from orchestrator.spec.base import SpecError
from orchestrator.spec.sweep import SweepSpec
from orchestrator.train.data import DataError, get_data_source
from orchestrator.train.mix import row_counts

MIX = [{"source": "python", "weight": 3}, {"source": "arith", "weight": 1, "options": {"level": 1}}]
ARITH_CHARS = set("0123456789+-=QA: \n")


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SCALELAB_CACHE", str(tmp_path_factory.mktemp("cache")))
    s = get_data_source({"source": "mix", "mix": MIX, "vocab_size": 1024})
    s.tokenizer  # noqa: B018 - build the shared BPE once (≈6 s)
    yield s
    mp.undo()


def _is_arith(tok, row) -> bool:
    text = tok.decode([int(t) for t in row if int(t) > 3])
    return set(text) <= ARITH_CHARS


@pytest.mark.parametrize("weights,rows,want", [([3, 1], 32, [24, 8]), ([1, 1, 1], 10, [4, 3, 3]),
                                               ([0.7, 0.3], 32, [22, 10]), ([1, 1], 1, [1, 0])])
def test_row_counts_largest_remainder(weights, rows, want):
    assert row_counts(weights, rows) == want


def test_every_batch_holds_the_weighted_shares(mix):
    tok = mix.tokenizer
    for split, step in (("train", 0), ("train", 5), ("val", 0)):
        x, y = mix.batch(split, 32, 64, seed=1, step=step)
        assert x.shape == (32, 64) and (x[:, 1:] == y[:, :-1]).all()
        kinds = [_is_arith(tok, r) for r in x]
        assert sum(kinds) == 8, (split, step)
    assert mix.fractions == [0.75, 0.25]


def test_arith_val_rows_are_held_out_problems_and_train_rows_are_not(mix):
    tok = mix.tokenizer
    for split, want in (("val", True), ("train", False)):
        seen = 0
        for step in range(3):
            x, _ = mix.batch(split, 32, 64, seed=0, step=step)
            for row in x:
                text = tok.decode([int(t) for t in row])
                for expr in re.findall(r"Q: ([\d+-]+)\n", text):
                    assert is_heldout(parse_expr(expr)) is want
                    seen += 1
        assert seen > 10


def test_batches_are_deterministic(mix):
    other = get_data_source({"source": "mix", "mix": MIX, "vocab_size": 1024})
    other.set_tokenizer(mix.tokenizer)
    a, b = mix.batch("train", 16, 64, seed=2, step=4), other.batch("train", 16, 64, seed=2, step=4)
    assert (a[0] == b[0]).all()
    assert not (mix.batch("train", 16, 64, seed=3, step=4)[0] == a[0]).all()


def test_one_shared_tokenizer_from_both_sources(mix):
    tok = mix.tokenizer
    assert len(tok) == 1024 and all(c._tokenizer is tok for c in mix.components)
    ids = tok("Q: 12+7\n\n")["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[:6] == ["<s>", "Q", ":", "Ġ", "1", "2"]
    assert mix.fingerprint() != get_data_source({"source": "mix", "mix": [MIX[0], {**MIX[1], "weight": 2}]}).fingerprint()


def _spec(data):
    return SweepSpec.from_dict({"name": "m", "model": {"widths": [32], "depths": [1]},
                                "tokens": {"D": [8192]}, "lr": {"values": [0.01]}, "data": data})


def test_spec_shorthand_expands_to_the_mix_source(tmp_path):
    spec = _spec({"mix": MIX, "options": {"vocab_size": 512}})
    assert spec.data.source == "mix"
    run = spec.expand(512)[0]
    assert run.data == {"source": "mix", "vocab_size": 512, "mix": MIX}
    (tmp_path / "s.yaml").write_text(spec.to_yaml())        # what a sweep stores re-parses
    assert SweepSpec.from_yaml(tmp_path / "s.yaml").data == spec.data


@pytest.mark.parametrize("mix_list,needle", [
    ([MIX[0], {**MIX[1], "weight": 0}], "spec.data.mix[1].weight: must be a number > 0"),
    ([MIX[0], {"source": "arith", "weight": 1, "options": {"levle": 1}}], "spec.data.mix[1].options.levle: unknown option"),
    ([MIX[0], {"source": "arith", "weight": 1, "options": {"level": 9}}], "spec.data.mix[1].options.level: must be one of"),
    ([MIX[0], {"source": "mix", "weight": 1}], "spec.data.mix[1].source: a mix cannot contain a mix"),
    ([MIX[0], {"source": "nope", "weight": 1}], "spec.data.mix[1].source: unknown data source 'nope'"),
    ([MIX[0], {"source": "arith", "weight": 1, "w": 2}], "spec.data.mix[1].w: unknown key"),
    ([MIX[0]], "spec.data.mix: must be a list of 2 to 16"),
])
def test_bad_mixtures_are_one_line_errors(mix_list, needle):
    with pytest.raises(SpecError) as err:
        _spec({"mix": mix_list})
    assert str(err.value).startswith(needle) and "\n" not in str(err.value)


def test_pre_tokenized_data_cannot_be_mixed(tmp_path):
    import numpy as np

    for split in ("train", "val"):
        np.arange(100, dtype=np.uint16).tofile(tmp_path / f"{split}.bin")
    s = get_data_source({"source": "mix", "mix": [MIX[0], {"source": "bin", "weight": 1, "options":
                                                             {"path": str(tmp_path), "vocab_size": 100}}]})
    with pytest.raises(DataError, match="pre-tokenized"):
        s.build_tokenizer()


@pytest.mark.slow
def test_real_run_on_the_mixture(tmp_path, mix):
    from orchestrator.spec.run import RunSpec
    from orchestrator.train.loop import train_run
    from orchestrator.train.tokenizer import load_tokenizer, save_tokenizer

    tok_dir = save_tokenizer(mix.tokenizer, tmp_path / "tokenizer")
    cfg = RunSpec(sweep="m", width=32, depth=1, head_dim=32, vocab_size=1024, seq_len=64,
                  data={"source": "mix", "mix": MIX, "vocab_size": 1024}, lr=1e-2,
                  batch_tokens=2048, tokens=2048 * 30, eval_every=15, eval_tokens=2048, log_every=5)
    rows = []
    res = train_run(cfg, tmp_path / "run", rows.append, tokenizer_dir=tok_dir)
    assert res.status == "done"
    vals = [r["val_loss"] for r in rows if r["val_loss"] == r["val_loss"]]
    assert vals[-1] < vals[0]
    saved = load_tokenizer(res.checkpoint)
    assert saved.backend_tokenizer.to_str() == mix.tokenizer.backend_tokenizer.to_str()
