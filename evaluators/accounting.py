"""Compute accounting for test-time methods: FLOPs and KV-cache bytes, policy and reward model.

Conventions (one multiply-add = 2 FLOPs; forward pass only — nothing is trained at test time):

* **Linear layers**: ``2·N`` FLOPs per token processed, with ``N`` the non-embedding parameter
  count (every weight matrix, norm and bias except the input embedding and the output head).
* **Attention**: a token at 0-based position ``p`` attends to ``ctx = p + 1`` keys (causal).
  ``Q·Kᵀ`` costs ``2·n_layers·ctx·d_attn`` and ``softmax·V`` another ``2·n_layers·ctx·d_attn``
  (``d_attn = n_heads·head_dim``), so ``4·n_layers·ctx·d_attn`` per token (softmax ignored).
* **Output head**: ``2·d_model·vocab`` per *generated* token (vLLM computes logits only at the
  last position of a prefill and at each decode step); a classifier head costs
  ``2·d_model·n_labels`` per scored sequence.
* **Tokens processed**: generation prefills the non-cached prompt positions
  ``[cached_prefix, P)``; the first new token comes from the prefill's logits, and each
  later one needs one decode step, so ``G`` generated tokens cost ``G − 1`` decode steps
  (decode step ``k = 1..G−1`` processes position ``P + k − 1``, i.e. ``ctx = P + k``).
* **KV-cache bytes read while decoding**: each decode step reads the whole cache so far,
  ``2 (K and V) · n_layers · n_kv_heads · head_dim · dtype_bytes · ctx`` bytes — the memory
  traffic that dominates small-batch decoding ("Kinetics").
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from evaluators.errors import EvaluatorError

_DTYPE_BYTES = {"float32": 4, "float": 4, "float16": 2, "half": 2, "bfloat16": 2,
                "float64": 8, "fp8": 1, "float8_e4m3fn": 1, "int8": 1}


def dtype_bytes(dtype: Any, default: int = 2) -> int:
    """Bytes per element of a dtype given as a string (``"bfloat16"``) or torch dtype."""
    if dtype is None:
        return default
    name = str(dtype).removeprefix("torch.")
    if name == "auto":
        return default
    if name not in _DTYPE_BYTES:
        raise EvaluatorError(f"accounting: unknown dtype {dtype!r}; known: {sorted(_DTYPE_BYTES)}")
    return _DTYPE_BYTES[name]


@dataclass(frozen=True)
class ModelShape:
    """What FLOP and memory accounting needs to know about a decoder-only transformer."""

    n_params: int            # N: non-embedding parameters
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab: int
    dtype_bytes: int = 2     # bytes per KV-cache element
    n_labels: int = 0        # >0 for a sequence-classification (reward) model

    @property
    def d_attn(self) -> int:
        """Width of the attention projections, ``n_heads · head_dim``."""
        return self.n_heads * self.head_dim

    @property
    def kv_bytes_per_token(self) -> int:
        """Bytes of K and V cached per token over all layers."""
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * self.dtype_bytes

    def to_dict(self) -> dict:
        """Plain-dict form (JSON-able)."""
        return asdict(self)

    @classmethod
    def from_config(cls, cfg: Mapping | Any, dtype: Any = None) -> "ModelShape":
        """Shape of a Llama-family model from its HF config (a dict or a ``PretrainedConfig``).

        ``N`` counts the attention and MLP matrices, their biases when configured, and the
        RMSNorm weights (two per layer plus the final one). ``dtype`` overrides the config's.
        """
        get = (cfg.get if isinstance(cfg, Mapping) else lambda k, d=None: getattr(cfg, k, d))
        try:
            d, n_layers = int(get("hidden_size")), int(get("num_hidden_layers"))
            n_heads = int(get("num_attention_heads"))
            n_kv = int(get("num_key_value_heads") or n_heads)
            head_dim = int(get("head_dim") or d // n_heads)
            ffn, vocab = int(get("intermediate_size")), int(get("vocab_size"))
        except (TypeError, ValueError) as exc:
            raise EvaluatorError(f"accounting: config lacks a Llama-style field ({exc})") from None
        d_attn, d_kv = n_heads * head_dim, n_kv * head_dim
        attn = d * d_attn + 2 * d * d_kv + d_attn * d
        if get("attention_bias", False):
            attn += d_attn + 2 * d_kv + d
        mlp = 3 * d * ffn + (2 * ffn + d if get("mlp_bias", False) else 0)
        n = n_layers * (attn + mlp + 2 * d) + d
        arch = " ".join(get("architectures") or [])
        n_labels = int(get("num_labels", 0) or 0) if "Classification" in arch else 0
        dt = dtype if dtype is not None else (get("torch_dtype", None) or get("dtype", None))
        return cls(n, n_layers, d, n_heads, n_kv, head_dim, vocab, dtype_bytes(dt), n_labels)

    @classmethod
    def from_hf_dir(cls, path: str | Path, dtype: Any = None) -> "ModelShape":
        """Shape from an HF model directory's ``config.json``."""
        f = Path(path) / "config.json"
        if not f.is_file():
            raise EvaluatorError(f"accounting: no config.json in model directory {str(path)!r}")
        cfg = json.loads(f.read_text())
        if "num_labels" not in cfg and "id2label" in cfg:
            cfg["num_labels"] = len(cfg["id2label"])
        return cls.from_config(cfg, dtype)


