"""`gpt:PATH`: a from-scratch GPT checkpoint as a Predictor.

Windows -> prompts (text/views.py: N per window in the object view, 1 in the scene
view) -> tokens with bos -> greedy constrained decoding (models/decoding.py), all
prompts of the call in chunks of `batch_size`, shortest first so a chunk pads little
-> text -> the shared tolerant parser. predict_many batches the prompts of several
scenes together (eval rollouts advance `rollout_batch` scenes per call).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from physics_llm.models.base import Prediction, Predictor, sanitize
from physics_llm.models.decoding import TargetGrammar, max_target_tokens
from physics_llm.sim.scene import Scene
from physics_llm.text import DigitTokenizer, TextFormat, build_prompts, parse_outputs

# Prompts per generate call. On 2 CPU cores 32-64 decode a frame fastest (8 frames x 30 objects,
# 4x128 model: 0.25 s/frame at 32-64, 0.44 at 256: smaller chunks pad less and stay in cache).
DEFAULT_BATCH = 64


class GPTPredictor(Predictor):
    """A GPT, its text format and tokenizer as a Predictor. Puts the model in eval mode (no dropout);
    a training loop that evaluates with it switches back with model.train()."""

    name = "gpt"

    def __init__(self, model, fmt: TextFormat, tokenizer: DigitTokenizer, batch_size: int = DEFAULT_BATCH):
        self.model = model.eval()
        self.fmt = fmt
        self.tok = tokenizer
        self.context = fmt.context
        self.batch_size = batch_size
        self.too_long = 0  # prompts left unparsed because prompt + target exceed block_size

    @classmethod
    def load(cls, path, batch_size: int = DEFAULT_BATCH) -> "GPTPredictor":
        from physics_llm.models.checkpoint import load_checkpoint

        ck = load_checkpoint(path)
        p = cls(ck.model, ck.fmt, ck.tokenizer, batch_size)
        p.name = f"gpt:{path}"
        return p

    def generate_texts(self, prompts: list[str], lines: list[list[int]]) -> list[str]:
        """Prompts and the object ids of each one's target lines -> the model's target texts.

        A prompt whose tokens plus its longest target exceed block_size gets "" (unparsed).
        """
        enc = [self.tok.encode(p, bos=True) for p in prompts]
        need = [max_target_tokens(ids) for ids in lines]
        block = self.model.cfg.block_size
        fits = [k for k in range(len(enc)) if len(enc[k]) + need[k] <= block]
        if len(fits) < len(enc):
            if not self.too_long:
                print(f"warning: {self.name}: prompts need more than block_size {block} tokens with their target "
                      f"and are left unparsed (use the object view or train with a larger block_size)", file=sys.stderr)
            self.too_long += len(enc) - len(fits)
        out = [""] * len(prompts)
        order = sorted(fits, key=lambda k: len(enc[k]))
        for s in range(0, len(order), self.batch_size):
            chunk = order[s:s + self.batch_size]
            longest = max(len(enc[k]) for k in chunk)
            # Each row fits alone; a chunk's longest prompt with another row's longer target may
            # not, and the few tokens cut there only matter for targets near the longest bound.
            budget = min(max(need[k] for k in chunk), block - longest)
            grammar = TargetGrammar(self.tok, [lines[k] for k in chunk])
            gen = self.model.generate([enc[k] for k in chunk], budget, allowed=grammar,
                                      eos_id=self.tok.eos_id, pad_id=self.tok.pad_id)
            for k, toks in zip(chunk, gen):
                out[k] = self.tok.decode(toks)
        return out

    def _run(self, items: list[tuple[Scene, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(scene, windows (B, C, N, 6))] -> per item (states (B, N, 6) NaN where unparsed, parsed (B, N))."""
        prompts, lines, spans = [], [], []
        for scene, windows in items:
            per_window = build_prompts(scene, windows, self.fmt)  # validates the windows' shape
            ids = [[i] for i in range(scene.n)] if self.fmt.view == "object" else [list(range(scene.n))]
            start = len(prompts)
            for row in per_window:
                prompts.extend(row)
                lines.extend(ids)
            spans.append((start, len(prompts), len(ids)))
        texts = self.generate_texts(prompts, lines)
        out = []
        for (scene, windows), (a, b, k) in zip(items, spans):
            outputs = [texts[j:j + k] for j in range(a, b, k)]
            res = parse_outputs(scene, windows, outputs, self.fmt)
            out.append((res.states, res.parsed))
        return out

    def _predict(self, scene: Scene, windows: np.ndarray, target_index: np.ndarray):
        return self._run([(scene, windows)])[0]

    def predict_many(self, items: list[tuple[Scene, np.ndarray, np.ndarray | None]]) -> list[Prediction]:
        """All scenes' prompts decode together; each scene's `seconds` is its share by object count."""
        t0 = time.perf_counter()
        pairs = [(scene, np.asarray(w, dtype=np.float32)) for scene, w, _ in items]
        results = self._run(pairs)
        seconds = time.perf_counter() - t0
        total = sum(w.shape[0] * scene.n for scene, w in pairs) or 1
        preds = []
        for (scene, w), (states, parsed) in zip(pairs, results):
            states, parsed = sanitize(states, parsed, w[:, -1], scene.dt)
            preds.append(Prediction(states=states, parsed=parsed, seconds=seconds * w.shape[0] * scene.n / total))
        return preds
