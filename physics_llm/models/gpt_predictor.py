"""`gpt:PATH`: a from-scratch GPT checkpoint as a Predictor (the GPT backend of models/text_predictor.py).

The digit tokenizer's tokens with bos -> batched decoding with a KV cache (models/gpt.py)
under the target grammar over the digit tokens (models/decoding.py). A prompt longer than the
model's block_size with its target loses its farthest neighbours (fit), else it is left
unparsed.

Decoding: greedy by default; with `samples` K > 1, K targets are sampled per prompt (temperature
1, a fixed seed per call, so the same inputs give the same output) and the predicted state is
the mean of the parsed samples (angles: the circular mean). The mean of samples estimates the
expected next state, which minimises squared error where the model is unsure (a bounce or not),
while greedy commits to one branch field by field. A spec chooses it: `gpt:PATH?samples=4`.
With `beams` K > 1, beam search (GPT.generate_beam) writes the most likely whole target among K
kept: greedy takes the most likely next token, so a "0" of p 0.2 loses to a "-" whose many
continuations share p 0.4, though each is far less likely than "0 0 0 0 0 0" (on 239 free-flight
object-steps of 4 test scenes, gpt-contact greedy was exact on 84%, with 3 beams on 100%).
`gpt:PATH?beams=3`. A checkpoint may name its default decoding in decoding.json
({"beams": 3} or {"samples": 4}); options in the spec replace it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from physics_llm.errors import UserError
from physics_llm.models.decoding import digit_grammar, field_digits
from physics_llm.models.text_predictor import TextPredictor
from physics_llm.text import DigitTokenizer, TextFormat

# Prompts per generate call. On 2 CPU cores 32-64 decode a frame fastest (8 frames x 30 objects,
# 4x128 model: 0.25 s/frame at 32-64, 0.44 at 256: smaller chunks pad less and stay in cache).
DEFAULT_BATCH = 64


MAX_SAMPLES = 64
MAX_BEAMS = 16
OPTIONS = {"samples": MAX_SAMPLES, "beams": MAX_BEAMS}  # option -> its largest value
DECODING_FILE = "decoding.json"  # a checkpoint's default decoding options


def parse_options(spec: str) -> tuple[str, dict]:
    """'PATH?samples=4' -> ('PATH', {'samples': 4}); 'PATH?beams=3' -> ('PATH', {'beams': 3}); 'PATH' -> ('PATH', {})."""
    path, sep, query = spec.partition("?")
    options = {}
    for item in query.split("&") if sep else []:
        key, eq, value = item.partition("=")
        if key not in OPTIONS or not eq:
            raise UserError(f"gpt:{spec}: unknown option {item!r} (the options are samples=K and beams=K, e.g. "
                            f"gpt:{path}?beams=3)")
        if not value.isdigit():
            raise UserError(f"gpt:{spec}: {key} must be a whole number 1..{OPTIONS[key]}, got {value!r}")
        options[key] = int(value)
    return path, options


def checkpoint_options(path: str) -> dict:
    """The checkpoint's decoding.json ({"beams": K} or {"samples": K}), {} when it has none."""
    from physics_llm.io import read_text

    f = Path(path) / DECODING_FILE
    if not f.is_file():
        return {}
    try:
        d = json.loads(read_text(f, "decoding options", 1 << 16))
    except (ValueError, RecursionError):
        d = None
    if not isinstance(d, dict) or set(d) - set(OPTIONS):
        raise UserError(f"{f}: expected an object with samples and/or beams (whole numbers), e.g. {{\"beams\": 3}}; "
                        f"fix or delete the file")
    return d


