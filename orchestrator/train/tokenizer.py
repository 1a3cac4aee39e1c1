"""Tokenizers built locally with the ``tokenizers`` library, saved as ``PreTrainedTokenizerFast``.

Two kinds:

- :func:`char_tokenizer` — one token per character of a fixed alphabet (the arith alphabet by
  default: digits, ``+ - = Q A :``, space, newline) plus ``<s> </s> <pad> <unk>``.
- :func:`train_bpe` — a byte-level BPE trained on local text files (deterministic for the
  same files and vocab size).

Both add BOS through the post-processor (``encode("Q: 1+2\\n\\n")`` starts with ``<s>``), so the
documents the trainer packs and the prompts vLLM receives agree. EOS is appended by the
trainer after each training document. A minimal chat template (BOS + the message contents,
in order) is set so ``/v1/chat/completions`` works; send the task prompt as the user message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from orchestrator.errors import OrchestratorError

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
SPECIALS = (BOS, EOS, PAD, UNK)
ARITH_ALPHABET = "0123456789+-=QA: \n"
CHAT_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{{ message['content'] }}"
                 "{% endfor %}")


class TokenizerError(OrchestratorError):
    """Bad tokenizer input (one line; CLI exit 2)."""


def _wrap(tok):
    """Set the BOS post-processor and wrap as a ``PreTrainedTokenizerFast``."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS,
                                   pad_token=PAD, unk_token=UNK)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def char_tokenizer(alphabet: str = ARITH_ALPHABET):
    """A character-level tokenizer over ``alphabet`` (ids: specials 0–3, then the alphabet)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    chars = list(dict.fromkeys(alphabet))  # de-duplicate, keep order
    if not chars:
        raise TokenizerError("alphabet must contain at least one character")
    vocab = {t: i for i, t in enumerate(list(SPECIALS) + chars)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(list(SPECIALS))
    return _wrap(tok)


def train_bpe(files: Iterable[str | Path], vocab_size: int = 512, digits: bool = False):
    """Train a byte-level BPE on ``files`` (deterministic); specials are ids 0–3.

    ``digits=True`` splits every digit into its own token before BPE (as Llama does), so
    numbers are read digit by digit (arithmetic mixed into text stays learnable).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    files = [str(f) for f in files]
    if not files:
        raise TokenizerError("train_bpe: no text files given")
    if not isinstance(vocab_size, int) or vocab_size < 256 + len(SPECIALS):
        raise TokenizerError(f"vocab_size must be an integer ≥ {256 + len(SPECIALS)} for "
                             f"byte-level BPE, got {vocab_size!r}")
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if digits:
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     tok.pre_tokenizer])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train(sorted(files), trainer)
    return _wrap(tok)


def save_tokenizer(tok, directory: str | Path) -> Path:
    """Save as an HF tokenizer directory (``tokenizer.json`` + config with chat template)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(directory))
    return directory


def load_tokenizer(directory: str | Path):
    """Load a tokenizer saved by :func:`save_tokenizer` (or any HF tokenizer directory)."""
    from transformers import PreTrainedTokenizerFast

    directory = Path(directory)
    if not (directory / "tokenizer.json").exists():
        raise TokenizerError(f"tokenizer directory {directory} has no tokenizer.json")
    return PreTrainedTokenizerFast.from_pretrained(str(directory))
