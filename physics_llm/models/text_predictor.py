"""The core of every predictor that reads and writes text (`gpt:`, `hf:`): one pipeline, backends as siblings.

Windows -> prompts (text/views.py: N per window in the object view, 1 in the scene view)
-> tokens (the backend's encode, with bos) -> constrained decoding under the target grammar
(models/decoding.py), all prompts of the call in chunks of `batch_size`, shortest first so a
chunk pads little (the backend's decoder) -> text -> the shared tolerant parser. predict_many
decodes the prompts of several scenes together (eval rollouts advance `rollout_batch` scenes
per call); timing and sanitising are the Predictor base class's.

With `samples` K > 1 each prompt is decoded K times (the backend samples) and the predicted
state is the mean of the parsed samples (angles: the circular mean), parsed where any sample
parsed.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import numpy as np

from physics_llm.models.base import Prediction, Predictor
from physics_llm.models.decoding import max_target_tokens
from physics_llm.sim.scene import Scene
from physics_llm.text import TextFormat, build_prompts, parse_outputs

# A backend's decoder for one generate_texts call: (token lists, their line ids, their target
# bounds) of one chunk -> the chunk's target texts.
Decoder = Callable[[list[list[int]], list[list[int]], list[int]], list[str]]


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


class TextPredictor(Predictor):
    """Prompts, batching, parsing and the mean of samples; a backend implements encode and decoder."""

    def __init__(self, fmt: TextFormat, batch_size: int, samples: int = 1):
        self.fmt = fmt
        self.context = fmt.context
        self.batch_size = batch_size
        self.samples = samples

    @abstractmethod
    def encode(self, prompt: str, need: int) -> list[int] | None:
        """A prompt -> its tokens with bos, or None where they and `need` target tokens cannot fit the model."""

    @abstractmethod
    def decoder(self) -> Decoder:
        """The chunk decoder of one generate_texts call (a sampling backend seeds its generator here)."""

    def generate_texts(self, prompts: list[str], lines: list[list[int]]) -> list[str]:
        """Prompts and the object ids of each one's target lines -> the model's target texts:
        `samples` texts per prompt, prompt by prompt (greedy: one). A prompt that does not fit gets ""."""
        K = self.samples
        if K > 1:
            prompts = [p for p in prompts for _ in range(K)]
            lines = [ids for ids in lines for _ in range(K)]
        need = [max_target_tokens(ids) for ids in lines]
        enc = [self.encode(p, n) for p, n in zip(prompts, need)]
        order = sorted((k for k in range(len(enc)) if enc[k] is not None), key=lambda k: len(enc[k]))
        decode = self.decoder()
        out = [""] * len(prompts)
        for s in range(0, len(order), self.batch_size):
            chunk = order[s:s + self.batch_size]
            texts = decode([enc[k] for k in chunk], [lines[k] for k in chunk], [need[k] for k in chunk])
            for k, text in zip(chunk, texts):
                out[k] = text
        return out

    def _run(self, items: list[tuple[Scene, np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(scene, windows (B, C, N, 6), target_index)] -> per item (states (B, N, 6) NaN where
        unparsed, parsed (B, N))."""
        prompts, lines, spans = [], [], []
        for scene, windows, _ in items:
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
        for (scene, windows, _), (a, b, k) in zip(items, spans):
            per_sample = []
            for s in range(K):
                outputs = [[texts[K * (j + q) + s] for q in range(k)] for j in range(a, b, k)]
                res = parse_outputs(scene, windows, outputs, self.fmt)
                per_sample.append((res.states, res.parsed))
            out.append(mean_of_samples(per_sample))
        return out

    def _predict(self, scene: Scene, windows: np.ndarray, target_index: np.ndarray):
        return self._run([(scene, windows, target_index)])[0]

    def predict_many(self, items: list[tuple[Scene, np.ndarray, np.ndarray | None]]) -> list[Prediction]:
        """All scenes' prompts decode together; each scene's `seconds` is its share by object count."""
        return self._timed([self._checked(scene, w, t) for scene, w, t in items], self._run)
