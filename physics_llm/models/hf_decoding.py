"""Constrained decoding for a Hugging Face tokenizer: a LogitsProcessor over the target grammar.

The grammar is the one of models/decoding.py (the GPT's): per line the forced prefix
`o<i> `, six canonical integers (`0`, or an optional `-` then up to MAX_NUMBER_DIGITS
digits not starting with 0) one space apart, a newline; after the last line only eos.
The difference: an HF token may hold several characters (" 12", "o1", "\n"), so a token is
allowed when each of its characters continues a valid target. The state of a row is small
(rest of the forced prefix, later line ids, field, digits so far, sign, leading zero), so
the allowed tokens of a state are computed once, over the few tokens made only of grammar
characters, and cached as an index array (a dense mask per state would be 64 KB for LFM2's
65,536 tokens).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from physics_llm.models.decoding import DIGITS, FIELDS, MAX_NUMBER_DIGITS, line_prefix

CHARS = DIGITS + "o -\n"  # every character a target may contain


class State(NamedTuple):
    prefix: str  # rest of the forced `o<i> ` prefix of the current line
    rest: tuple  # ids of the lines after the current one
    field: int  # which of the six integers is being written
    ndigits: int
    neg: bool
    zero: bool  # the number is "0" (or "-0" is being refused): it must end here


DONE = "done"  # the target is complete: only eos may follow


def start_state(ids: list[int]):
    """The state before a target with these line ids (object view: [i]; scene view: 0..N-1)."""
    if not ids:
        return DONE
    return State(line_prefix(ids[0]), tuple(ids[1:]), 0, 0, False, False)


def step(s, ch: str):
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
        return None if s.zero or s.ndigits >= MAX_NUMBER_DIGITS else s._replace(ndigits=s.ndigits + 1)
    end = " " if s.field < FIELDS - 1 else "\n"
    if ch != end or s.ndigits == 0:
        return None
    if ch == " ":
        return s._replace(field=s.field + 1, ndigits=0, neg=False, zero=False)
    return start_state(list(s.rest))


def walk(s, text: str):
    """State after a whole string, or None."""
    for ch in text:
        s = step(s, ch)
        if s is None:
            return None
    return s


class HFGrammar:
    """Per tokenizer: which tokens spell grammar characters, and the allowed tokens of each state.

    One instance serves every generate call of a predictor (the cache grows with the states
    seen: a few hundred in the object view).
    """

    def __init__(self, tokenizer):
        self.eos_id = tokenizer.eos_token_id
        self.texts = token_texts(tokenizer)
        self.by_first: dict[str, list[tuple[int, str]]] = {}
        for i, t in self.texts.items():
            self.by_first.setdefault(t[0], []).append((i, t))
        self._cache: dict = {}

    def allowed(self, s) -> np.ndarray:
        """(k,) int64 token ids allowed next in state s (eos alone when done, or when nothing fits)."""
        hit = self._cache.get(s)
        if hit is None:
            ids = []
            if s != DONE:
                for ch, group in self.by_first.items():
                    if step(s, ch) is not None:
                        ids.extend(i for i, t in group if walk(s, t) is not None)
            hit = np.array(sorted(ids) or [self.eos_id], dtype=np.int64)
            self._cache[s] = hit
        return hit

    def advance(self, s, token: int):
        """State after a generated token; eos, padding or a refused token end the row."""
        text = self.texts.get(int(token))
        nxt = walk(s, text) if text is not None and s != DONE else None
        return DONE if nxt is None else nxt


def token_texts(tokenizer) -> dict[int, str]:
    """id -> the text the token adds, for tokens made only of grammar characters.

    Each token is decoded after an anchor token and the anchor's text is cut off: decoding a
    token alone drops a leading space in SentencePiece tokenizers ("▁0" -> "0").
    """
    anchor = tokenizer.encode("0", add_special_tokens=False)[:1]
    head = tokenizer.decode(anchor, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    texts = tokenizer.batch_decode([anchor + [i] for i in range(len(tokenizer))], skip_special_tokens=True,
                                   clean_up_tokenization_spaces=False)
    out = {}
    for i, t in enumerate(texts):
        t = t[len(head):] if t.startswith(head) else ""
        if t and all(ch in CHARS for ch in t):
            out[i] = t
    return out


def grammar_processor(grammar: HFGrammar, lines: list[list[int]], prompt_len: int):
    """A transformers LogitsProcessor for one generate call: row b writes the lines lines[b].

    prompt_len: the (left-padded) prompt width; tokens after it are the generated ones.
    """
    import torch
    from transformers import LogitsProcessor

    class _Grammar(LogitsProcessor):
        def __init__(self):
            self.states = [start_state(ids) for ids in lines]
            self.seen = 0

        def __call__(self, input_ids, scores):
            new = input_ids[:, prompt_len + self.seen:].tolist()  # (B, k) tokens since the last call
            for b, toks in enumerate(new):
                for t in toks:
                    self.states[b] = grammar.advance(self.states[b], t)
            self.seen += len(new[0]) if new else 0
            mask = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)  # (B, V)
            for b, s in enumerate(self.states):
                mask[b, torch.from_numpy(grammar.allowed(s))] = True
            return scores.masked_fill(~mask, float("-inf"))

    return _Grammar()
