"""The Predictor interface shared by eval, app and CLI (docs/DESIGN.md "Predictors").

A predictor turns a scene and its last C frames into the next state, for a batch
of windows at once, and says which objects it really predicted (parsed).
Objects it failed on are filled with the constant-velocity value so a rollout
can go on; they count as unparsed.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from physics_llm.sim.scene import Scene
from physics_llm.sim.state import ANGLE, OMEGA, VX, VY, X, Y, wrap_angle


@dataclass
class Prediction:
    states: np.ndarray  # (B, N, 6) float32: the predicted next state of each window
    parsed: np.ndarray  # (B, N) bool: False where the model produced nothing usable (filled with constvel)
    seconds: float  # wall time the predictor spent on this batch


class Predictor(ABC):
    """Subclasses set `name` and `context` and implement `_predict`. One that decodes several scenes
    together overrides predict_many as `self._timed([self._checked(...) for each item], run)`."""

    name: str = "predictor"
    context: int = 1  # how many past frames the predictor reads (windows may carry more)

    @abstractmethod
    def _predict(self, scene: Scene, windows: np.ndarray, target_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """windows (B, C, N, 6) oldest first; target_index (B,) the frame each prediction is for.

        Returns (states (B, N, 6), parsed (B, N) bool); states may hold NaN where unparsed.
        """

    def predict(self, scene: Scene, windows: np.ndarray, target_index: np.ndarray | None = None) -> Prediction:
        item = self._checked(scene, windows, target_index)
        return self._timed([item], lambda items: [self._predict(*items[0])])[0]

    def predict_many(self, items: list[tuple[Scene, np.ndarray, np.ndarray | None]]) -> list[Prediction]:
        """Several scenes at once; models that batch across scenes override this with _timed (below)."""
        return [self.predict(scene, w, t) for scene, w, t in items]

    def _checked(self, scene: Scene, windows, target_index) -> tuple[Scene, np.ndarray, np.ndarray]:
        """One item of predict's arguments, validated: (scene, windows float32, target_index (B,) int64)."""
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim != 4 or windows.shape[-1] != 6 or windows.shape[2] != scene.n:
            raise ValueError(f"windows must be (B, C, {scene.n}, 6), got {windows.shape}")
        if windows.shape[1] < self.context:
            raise ValueError(f"{self.name} needs {self.context} context frames, got {windows.shape[1]}")
        if target_index is None:
            target_index = np.full(windows.shape[0], -1, dtype=np.int64)
        return scene, windows, np.asarray(target_index, dtype=np.int64)

    def _timed(self, items: list[tuple[Scene, np.ndarray, np.ndarray]], run) -> list[Prediction]:
        """run(items) -> per item (states, parsed), timed and sanitised. Each item's `seconds` is its
        share of the call's time by object count (windows x objects): all of it for one item."""
        t0 = time.perf_counter()
        results = run(items)
        seconds = time.perf_counter() - t0
        total = sum(w.shape[0] * scene.n for scene, w, _ in items) or 1
        preds = []
        for (scene, w, _), (states, parsed) in zip(items, results):
            states, parsed = sanitize(states, parsed, w[:, -1], scene.dt)
            share = 1.0 if len(items) == 1 else w.shape[0] * scene.n / total
            preds.append(Prediction(states=states, parsed=parsed, seconds=seconds * share))
        return preds


def constvel(last: np.ndarray, dt: float) -> np.ndarray:
    """(..., N, 6) -> x + v*dt, v unchanged, angle + w*dt (wrapped)."""
    s = np.asarray(last, dtype=np.float64)
    out = s.copy()
    out[..., X] += s[..., VX] * dt
    out[..., Y] += s[..., VY] * dt
    out[..., ANGLE] = wrap_angle(s[..., ANGLE] + s[..., OMEGA] * dt)
    return out


FLOAT32_MAX = float(np.finfo(np.float32).max)


def sanitize(states: np.ndarray, parsed: np.ndarray, last: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Never trust a model: unparsed objects, and objects with a value that is not a finite float32
    (NaN, inf, beyond +-3.4e38), get the constvel value of `last` and parsed=False.

    Always returns finite float32 states with angles in (-pi, pi] (the Predictor contract), whatever
    the input: a constvel fill that overflows float32 (a window near its limits) is clipped to
    +-FLOAT32_MAX, and a NaN one (a NaN window) is 0."""
    states = np.array(states, dtype=np.float64, copy=True)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, inf * 0 in the fill of a broken window
        parsed = np.asarray(parsed, dtype=bool) & (np.abs(states) <= FLOAT32_MAX).all(axis=-1)  # NaN: False
        fill = constvel(last, dt)
        states[~parsed] = fill[~parsed]
        states[..., ANGLE] = wrap_angle(states[..., ANGLE])
    out = np.clip(np.nan_to_num(states, nan=0.0), -FLOAT32_MAX, FLOAT32_MAX).astype(np.float32)
    angle = out[..., ANGLE]
    angle[angle <= -np.pi] = np.float32(np.pi)  # float32 rounding (or wrap_angle's) can land on -pi or below
    return out, parsed
