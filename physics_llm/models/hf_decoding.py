"""Constrained decoding for a Hugging Face tokenizer: the target grammar (models/decoding.py) as a LogitsProcessor.

An HF token may hold several characters (" 12", "o1", "\n"); the grammar allows a token when
each of its characters continues the target. token_texts finds what each token adds, and the
grammar's allowed tokens of a state are an index array (a dense mask per state would be 64 KB
for LFM2's 65,536 tokens).
"""

from __future__ import annotations

from physics_llm.models.decoding import CHARS, Grammar


def hf_grammar(tokenizer, digits: tuple[int, ...] | None = None) -> Grammar:
    """The target grammar over an HF tokenizer's tokens (one per predictor: its caches persist)."""
    return Grammar(token_texts(tokenizer), tokenizer.eos_token_id, len(tokenizer), digits)


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


def grammar_processor(grammar: Grammar, lines: list[list[int]], prompt_len: int):
    """A transformers LogitsProcessor for one generate call: row b writes the lines lines[b].

    prompt_len: the (left-padded) prompt width; tokens after it are the generated ones.
    """
    import torch
    from transformers import LogitsProcessor

    class _Grammar(LogitsProcessor):
        def __init__(self):
            self.rows = grammar.batch(lines)
            self.seen = 0

        def __call__(self, input_ids, scores):
            new = input_ids[:, prompt_len + self.seen:].tolist()  # (B, k) tokens since the last call
            self.rows.advance(new)
            self.seen += len(new[0]) if new else 0
            mask = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)  # (B, V)
            for b, s in enumerate(self.rows.states):
                mask[b, torch.from_numpy(grammar.allowed(s))] = True
            return scores.masked_fill(~mask, float("-inf"))

    return _Grammar()
