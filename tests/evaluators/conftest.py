"""Session fixtures for evaluator tests: the policy checkpoint and ONE shared vLLM engine.

``policy_dir`` is the trained ``arith_checkpoint`` (tests/conftest.py) when that fixture exists,
else a tiny untrained Llama with the same kind of character tokenizer. ``vllm_engine`` is a
``VLLMActorEngine`` (vLLM owned by a Ray actor) on it, shared by every evaluator test of the
session — starting vLLM costs ~25–40 s and the first logprobs request compiles for up to 60 s.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Keep the torch-inductor cache stable across sessions (the first logprobs call compiles).
os.environ.setdefault("TMPDIR", os.path.join(tempfile.gettempdir(), "scalelab-vllm-tmp"))
os.makedirs(os.environ["TMPDIR"], exist_ok=True)

ARITH_CHARS = list("0123456789+-=:QA \n")


def build_char_tokenizer():
    """A character-level ``PreTrainedTokenizerFast`` covering the arith alphabet."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    vocab = {t: i for i, t in enumerate(specials + ARITH_CHARS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")


def build_tiny_llama(path: Path, seed: int = 0) -> Path:
    """Save an untrained tiny Llama (width 64, 2 layers, head_dim 32) + char tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_char_tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                      head_dim=32, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      tie_word_embeddings=False)
    torch.manual_seed(seed)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def policy_dir(request, tmp_path_factory) -> Path:
    """The arith policy: ``$SCALELAB_TEST_POLICY_DIR`` if set, else the trained fixture if
    present, else a tiny untrained Llama."""
    if os.environ.get("SCALELAB_TEST_POLICY_DIR"):
        return Path(os.environ["SCALELAB_TEST_POLICY_DIR"])
    try:
        return Path(request.getfixturevalue("arith_checkpoint"))
    except pytest.FixtureLookupError:
        return build_tiny_llama(tmp_path_factory.mktemp("tiny-policy"))


@pytest.fixture(scope="session")
def vllm_engine(ray_local, policy_dir):
    """ONE vLLM engine (in a Ray actor) on the policy, shared by the whole test session."""
    from evaluators.engines import make_engine

    engine = make_engine("vllm", model=str(policy_dir), actor=True,
                         model_id="arith-policy")
    yield engine
    engine.shutdown()
