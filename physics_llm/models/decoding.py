"""Constrained decoding: at each step, only the tokens that can continue a well-formed target.

One grammar for every tokenizer. The target grammar (text/target.py) is, per line, `o<i> `
then six integers one space apart, then a newline. The ids are known in advance: the object
view has one line, the prompt's object; the scene view has N lines, o0 .. o<N-1> in order
(the order its targets are written in). So the id prefix is forced, and each integer is
canonical, as format_line writes it: `0`, or an optional `-` then 1 to digits[field] digits
not starting with 0. After the last line only eos may follow.

The grammar is a machine over characters (`State`, `Grammar.step`). A tokenizer enters it as
its token texts (id -> the characters the token adds): the digit tokenizer's tokens are one
character each (digit_grammar), a Hugging Face tokenizer's may hold several (" 12", "o1", "\n":
models/hf_decoding.py), and a token is allowed when each of its characters continues the
target. The allowed tokens of a state and each (state, token) transition are computed once
and cached, so a decoding step costs O(B) Python, not O(B * length) nor O(B * vocabulary).
`Grammar.batch(lines)` follows the rows of one generate call.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from physics_llm.text.units import LIMITS, SCALE

# 5 digits: up to 99,999 units (9,999.9 px or px/s, 99.999 rad, 999.99 rad/s) is beyond
# anything the world produces (the fastest objects move at ~1,000 px/s = 10,000 units),
# and every column's limit is 1e6 units (units.LIMITS), so even added to a residual's
# ballistic value inside the world a constrained number always parses. One digit fewer
# would refuse real absolute velocities above 999.9 px/s.
MAX_NUMBER_DIGITS = int(np.floor(np.log10((LIMITS * SCALE).min()))) - 1
FIELDS = len(SCALE)  # six integers per line
DIGITS = "0123456789"
CHARS = DIGITS + "o -\n"  # every character a target may contain


def line_prefix(i: int) -> str:
    return f"o{i} "


def max_line_tokens(i: int) -> int:
    """Longest constrained line for object i: prefix, six signed numbers, five spaces, newline."""
    return len(line_prefix(i)) + FIELDS * (1 + MAX_NUMBER_DIGITS) + (FIELDS - 1) + 1


def max_target_tokens(ids: list[int]) -> int:
    """Bound on the new tokens of a target with these line ids, eos included."""
    return sum(max_line_tokens(i) for i in ids) + 1


# A residual's most digits per state column (x, y, vx, vy, angle, w): in one 1/60 s frame a
# contact moves a body at most a few px beyond free flight (a 2,000 px/s impulse: 33 px), so a
# position residual has at most 3 digits (99.9 px); an angle residual 4 (9.999 rad); velocity
# residuals keep all MAX_NUMBER_DIGITS. A model that is unsure cannot write a 500 px teleport.
RESIDUAL_DIGITS = (3, 3, MAX_NUMBER_DIGITS, MAX_NUMBER_DIGITS, 4, MAX_NUMBER_DIGITS)


def field_digits(encoding: str, order: str = "state") -> tuple[int, ...]:
    """Most digits of each written field of a target line in this encoding and field order."""
    from physics_llm.text.target import ORDERS, RESIDUALS

    if encoding not in RESIDUALS:
        return (MAX_NUMBER_DIGITS,) * FIELDS
    return tuple(RESIDUAL_DIGITS[c] for c in ORDERS[order])


class State(NamedTuple):
    """Where a target is: inside the forced prefix, or in field `field`'s number."""

    prefix: str  # rest of the forced `o<i> ` prefix of the current line
    rest: tuple  # ids of the lines after the current one
    field: int  # which of the six integers is being written
    ndigits: int
    neg: bool
    zero: bool  # the number is "0": it must end here


DONE = "done"  # the target is complete (or was abandoned): only eos may follow


def start_state(ids: list[int]):
    """The state before a target with these line ids (object view: [i]; scene view: 0..N-1)."""
    if not ids:
        return DONE
    return State(line_prefix(ids[0]), tuple(ids[1:]), 0, 0, False, False)


def digit_grammar(tokenizer, digits: tuple[int, ...] | None = None) -> "Grammar":
    """The target grammar over a tokenizer whose `vocab` lists one character per token (DigitTokenizer)."""
    texts = {i: t for i, t in enumerate(tokenizer.vocab) if len(t) == 1 and t in CHARS}
    return Grammar(texts, tokenizer.eos_id, tokenizer.vocab_size, digits)