def check_decoding(samples=1, beams=1) -> None:
    """UserError unless samples and beams are whole numbers in range and not both above 1."""
    for key, v in (("samples", samples), ("beams", beams)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= OPTIONS[key]:
            raise UserError(f"gpt: {key} must be a whole number 1..{OPTIONS[key]} (1 = greedy), got {v!r}")
    if samples > 1 and beams > 1:
        raise UserError(f"gpt: samples={samples} and beams={beams} do not combine: choose one (beams=1 with "
                        f"samples, or samples=1 with beams)")


def decoding_of(path: str, options: dict) -> dict:
    """The decoding a spec gets: its own options, else the checkpoint's decoding.json; checked."""
    chosen = options or checkpoint_options(path)  # the spec decides: its options replace the checkpoint's
    check_decoding(**chosen)
    return chosen


class GPTPredictor(TextPredictor):
    """A GPT, its text format and tokenizer as a Predictor. Puts the model in eval mode (no dropout);
    a training loop that evaluates with it switches back with model.train()."""

    name = "gpt"

    def __init__(self, model, fmt: TextFormat, tokenizer: DigitTokenizer, batch_size: int = DEFAULT_BATCH,
                 samples: int = 1, seed: int = 0, beams: int = 1):
        check_decoding(samples, beams)
        super().__init__(fmt, batch_size, samples)
        self.seed = seed
        self.beams = beams
        self.model = model.eval()
        self.tok = tokenizer
        self.grammar = digit_grammar(tokenizer, field_digits(fmt.encoding, fmt.order))
        self.too_long = 0  # prompts left unparsed because prompt + target exceed block_size
        self.trimmed = 0  # object-view prompts that lost their farthest neighbours to fit (fit())

    @classmethod
    def load(cls, spec, batch_size: int = DEFAULT_BATCH) -> "GPTPredictor":
        """`PATH`, `PATH?samples=K` or `PATH?beams=K` (see the module docstring)."""
        from physics_llm.models.checkpoint import load_checkpoint

        path, options = parse_options(str(spec))
        decoding = decoding_of(path, options)
        ck = load_checkpoint(path)
        p = cls(ck.model, ck.fmt, ck.tokenizer, batch_size, **decoding)
        p.name = f"gpt:{spec}"
        return p

    def fit(self, prompt: str, budget: int) -> str:
        """An object-view prompt longer than `budget` tokens (bos included) loses its farthest
        neighbour lines (they come last, nearest first) until it fits: the model sees the
        nearest ones, as with a smaller `neighbours`. Other prompts are returned as they are."""
        if self.fmt.view != "object" or len(prompt) + 1 <= budget:  # one token per character
            return prompt
        keep = 2 + (self.fmt.context - 1) + 1  # head, state, dv lines and a wall line
        rows = prompt.splitlines(keepends=True)
        while len(rows) > keep and len(self.tok.encode("".join(rows), bos=True)) > budget:
            rows.pop()
        self.trimmed += 1
        return "".join(rows)

    def encode(self, prompt: str, need: int) -> list[int] | None:
        """Tokens with bos, the prompt trimmed to fit with its target (fit); None (and a warning the
        first time) where even so prompt and target exceed block_size."""
        block = self.model.cfg.block_size
        enc = self.tok.encode(self.fit(prompt, block - need), bos=True)
        if len(enc) + need <= block:
            return enc
        if not self.too_long:
            print(f"warning: {self.name}: prompts need more than block_size {block} tokens with their target "
                  f"and are left unparsed (use the object view or train with a larger block_size)", file=sys.stderr)
        self.too_long += 1
        return None

    def decoder(self):
        """Greedy, beam search with beams K > 1, or with samples K > 1 sampling at temperature 1 from a generator seeded the same way on
        every call (the same inputs give the same output)."""
        gen_kw = {}
        if self.samples > 1:
            import torch

            gen_kw = {"temperature": 1.0, "generator": torch.Generator().manual_seed(self.seed)}
        block = self.model.cfg.block_size

        def decode(enc: list[list[int]], lines: list[list[int]], need: list[int]) -> list[str]:
            # Each row fits alone; a chunk's longest prompt with another row's longer target may
            # not, and the few tokens cut there only matter for targets near the longest bound.
            budget = min(max(need), block - max(len(e) for e in enc))
            if self.beams > 1:
                gen = self.model.generate_beam(enc, budget, self.beams, allowed=self.grammar.batch(lines),
                                               eos_id=self.tok.eos_id, pad_id=self.tok.pad_id)
            else:
                gen = self.model.generate(enc, budget, allowed=self.grammar.batch(lines), eos_id=self.tok.eos_id,
                                          pad_id=self.tok.pad_id, **gen_kw)
            return [self.tok.decode(toks) for toks in gen]

        return decode
