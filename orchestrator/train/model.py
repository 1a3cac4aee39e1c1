"""The model family: Llama-style causal LMs built from (width, depth, head_dim, vocab).

Checkpoints are plain ``transformers.LlamaForCausalLM`` directories, so vLLM loads them.

Conventions (stated once, used by every count below):

- **Untied** embeddings: ``embed_tokens`` and ``lm_head`` are separate ``vocab × width``
  matrices. Scaling-law N then excludes both cleanly (Kaplan/Chinchilla convention).
- ``num_heads = width // head_dim`` and ``num_key_value_heads = num_heads`` (no GQA), no biases.
- ``intermediate_size`` = the Llama rule ``8·width/3`` rounded *up* to a multiple of 32.
- **N** (non-embedding) = every parameter except ``embed_tokens`` and ``lm_head``:
  ``depth·(4·w² + 3·w·I + 2·w) + w`` (attention, MLP, two RMSNorms per layer, final norm).
  **N_total** = N + 2·vocab·width.
- **Training FLOPs per token** (forward + backward = 3 × forward matmul FLOPs):
  ``3·[2·depth·(4·w² + 3·w·I) + 2·w·vocab + 4·depth·seq_len·w]`` — all linear layers, the
  lm_head, and attention scores + weighted values over the full ``seq_len × seq_len`` matrix
  (what dense SDPA kernels compute; a causal kernel that skips the masked half does less).
  Element-wise work (norms, RoPE, SiLU, softmax, the loss) is excluded (< 1 % at these sizes).
  ``6·N`` is reported separately as the classic approximation.
"""
from __future__ import annotations

import math

from orchestrator.errors import OrchestratorError

# head dims the vLLM CPU attention backend supports (16 fails); ≥ 32 and a multiple of 16
VLLM_HEAD_DIMS = (32, 64, 80, 96, 112, 128, 160, 192, 256)


class ModelShapeError(OrchestratorError):
    """A model shape that cannot be built (one line; CLI exit 2)."""


def intermediate_size(width: int) -> int:
    """MLP hidden size: Llama's ``8·width/3`` rounded up to a multiple of 32."""
    return 32 * math.ceil(8 * width / 3 / 32)


def check_shape(width: int, depth: int, head_dim: int, vocab_size: int | None = None) -> None:
    """Raise :class:`ModelShapeError` naming the field when the shape is invalid."""
    for name, v in (("width", width), ("depth", depth), ("head_dim", head_dim)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ModelShapeError(f"{name} must be a positive integer, got {v!r}")
    if head_dim not in VLLM_HEAD_DIMS:
        raise ModelShapeError(f"head_dim must be one of {VLLM_HEAD_DIMS} (vLLM CPU), got {head_dim}")
    if width % head_dim:
        raise ModelShapeError(f"width must be a multiple of head_dim={head_dim}, got {width}")
    if vocab_size is not None and (not isinstance(vocab_size, int) or vocab_size < 2):
        raise ModelShapeError(f"vocab_size must be an integer ≥ 2, got {vocab_size!r}")


def build_model(width: int, depth: int, head_dim: int, vocab_size: int, seq_len: int,
                seed: int = 0, mup_base_width: int | None = None):
    """Build a freshly initialised ``LlamaForCausalLM`` (fp32, untied embeddings, RoPE).

    ``mup_base_width``: muP init and output multiplier (:mod:`orchestrator.train.mup`);
    None is the standard parametrization (every weight ~ N(0, 0.02²)).

    ``max_position_embeddings`` is ``max(seq_len, 2048)``: RoPE has no learned positions, so
    this only bounds the context vLLM will accept (``max_model_len``); quality beyond the
    training ``seq_len`` is not promised.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    check_shape(width, depth, head_dim, vocab_size)
    if not isinstance(seq_len, int) or seq_len < 2:
        raise ModelShapeError(f"seq_len must be an integer ≥ 2, got {seq_len!r}")
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=width, intermediate_size=intermediate_size(width),
        num_hidden_layers=depth, num_attention_heads=width // head_dim,
        num_key_value_heads=width // head_dim, head_dim=head_dim,
        max_position_embeddings=max(seq_len, 2048),
        rms_norm_eps=1e-5, initializer_range=0.02, tie_word_embeddings=False,
        attention_bias=False, mlp_bias=False, use_cache=True,
        rope_theta=10000.0, torch_dtype="float32",
    )
    config._attn_implementation = "sdpa"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    from orchestrator.train.mup import apply

    return apply(model, width, mup_base_width)


def param_counts(width: int, depth: int, head_dim: int, vocab_size: int) -> tuple[int, int]:
    """``(N, N_total)``: non-embedding parameters and all parameters (analytic)."""
    check_shape(width, depth, head_dim, vocab_size)
    w, i = width, intermediate_size(width)
    n = depth * (4 * w * w + 3 * w * i + 2 * w) + w
    return n, n + 2 * vocab_size * w


def flops_per_token(width: int, depth: int, head_dim: int, vocab_size: int,
                    seq_len: int) -> dict[str, int]:
    """Training FLOPs per token: ``{"exact": ..., "six_n": 6·N}`` (see the module docstring)."""
    check_shape(width, depth, head_dim, vocab_size)
    w, i = width, intermediate_size(width)
    fwd = 2 * depth * (4 * w * w + 3 * w * i) + 2 * w * vocab_size + 4 * depth * seq_len * w
    n, _ = param_counts(width, depth, head_dim, vocab_size)
    return {"exact": 3 * fwd, "six_n": 6 * n}


def choose_shape(target_n: float, vocab_size: int | None = None, head_dim: int = 32,
                 aspect_ratio: float = 32.0, max_depth: int = 64) -> tuple[int, int]:
    """Pick ``(width, depth)`` whose non-embedding N is closest (in log) to ``target_n``.

    Rule: ``width ≈ aspect_ratio · depth`` (default 32, inside the usual 32–64 band; very
    small models get at least one head), width a multiple of ``head_dim``. Every depth
    1..``max_depth`` is tried with width = the nearest multiple of head_dim to
    ``aspect_ratio·depth``; the best match of N wins (ties: the shallower model).
    ``vocab_size`` does not enter N (embeddings are excluded); it is only validated.
    """
    if not (isinstance(target_n, (int, float)) and target_n > 0):
        raise ModelShapeError(f"target N must be a positive number, got {target_n!r}")
    if not (isinstance(aspect_ratio, (int, float)) and aspect_ratio > 0):
        raise ModelShapeError(f"aspect_ratio must be positive, got {aspect_ratio!r}")
    check_shape(head_dim, 1, head_dim, vocab_size)
    best = None
    for depth in range(1, max_depth + 1):
        width = max(head_dim, head_dim * round(aspect_ratio * depth / head_dim))
        n, _ = param_counts(width, depth, head_dim, vocab_size or 2)
        err = abs(math.log(n / target_n))
        if best is None or err < best[0] - 1e-12:
            best = (err, width, depth)
    return best[1], best[2]


def peak_flops(device) -> float:
    """Dense bf16 peak FLOP/s of a CUDA device (for MFU); NaN when unknown or on CPU."""
    import torch

    if getattr(device, "type", str(device)) != "cuda" or not torch.cuda.is_available():
        return float("nan")
    name = torch.cuda.get_device_name(device)
    for key, peak in (("H200", 989e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12),
                      ("A10", 125e12), ("L4", 121e12)):
        if key in name:
            return peak
    return float("nan")
