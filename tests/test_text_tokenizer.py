"""Digit-level tokenizer: fixed small vocabulary, one token per digit, exact round trip, save/load."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physics_llm.errors import UserError
from physics_llm.sim.generate import random_scene
from physics_llm.sim.simulate import simulate
from physics_llm.text import ALPHABET, DigitTokenizer, TextFormat, make_examples
from physics_llm.text.tokenizer import BOS, EOS, PAD, UNK


def test_vocab_is_small_fixed_and_digit_level():
    a, b = DigitTokenizer(), DigitTokenizer()
    assert a.vocab == b.vocab and a.vocab_size == len(ALPHABET) + 4 < 100
    assert a.vocab[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    ids = a.encode("o12 -4120\n")
    assert len(ids) == 10 and len(set(ids[1:3])) == 2  # every character, every digit its own token
    assert a.encode("7", bos=True, eos=True) == [BOS, a.encode("7")[0], EOS]


@pytest.mark.parametrize("view", ["object", "scene"])
@pytest.mark.parametrize("encoding", ["residual", "absolute"])
def test_every_character_the_formats_emit_is_in_the_vocab(view, encoding):
    tok = DigitTokenizer()
    scene = random_scene(5)
    tr = simulate(scene, frames=12)
    for prompt, target in make_examples(scene, tr.traj, TextFormat(view=view, encoding=encoding)):
        for text in (prompt, target):
            ids = tok.encode(text)
            assert UNK not in ids and tok.decode(ids) == text


def test_unknown_characters_and_specials():
    tok = DigitTokenizer()
    assert tok.encode("é") == [UNK]
    assert tok.decode([BOS, *tok.encode("o1 2"), PAD, EOS, UNK, 999, -5]) == "o1 2\ufffd\ufffd\ufffd"


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=ALPHABET))
def test_round_trip_over_the_alphabet(text):
    tok = DigitTokenizer()
    assert tok.decode(tok.encode(text)) == text


def test_save_and_load(tmp_path):
    tok = DigitTokenizer()
    path = tmp_path / "tok" / "tokenizer.json"
    tok.save(path)
    back = DigitTokenizer.load(path)
    assert back.vocab == tok.vocab and back.encode("o3 -12\n") == tok.encode("o3 -12\n")
    # the file's vocabulary rules, so a checkpoint keeps its ids even if ALPHABET changes later
    d = json.loads(path.read_text())
    d["vocab"] = d["vocab"][:4] + ["9", "1", "0"]
    path.write_text(json.dumps(d))
    old = DigitTokenizer.load(path)
    assert old.vocab_size == 7 and old.encode("019") == [6, 5, 4] and old.encode("2") == [UNK]
    path.write_text("{not json")
    with pytest.raises(UserError, match="not a tokenizer JSON"):
        DigitTokenizer.load(path)
    path.write_text(json.dumps({"vocab": ["a", "b"]}))
    with pytest.raises(UserError, match="vocab"):
        DigitTokenizer.load(path)
    with pytest.raises(UserError, match="no such tokenizer file"):
        DigitTokenizer.load(tmp_path / "missing.json")
