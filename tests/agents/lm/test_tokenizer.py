"""The Canvas tokenizer: every string round-trips, format tags are single tokens, save/load keeps it identical."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from agents.lm.tokenizer import BOS, EOS, FORMAT_TAGS, PAD, train_tokenizer

TRICKY = [
    "",
    " ",
    "\n\n\t  ",
    "Make the red circle blue.",
    "  leading and trailing spaces  ",
    "Ünïcödé, emoji 🎨🖌️, CJK 把圆形变成蓝色, RTL שלום",
    "<think>reasoning</think><answer>\n<action>recolor</action><subject>the star, the circle</subject><target>blue</target>\n</answer>",
    "<thinking> <answer <action/> </ target> <<think>>",
    "tags glued<think>to</think>words",
    "<pad><bos><eos> control-like text",
    "\x00\x01\x7f binary-ish",
]


@pytest.mark.parametrize("text", TRICKY)
def test_round_trip_tricky_strings(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in ids


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_round_trip_any_string(tokenizer, text):
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_format_tags_are_single_non_special_tokens(tokenizer):
    for tag in FORMAT_TAGS:
        ids = tokenizer(tag, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, tag
        # A tag is content: it survives skip_special_tokens (only pad/bos/eos are dropped).
        assert tokenizer.decode(ids, skip_special_tokens=True) == tag
    text = "<think>2 edits</think><answer>\n<action>move</action></answer>"
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])
    for tag in ("<think>", "</think>", "<answer>", "<action>", "</action>", "</answer>"):
        assert tag in tokens


def test_special_tokens_and_bos(tokenizer):
    assert (tokenizer.pad_token, tokenizer.bos_token, tokenizer.eos_token) == (PAD, BOS, EOS)
    assert tokenizer.pad_token_id == 0
    assert tokenizer.padding_side == "left"
    ids = tokenizer("make it blue")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[1:] == tokenizer("make it blue", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids + [tokenizer.eos_token_id], skip_special_tokens=True) == "make it blue"


def test_canvas_words_are_cheap(tokenizer, corpus):
    # Trained on the world's text, frequent words cost one token each.
    for word in (" circle", " blue", " hexagon", " background"):
        assert len(tokenizer(word, add_special_tokens=False)["input_ids"]) == 1, word
    assert len(tokenizer(corpus[0])["input_ids"]) < len(corpus[0]) / 2.5


def test_save_and_load_with_auto_tokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    for text in TRICKY:
        assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert len(loaded) == len(tokenizer)
    assert (loaded.pad_token_id, loaded.bos_token_id, loaded.eos_token_id) == (
        tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id,
    )  # fmt: skip


def test_vocab_size_is_respected_and_checked():
    tok = train_tokenizer(["the quick brown fox jumps"] * 50, vocab_size=300)
    assert len(tok) <= 300
    with pytest.raises(ValueError, match="too small"):
        train_tokenizer(["x"], vocab_size=100)
