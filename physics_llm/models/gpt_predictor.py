"""`gpt:PATH`: a from-scratch GPT checkpoint as a Predictor.

Windows -> prompts (text/views.py: N per window in the object view, 1 in the scene
view) -> tokens with bos -> greedy constrained decoding (models/decoding.py), all
prompts of the call in chunks of `batch_size`, shortest first so a chunk pads little
-> text -> the shared tolerant parser. predict_many batches the prompts of several
scenes together (eval rollouts advance `rollout_batch` scenes per call).

Decoding: greedy by default; with `samples` K > 1, K targets are sampled per prompt (temperature
1, a fixed seed per call, so the same inputs give the same output) and the predicted state is
the mean of the parsed samples (angles: the circular mean). The mean of samples estimates the
expected next state, which minimises squared error where the model is unsure (a bounce or not),
while greedy commits to one branch field by field. A spec chooses it: `gpt:PATH?samples=4`.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from physics_llm.errors import UserError
from physics_llm.models.base import Prediction, Predictor, sanitize
from physics_llm.models.decoding import digit_grammar, field_digits, max_target_tokens
from physics_llm.sim.scene import Scene
from physics_llm.text import DigitTokenizer, TextFormat, build_prompts, parse_outputs

# Prompts per generate call. On 2 CPU cores 32-64 decode a frame fastest (8 frames x 30 objects,
# 4x128 model: 0.25 s/frame at 32-64, 0.44 at 256: smaller chunks pad less and stay in cache).
DEFAULT_BATCH = 64


MAX_SAMPLES = 64


def parse_options(spec: str) -> tuple[str, dict]:
    """'PATH?samples=4' -> ('PATH', {'samples': 4}); 'PATH' -> ('PATH', {})."""
    path, sep, query = spec.partition("?")
    options = {}
    for item in query.split("&") if sep else []:
        key, eq, value = item.partition("=")
        if key != "samples" or not eq:
            raise UserError(f"gpt:{spec}: unknown option {item!r} (the one option is samples=K, e.g. "
                            f"gpt:{path}?samples=4)")
        if not value.isdigit():
            raise UserError(f"gpt:{spec}: samples must be a whole number 1..{MAX_SAMPLES}, got {value!r}")
        options["samples"] = int(value)
    return path, options


def mean_of_samples(per_sample: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """[(states (B, N, 6) NaN where unparsed, parsed (B, N))] -> their mean over the parsed samples
    (angles: the circular mean) and parsed where any sample parsed."""
    if len(per_sample) == 1:
        return per_sample[0]
    states = np.stack([s for s, _ in per_sample]).astype(np.float64)  # (K, B, N, 6)
    parsed = np.stack([p for _, p in per_sample])  # (K, B, N)
    n = parsed.sum(axis=0)  # (B, N)
    w = np.where(parsed, 1.0, 0.0)[..., None]
    vals = np.where(parsed[..., None], states, 0.0)
    mean = (vals * w).sum(axis=0) / np.maximum(n, 1)[..., None]
    ang = np.where(parsed, states[..., 4], 0.0)
    mean[..., 4] = np.arctan2((np.sin(ang) * w[..., 0]).sum(0), (np.cos(ang) * w[..., 0]).sum(0))
    mean[n == 0] = np.nan
    return mean.astype(np.float32), n > 0


class GPTPredictor(Predictor):
    """A GPT, its text format and tokenizer as a Predictor. Puts the model in eval mode (no dropout);
    a training loop that evaluates with it switches back with model.train()."""

    name = "gpt"

    def __init__(self, model, fmt: TextFormat, tokenizer: DigitTokenizer, batch_size: int = DEFAULT_BATCH,
                 samples: int = 1, seed: int = 0):
        if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
            raise UserError(f"gpt: samples must be a whole number 1..{MAX_SAMPLES} (1 = greedy), got {samples!r}")
        self.samples, self.seed = samples, seed
        self.model = model.eval()
        self.fmt = fmt
        self.tok = tokenizer
        self.context = fmt.context
        self.batch_size = batch_size
        self.too_long = 0  # prompts left unparsed because prompt + target exceed block_size
        self.trimmed = 0  # object-view prompts that lost their farthest neighbours to fit (fit())

    @classmethod
    def load(cls, spec, batch_size: int = DEFAULT_BATCH) -> "GPTPredictor":
        """`PATH` or `PATH?samples=K` (see the module docstring)."""
        from physics_llm.models.checkpoint import load_checkpoint

        path, options = parse_options(str(spec))
        ck = load_checkpoint(path)
        p = cls(ck.model, ck.fmt, ck.tokenizer, batch_size, **options)
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

    def generate_texts(self, prompts: list[str], lines: list[list[int]]) -> list[str]:
        """Prompts and the object ids of each one's target lines -> the model's target texts:
        `samples` texts per prompt, prompt by prompt (greedy: one).

        A prompt whose tokens plus its longest target exceed block_size gets "" (unparsed).
        """
        K = self.samples
        if K > 1:
            prompts = [p for p in prompts for _ in range(K)]
            lines = [ids for ids in lines for _ in range(K)]
        gen_kw = {}
        if K > 1:
            import torch

            gen_kw = {"temperature": 1.0, "generator": torch.Generator().manual_seed(self.seed)}
        need = [max_target_tokens(ids) for ids in lines]
        block = self.model.cfg.block_size
        enc = [self.tok.encode(self.fit(p, block - n), bos=True) for p, n in zip(prompts, need)]
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
            digits = field_digits(self.fmt.encoding, self.fmt.order)
            grammar = digit_grammar(self.tok, digits).batch([lines[k] for k in chunk])
            gen = self.model.generate([enc[k] for k in chunk], budget, allowed=grammar,
                                      eos_id=self.tok.eos_id, pad_id=self.tok.pad_id, **gen_kw)
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
        K = self.samples
        out = []
        for (scene, windows), (a, b, k) in zip(items, spans):
            per_sample = []
            for s in range(K):
                outputs = [[texts[K * (j + q) + s] for q in range(k)] for j in range(a, b, k)]
                res = parse_outputs(scene, windows, outputs, self.fmt)
                per_sample.append((res.states, res.parsed))
            out.append(mean_of_samples(per_sample))
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