class Grammar:
    """The target grammar over one tokenizer's tokens: token texts in, allowed next tokens out.

    texts: id -> the text the token adds, for the tokens made only of CHARS (the others are
    never allowed); eos_id: the token that ends a target; vocab_size: the width of mask().
    digits: the most digits of each field (field_digits), MAX_NUMBER_DIGITS each by default.
    One instance serves every generate call of a predictor: the caches grow with the states
    seen (a few hundred in the object view).
    """

    def __init__(self, texts: dict[int, str], eos_id: int, vocab_size: int, digits: tuple[int, ...] | None = None):
        self.digits = tuple(digits) if digits is not None else (MAX_NUMBER_DIGITS,) * FIELDS
        self.texts, self.eos_id, self.vocab_size = dict(texts), eos_id, vocab_size
        self.by_first: dict[str, list[tuple[int, str]]] = {}
        for i, t in self.texts.items():
            self.by_first.setdefault(t[0], []).append((i, t))
        self._allowed: dict = {}
        self._mask: dict = {}
        self._next: dict = {}

    def step(self, s, ch: str):
        """State after character ch, or None where ch cannot continue the target."""
        if s == DONE:
            return None
        if s.prefix:
            return s._replace(prefix=s.prefix[1:]) if ch == s.prefix[0] else None
        if ch == "-":
            return s._replace(neg=True) if s.ndigits == 0 and not s.neg else None
        if ch in DIGITS:
            if s.ndigits == 0:
                return None if s.neg and ch == "0" else s._replace(ndigits=1, zero=ch == "0")
            return None if s.zero or s.ndigits >= self.digits[s.field] else s._replace(ndigits=s.ndigits + 1)
        end = " " if s.field < FIELDS - 1 else "\n"
        if ch != end or s.ndigits == 0:
            return None
        if ch == " ":
            return s._replace(field=s.field + 1, ndigits=0, neg=False, zero=False)
        return start_state(list(s.rest))

    def walk(self, s, text: str):
        """State after a whole string, or None."""
        for ch in text:
            s = self.step(s, ch)
            if s is None:
                return None
        return s

    def allowed(self, s) -> np.ndarray:
        """(k,) int64 token ids allowed next in state s (eos alone when done, or when nothing fits)."""
        hit = self._allowed.get(s)
        if hit is None:
            ids = []
            if s != DONE:
                for ch, group in self.by_first.items():
                    if self.step(s, ch) is not None:
                        ids.extend(i for i, t in group if self.walk(s, t) is not None)
            hit = np.array(sorted(ids) or [self.eos_id], dtype=np.int64)
            self._allowed[s] = hit
        return hit

    def mask(self, s) -> np.ndarray:
        """(vocab_size,) bool: allowed() as a dense mask."""
        hit = self._mask.get(s)
        if hit is None:
            hit = np.zeros(self.vocab_size, dtype=bool)
            hit[self.allowed(s)] = True
            self._mask[s] = hit
        return hit

    def advance(self, s, token: int):
        """State after a generated token; eos, padding or a refused token end the target (DONE)."""
        key = (s, token)
        nxt = self._next.get(key)
        if nxt is None:
            text = self.texts.get(token)
            nxt = self.walk(s, text) if text is not None and s != DONE else None
            nxt = self._next[key] = DONE if nxt is None else nxt
        return nxt

    def batch(self, lines: list[list[int]]) -> "Rows":
        """The rows of one generate call: row b writes the lines lines[b]."""
        return Rows(self, lines)


class Rows:
    """The grammar states of the rows of one generate call, advanced by the tokens they emit.

    Called with the new tokens so far per row (GPT.generate's `allowed`), it returns the
    (B, vocab_size) bool mask of the tokens each row may emit next; advance() takes only the
    tokens emitted since the last call (the Hugging Face LogitsProcessor).
    """

    def __init__(self, grammar: Grammar, lines: list[list[int]]):
        self.grammar = grammar
        self.states = [start_state(ids) for ids in lines]
        self.seen = [0] * len(lines)

    def reorder(self, rows: list[int]) -> None:
        """Row r continues what row rows[r] has written so far (beam search re-chooses its rows)."""
        self.states = [self.states[r] for r in rows]
        self.seen = [self.seen[r] for r in rows]

    def advance(self, new: list[list[int]]) -> None:
        """new[b]: row b's tokens since the last call."""
        g, states = self.grammar, self.states
        for b, toks in enumerate(new):
            for token in toks:
                states[b] = g.advance(states[b], token)

    def __call__(self, generated: list[list[int]]) -> np.ndarray:
        """generated: per row the tokens emitted so far -> (B, vocab_size) bool allowed next."""
        self.advance([toks[seen:] for toks, seen in zip(generated, self.seen)])
        self.seen = [len(toks) for toks in generated]
        return np.stack([self.grammar.mask(s) for s in self.states])
