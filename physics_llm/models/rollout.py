"""Closed-loop rollouts: the one stepping core of eval's run_rollouts and the app's model worker.

A rollout starts from C true frames (the context, ending just before frame `first`) and
predicts frames first, first+1, ... for `steps` steps, each from the predictor's own
previous predictions: every predicted state becomes the newest frame of the window the
next step reads. Several rollouts advance in lockstep, one predict_many() call per step
for all of them still going (models that batch across scenes can), so a batch of eval
scenes and the app's single rollout are the same loop.

`step()` does one step and returns at once, so a caller can do other work between frames
(the app's worker reads its commands there: pause, stop, a new rollout).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from physics_llm.models.base import Prediction, Predictor
from physics_llm.sim.scene import Scene


class Rollouts:
    """Rollouts of one predictor; starts: [(scene, context (C, N, 6), first, steps)], steps >= 0 each."""

    def __init__(self, predictor: Predictor, starts: list[tuple[Scene, np.ndarray, int, int]]):
        self.predictor = predictor
        self.scenes = [scene for scene, _, _, _ in starts]
        self.windows = [np.array(context, dtype=np.float32) for _, context, _, _ in starts]  # (C, N, 6) each
        self.first = [int(first) for _, _, first, _ in starts]
        self.steps = [int(steps) for _, _, _, steps in starts]
        self.k = 0  # steps done: the next step predicts frame first + k of every rollout with k < its steps

    @property
    def total(self) -> int:
        """Steps until every rollout is done (the longest rollout's)."""
        return max(self.steps, default=0)

    @property
    def done(self) -> bool:
        return self.k >= self.total

    def frame(self, i: int = 0) -> int:
        """The absolute frame the next step predicts for rollout i."""
        return self.first[i] + self.k

    def step(self) -> list[tuple[int, Prediction]]:
        """Predict the next frame of every rollout still going -> [(rollout index, Prediction of one
        window: states (1, N, 6), parsed (1, N))]. If the predictor raises, nothing has advanced."""
        active = [i for i, n in enumerate(self.steps) if self.k < n]
        outs = self.predictor.predict_many(
            [(self.scenes[i], self.windows[i][None], np.array([self.frame(i)])) for i in active])
        for i, out in zip(active, outs):
            self.windows[i] = np.concatenate([self.windows[i][1:], out.states])
        self.k += 1
        return list(zip(active, outs))

    def __iter__(self) -> Iterator[list[tuple[int, Prediction]]]:
        """Every remaining step's step() result, in order."""
        while not self.done:
            yield self.step()
