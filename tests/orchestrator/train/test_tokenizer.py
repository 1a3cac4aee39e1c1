"""Tokenizers: char-level arith tokenizer and locally trained byte-level BPE."""
from __future__ import annotations

import json

import pytest

from evaluators.tasks.arith import training_documents
from orchestrator.train.tokenizer import (
    ARITH_ALPHABET,
    TokenizerError,
    char_tokenizer,
    load_tokenizer,
    save_tokenizer,
    train_bpe,
)


def test_char_tokenizer_round_trip_and_bos(tmp_path):
    tok = char_tokenizer()
    assert len(tok) == 4 + len(ARITH_ALPHABET)
    doc = training_documents(1, level=2, seed=3)[0]
    ids = tok(doc).input_ids
    assert ids[0] == tok.bos_token_id and len(ids) == len(doc) + 1   # one token per char
    assert tok.decode(ids, skip_special_tokens=True) == doc
    save_tokenizer(tok, tmp_path / "tok")
    tok2 = load_tokenizer(tmp_path / "tok")
    assert tok2(doc).input_ids == ids
    assert (tok2.bos_token, tok2.eos_token, tok2.pad_token) == ("<s>", "</s>", "<pad>")
    assert len({tok2.bos_token_id, tok2.eos_token_id, tok2.pad_token_id}) == 3
    # the chat template renders BOS + the prompt, tokenised exactly like the plain prompt
    prompt = "Q: 12+7\n\n"
    chat = tok2.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                    add_generation_prompt=True)
    assert chat == "<s>" + prompt
    assert tok2(chat, add_special_tokens=False).input_ids == tok2(prompt).input_ids


def test_unknown_character_maps_to_unk():
    tok = char_tokenizer()
    assert tok("x").input_ids == [tok.bos_token_id, tok.unk_token_id]


def test_bpe_is_deterministic_and_round_trips(tmp_path):
    text = "\n".join(f"the quick brown fox {i} jumps over the lazy dog number {i * 7}"
                     for i in range(300))
    f = tmp_path / "a.txt"
    f.write_text(text)
    t1, t2 = train_bpe([f], vocab_size=320), train_bpe([f], vocab_size=320)
    s1, s2 = (json.loads(t._tokenizer.to_str()) for t in (t1, t2))
    assert s1["model"]["vocab"] == s2["model"]["vocab"]
    assert s1["model"]["merges"] == s2["model"]["merges"]
    assert len(t1) == 320
    sample = "the lazy fox, number 42 ünïcode"
    ids = t1(sample).input_ids
    assert ids[0] == t1.bos_token_id
    assert len(ids) < len(sample.encode())            # merges actually compress
    assert t1.decode(ids, skip_special_tokens=True) == sample
    save_tokenizer(t1, tmp_path / "bpe")
    assert load_tokenizer(tmp_path / "bpe")(sample).input_ids == ids


def test_errors_are_one_line_and_exit_2(tmp_path):
    with pytest.raises(TokenizerError, match="vocab_size"):
        train_bpe([tmp_path / "x.txt"], vocab_size=10)
    with pytest.raises(TokenizerError, match="tokenizer.json"):
        load_tokenizer(tmp_path)
    assert TokenizerError.exit_code == 2
