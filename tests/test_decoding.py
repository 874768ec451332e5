"""One target grammar for every tokenizer (models/decoding.py): the digit tokenizer and an HF tokenizer agree."""

import numpy as np
from hf_tiny import tiny_tokenizer

from physics_llm.models.decoding import DONE, digit_grammar, field_digits, start_state
from physics_llm.models.hf_decoding import hf_grammar
from physics_llm.text import DigitTokenizer
from physics_llm.text.target import format_line

TOK = DigitTokenizer()


def chars(g, s) -> set[str]:
    """The texts of the tokens allowed in state s ("<eos>" for eos)."""
    return {g.texts.get(int(i), "<eos>") for i in g.allowed(s)}


def test_the_digit_and_a_character_hf_tokenizer_allow_the_same_characters_everywhere():
    """tiny_tokenizer has other ids than DigitTokenizer for the same characters: the grammar sees texts only."""
    rng = np.random.default_rng(0)
    for digits in (None, field_digits("residual", "vel_first")):
        gd, gh = digit_grammar(TOK, digits), hf_grammar(tiny_tokenizer(), digits)
        for ids in ([3], [0, 1, 2], [12]):
            rows = [format_line(i, rng.integers(-10 ** rng.integers(1, 6), 10 ** rng.integers(1, 6), 6)) + "\n"
                    for i in ids]
            text = "".join(rows)
            sd = sh = start_state(ids)
            for ch in text:
                assert chars(gd, sd) == chars(gh, sh)
                sd, sh = gd.step(sd, ch), gh.step(sh, ch)
                assert (sd is None) == (sh is None)
                if sd is None:  # a number beyond its field's bound (residual digits)
                    assert digits is not None
                    break
            else:
                assert sd == sh == DONE and chars(gd, sd) == chars(gh, sh) == {"<eos>"}


def test_tokens_advance_the_state_and_a_refused_token_ends_the_target():
    g = digit_grammar(TOK)
    rows = g.batch([[1], [2]])
    enc = [TOK.encode("o1 0 "), TOK.encode("o3")]  # row 1 ignores its mask ("3" where "2" is forced)
    mask = rows(enc)
    assert mask.shape == (2, TOK.vocab_size)
    assert set(np.flatnonzero(mask[0])) == {i for i in range(TOK.vocab_size) if TOK.vocab[i] in "-0123456789"}
    assert np.flatnonzero(mask[1]).tolist() == [TOK.eos_id]
    assert rows.states[1] == DONE
    rows([enc[0] + TOK.encode("-"), enc[1]])  # only the new tokens are read
    assert rows.states[0] == g.walk(start_state([1]), "o1 0 -")
