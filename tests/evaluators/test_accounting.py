"""FLOP / KV-byte formulas against hand computation, and N against a real built model."""
from __future__ import annotations

import pytest

from evaluators.accounting import ModelShape, generation_cost, score_cost
from evaluators.errors import EvaluatorError

# L=2 layers, d=8, 2 heads x head_dim 4 (d_attn=8), 1 KV head, vocab 10, N=100, 2-byte KV
SHAPE = ModelShape(n_params=100, n_layers=2, d_model=8, n_heads=2, n_kv_heads=1, head_dim=4,
                   vocab=10, dtype_bytes=2)


def test_generation_cost_by_hand():
    # prompt 3 tokens (positions 0,1,2 -> ctx 1,2,3), 3 generated tokens -> 2 decode steps
    # at positions 3,4 (ctx 4,5).
    c = generation_cost(SHAPE, prompt_tokens=3, completion_tokens=3)
    prefill = 2 * 100 * 3 + 4 * 2 * 8 * (1 + 2 + 3)          # 600 + 384
    decode = 2 * 100 * 2 + 4 * 2 * 8 * (4 + 5)               # 400 + 576
    head = 2 * 8 * 10 * 3                                     # 480
    assert c["prefill_flops"] == prefill and c["decode_flops"] == decode
    assert c["head_flops"] == head and c["flops"] == prefill + decode + head
    # KV read: 2 (K,V) * L=2 * kv_heads=1 * head_dim=4 * 2 bytes = 32 bytes per cached token
    assert c["kv_bytes"] == 32 * (4 + 5)


def test_cached_prefix_skips_prefill():
    c = generation_cost(SHAPE, prompt_tokens=3, completion_tokens=1, cached_prefix_tokens=2)
    assert c["prefill_flops"] == 2 * 100 * 1 + 4 * 2 * 8 * 3   # only position 2
    assert c["decode_flops"] == 0 and c["kv_bytes"] == 0
    full = generation_cost(SHAPE, 3, 1, cached_prefix_tokens=99)  # clipped to the prompt
    assert full["prefill_flops"] == 0


def test_score_cost_by_hand():
    cls = ModelShape(100, 2, 8, 2, 1, 4, vocab=10, n_labels=1)
    c = score_cost(cls, tokens=2)
    assert c["flops"] == 2 * 100 * 2 + 4 * 2 * 8 * (1 + 2) + 2 * 8 * 1
    assert score_cost(cls, 0)["flops"] == 0


def test_negative_tokens_rejected():
    with pytest.raises(EvaluatorError, match="token counts"):
        generation_cost(SHAPE, -1, 2)


def _non_embedding(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters()
               if "embed_tokens" not in n and not n.startswith(("lm_head", "score")))


@pytest.mark.parametrize("kv,bias", [(2, False), (1, True)])
def test_n_matches_built_model(tmp_path, kv, bias):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    cfg = LlamaConfig(vocab_size=37, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                      num_attention_heads=2, num_key_value_heads=kv, head_dim=32,
                      attention_bias=bias, mlp_bias=bias, num_labels=1, dtype="bfloat16")
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(tmp_path)
    shape = ModelShape.from_hf_dir(tmp_path)
    assert shape.n_params == _non_embedding(model)
    assert (shape.n_layers, shape.d_model, shape.n_kv_heads, shape.head_dim, shape.vocab) == (3, 64, kv, 32, 37)
    assert shape.n_labels == 0
    clf = LlamaForSequenceClassification(cfg)
    clf.save_pretrained(tmp_path / "clf")
    clf_shape = ModelShape.from_hf_dir(tmp_path / "clf")
    assert clf_shape.n_params == _non_embedding(clf) and clf_shape.n_labels == 1
    assert ModelShape.from_config(cfg, dtype=torch.float32).dtype_bytes == 4


def test_from_hf_dir_missing(tmp_path):
    with pytest.raises(EvaluatorError, match="no config.json"):
        ModelShape.from_hf_dir(tmp_path)
