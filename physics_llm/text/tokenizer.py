"""Digit-level tokenizer: one token per character of format.ALPHABET, plus four specials.

Ids: <pad> 0, <bos> 1, <eos> 2, <unk> 3 (any character outside the alphabet),
then the alphabet in its fixed order, so the vocabulary is the same every time
(49 symbols). Every digit is its own token, so 4120 is four tokens and the
model sees the place value of each digit.
"""

from __future__ import annotations

import json
from pathlib import Path

from physics_llm.errors import UserError
from physics_llm.text.format import ALPHABET

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
UNK_TEXT = "\ufffd"  # what <unk> decodes to


class DigitTokenizer:
    pad_id, bos_id, eos_id, unk_id = PAD, BOS, EOS, UNK

    def __init__(self, alphabet: str = ALPHABET):
        if len(set(alphabet)) != len(alphabet):
            raise ValueError("tokenizer alphabet has repeated characters")
        self.vocab: list[str] = [*SPECIALS, *alphabet]
        self._ids = {ch: i for i, ch in enumerate(self.vocab) if i >= len(SPECIALS)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self._ids.get(ch, UNK) for ch in text]
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids) -> str:
        """Ids -> text; <pad>/<bos>/<eos> are dropped, <unk> and ids outside the vocab read as U+FFFD."""
        out = []
        for i in ids:
            i = int(i)
            if i in (PAD, BOS, EOS):
                continue
            out.append(self.vocab[i] if len(SPECIALS) <= i < len(self.vocab) else UNK_TEXT)
        return "".join(out)

    def save(self, path: str | Path) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps({"kind": "digit", "vocab": self.vocab}, indent=0) + "\n")
        tmp.replace(p)

    @classmethod
    def load(cls, path: str | Path) -> "DigitTokenizer":
        """The vocabulary stored in the file (not today's ALPHABET), so old checkpoints keep their ids."""
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError:
            raise UserError(f"{p}: no such tokenizer file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{p}: not a tokenizer JSON file ({e})") from None
        vocab = d.get("vocab") if isinstance(d, dict) else None
        if (not isinstance(vocab, list) or tuple(vocab[:len(SPECIALS)]) != SPECIALS
                or not all(isinstance(c, str) and len(c) == 1 for c in vocab[len(SPECIALS):])):
            raise UserError(f"{p}: 'vocab' must list {', '.join(SPECIALS)} and then single characters")
        return cls("".join(vocab[len(SPECIALS):]))
