"""Constrained decoding: at each step, only the tokens that can continue a well-formed target.

The target grammar (text/target.py) is, per line, `o<i> ` then six integers one space
apart, then a newline. The ids are known in advance: the object view has one line, the
prompt's object; the scene view has N lines, o0 .. o<N-1> in order (the order its targets
are written in). So the id prefix is forced, and each integer is canonical, as
format_line writes it: `0`, or an optional `-` then 1 to MAX_NUMBER_DIGITS digits not
starting with 0. After the last line only eos may follow.

A row's state is a tiny machine over characters, advanced by the tokens it emitted
since the previous call, so a step costs O(B) Python, not O(B * length).
"""

from __future__ import annotations

import numpy as np

from physics_llm.text.tokenizer import DigitTokenizer
from physics_llm.text.units import LIMITS, SCALE

# 5 digits: up to 99,999 units (9,999.9 px or px/s, 99.999 rad, 999.99 rad/s) is beyond
# anything the world produces (the fastest objects move at ~1,000 px/s = 10,000 units),
# and every column's limit is 1e6 units (units.LIMITS), so even added to a residual's
# ballistic value inside the world a constrained number always parses. One digit fewer
# would refuse real absolute velocities above 999.9 px/s.
MAX_NUMBER_DIGITS = int(np.floor(np.log10((LIMITS * SCALE).min()))) - 1
FIELDS = len(SCALE)  # six integers per line
DIGITS = "0123456789"


def line_prefix(i: int) -> str:
    return f"o{i} "


def max_line_tokens(i: int) -> int:
    """Longest constrained line for object i: prefix, six signed numbers, five spaces, newline."""
    return len(line_prefix(i)) + FIELDS * (1 + MAX_NUMBER_DIGITS) + (FIELDS - 1) + 1


def max_target_tokens(ids: list[int]) -> int:
    """Bound on the new tokens of a target with these line ids, eos included."""
    return sum(max_line_tokens(i) for i in ids) + 1


class _Row:
    """Where one row is in its target: forced prefix, or the current number of field `field`."""

    __slots__ = ("line", "prefix", "field", "ndigits", "neg", "zero", "done")

    def __init__(self, first_id: int | None):
        self.line = 0
        self.prefix = line_prefix(first_id) if first_id is not None else ""
        self.field = self.ndigits = 0
        self.neg = self.zero = False
        self.done = first_id is None  # no lines: eos at once


# A residual's most digits per state column (x, y, vx, vy, angle, w): in one 1/60 s frame a
# contact moves a body at most a few px beyond free flight (a 2,000 px/s impulse: 33 px), so a
# position residual has at most 3 digits (99.9 px); an angle residual 4 (9.999 rad); velocity
# residuals keep all MAX_NUMBER_DIGITS. A model that is unsure cannot write a 500 px teleport.
RESIDUAL_DIGITS = (3, 3, MAX_NUMBER_DIGITS, MAX_NUMBER_DIGITS, 4, MAX_NUMBER_DIGITS)


def field_digits(encoding: str, order: str = "state") -> tuple[int, ...]:
    """Most digits of each written field of a target line in this encoding and field order."""
    from physics_llm.text.target import ORDERS

    if encoding not in ("residual", "walls"):
        return (MAX_NUMBER_DIGITS,) * FIELDS
    return tuple(RESIDUAL_DIGITS[c] for c in ORDERS[order])


class TargetGrammar:
    """The `allowed` callable of GPT.generate for a batch of targets.

    lines[b]: the object ids of row b's target lines, in order (object view: [i];
    scene view: [0, ..., N-1]). Called with the new tokens so far per row, it returns
    a (B, V) bool mask. One instance serves one generate call. digits: the most digits of
    each field (field_digits), MAX_NUMBER_DIGITS each by default.
    """

    def __init__(self, tokenizer: DigitTokenizer, lines: list[list[int]], digits: tuple[int, ...] | None = None):
        self.digits = tuple(digits) if digits is not None else (MAX_NUMBER_DIGITS,) * FIELDS
        self.tok = tokenizer
        self.lines = [list(ids) for ids in lines]
        self.rows = [_Row(ids[0] if ids else None) for ids in self.lines]
        self.seen = [0] * len(lines)
        V = tokenizer.vocab_size

        def mask(chars: str = "", eos: bool = False) -> np.ndarray:
            m = np.zeros(V, dtype=bool)
            m[[i for ch in chars for i in tokenizer.encode(ch)]] = True
            m[tokenizer.eos_id] = eos
            return m

        self._eos = mask(eos=True)
        self._char = {ch: mask(ch) for ch in set(DIGITS + "o -\n")}
        self._start = mask("-" + DIGITS)
        self._after_minus = mask(DIGITS[1:])
        self._digit_or = {t: mask(DIGITS + t) for t in " \n"}

    def _advance(self, r: _Row, b: int, token: int) -> None:
        if r.done or not (0 <= token < self.tok.vocab_size and self._mask(r)[token]):
            r.done = True  # eos, or a token the mask refused (the caller ignored it): nothing more
            return
        ch = self.tok.vocab[token]
        if r.prefix:
            r.prefix = r.prefix[1:]
        elif ch == "-":
            r.neg = True
        elif ch in DIGITS:
            r.zero = r.ndigits == 0 and ch == "0"
            r.ndigits += 1
        else:  # the space or newline that ends a number
            r.field, r.ndigits, r.neg, r.zero = r.field + 1, 0, False, False
            if ch == "\n":
                r.line, r.field = r.line + 1, 0
                ids = self.lines[b]
                if r.line < len(ids):
                    r.prefix = line_prefix(ids[r.line])
                else:
                    r.done = True

    def _mask(self, r: _Row) -> np.ndarray:
        if r.done:
            return self._eos
        if r.prefix:
            return self._char[r.prefix[0]]
        end = " " if r.field < FIELDS - 1 else "\n"
        if r.ndigits == 0:
            return self._after_minus if r.neg else self._start
        if r.zero or r.ndigits >= self.digits[r.field]:
            return self._char[end]
        return self._digit_or[end]

    def __call__(self, generated: list[list[int]]) -> np.ndarray:
        """generated: per row the tokens emitted so far -> (B, V) bool allowed next."""
        for b, toks in enumerate(generated):
            r = self.rows[b]
            for token in toks[self.seen[b]:]:
                self._advance(r, b, token)
            self.seen[b] = len(toks)
        return np.stack([self._mask(r) for r in self.rows])
