"""Model family: analytic N / N_total / FLOPs against the real built model."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from orchestrator.train.model import (
    ModelShapeError,
    build_model,
    choose_shape,
    flops_per_token,
    intermediate_size,
    param_counts,
)

SHAPES = [(32, 1, 32, 19), (64, 2, 32, 50), (96, 3, 32, 300), (128, 2, 64, 1000)]


@pytest.mark.parametrize("width,depth,head_dim,vocab", SHAPES)
def test_param_counts_match_built_model(width, depth, head_dim, vocab):
    model = build_model(width, depth, head_dim, vocab, seq_len=64, seed=0)
    total = sum(p.numel() for p in model.parameters())
    emb = model.model.embed_tokens.weight.numel() + model.lm_head.weight.numel()
    n, n_total = param_counts(width, depth, head_dim, vocab)
    assert n_total == total
    assert n == total - emb
    assert model.model.embed_tokens.weight.data_ptr() != model.lm_head.weight.data_ptr()


def test_intermediate_size_rule():
    assert intermediate_size(64) == 192          # 170.67 -> 192
    assert intermediate_size(96) == 256
    assert intermediate_size(768) == 2048        # Llama rule exactly divisible


@pytest.mark.parametrize("width,depth,head_dim,vocab,seq_len",
                         [(64, 2, 32, 50, 64), (128, 2, 64, 300, 128)])
def test_flops_match_flop_counter(width, depth, head_dim, vocab, seq_len):
    """Independent count: torch's FlopCounterMode over a real forward+backward pass.

    The counter counts matmuls (``mm``/``bmm``), so attention runs in the "eager"
    implementation (explicit QKᵀ and AV matmuls over the full L×L matrix; the CPU SDPA kernel
    is not registered with the counter). Element-wise ops are excluded by both, so we require
    agreement within 1 %.
    """
    model = build_model(width, depth, head_dim, vocab, seq_len=seq_len, seed=0)
    model.config._attn_implementation = "eager"
    batch = 2
    x = torch.randint(0, vocab, (batch, seq_len))
    counter = FlopCounterMode(display=False)
    with counter:
        logits = model(input_ids=x, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), x.reshape(-1))
        loss.backward()
    measured = counter.get_total_flops() / (batch * seq_len)
    f = flops_per_token(width, depth, head_dim, vocab, seq_len)
    assert abs(f["exact"] - measured) / measured < 0.01, (f, measured)
    n, _ = param_counts(width, depth, head_dim, vocab)
    assert f["six_n"] == 6 * n
    assert f["exact"] > f["six_n"]


def test_choose_shape_aspect_ratio_and_target():
    for target in (1e5, 1e6, 1e7):
        width, depth = choose_shape(target, vocab_size=100, head_dim=32, aspect_ratio=32)
        assert width % 32 == 0
        n, _ = param_counts(width, depth, 32, 100)
        assert 0.5 < n / target < 2.0
        assert 16 <= width / depth <= 64
    # larger target -> no smaller model
    assert param_counts(*choose_shape(1e7, 100, 32), 32, 100)[0] > \
        param_counts(*choose_shape(1e6, 100, 32), 32, 100)[0]


@pytest.mark.parametrize("kw,field", [
    (dict(width=64, depth=2, head_dim=16, vocab_size=10, seq_len=8), "head_dim"),
    (dict(width=80, depth=2, head_dim=32, vocab_size=10, seq_len=8), "width"),
    (dict(width=64, depth=0, head_dim=32, vocab_size=10, seq_len=8), "depth"),
    (dict(width=64, depth=1, head_dim=32, vocab_size=10, seq_len=1), "seq_len"),
])
def test_bad_shapes_name_the_field(kw, field):
    with pytest.raises(ModelShapeError, match=field):
        build_model(**kw)
    assert ModelShapeError.exit_code == 2