def _ctx_sum(start: int, end: int) -> int:
    """Σ_{p=start}^{end-1} (p + 1): keys attended by positions [start, end)."""
    return (end * (end + 1) - start * (start + 1)) // 2 if end > start else 0


def forward_flops(shape: ModelShape, start: int, end: int) -> float:
    """FLOPs to run positions ``[start, end)`` through the body (linear + attention, no head)."""
    if end <= start:
        return 0.0
    return 2.0 * shape.n_params * (end - start) + 4.0 * shape.n_layers * shape.d_attn * _ctx_sum(start, end)


def generation_cost(shape: ModelShape, prompt_tokens: int, completion_tokens: int,
                    cached_prefix_tokens: int = 0) -> dict:
    """FLOPs and KV-cache bytes read for one sample (see the module docstring for the formula).

    Returns ``flops`` (total), its parts ``prefill_flops``, ``decode_flops``, ``head_flops``,
    and ``kv_bytes`` (KV cache read by the decode steps).
    """
    p, g = int(prompt_tokens), int(completion_tokens)
    c = min(max(int(cached_prefix_tokens), 0), p)
    if p < 0 or g < 0:
        raise EvaluatorError(f"accounting: token counts must be >= 0, got prompt={p}, completion={g}")
    prefill = forward_flops(shape, c, p)
    decode = forward_flops(shape, p, p + max(g - 1, 0))
    head = 2.0 * shape.d_model * shape.vocab * g
    kv = shape.kv_bytes_per_token * _ctx_sum(p, p + max(g - 1, 0))
    return {"flops": prefill + decode + head, "prefill_flops": prefill, "decode_flops": decode,
            "head_flops": head, "kv_bytes": float(kv)}


def score_cost(shape: ModelShape, tokens: int, cached_prefix_tokens: int = 0) -> dict:
    """FLOPs for a reward model to read one sequence of ``tokens`` (a prefill plus its head).

    The head is ``2·d_model·n_labels`` for a classifier, ``2·d_model·vocab`` otherwise.
    """
    t = int(tokens)
    c = min(max(int(cached_prefix_tokens), 0), t)
    head = 2.0 * shape.d_model * (shape.n_labels or shape.vocab) if t > 0 else 0.0
    body = forward_flops(shape, c, t)
    return {"flops": body + head, "prefill_flops": body, "head_flops": head}
