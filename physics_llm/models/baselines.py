"""Baselines every model is judged against (docs/DESIGN.md "Predictors").

copy:      the last frame again.
constvel:  x + v*dt, v unchanged.
ballistic: the exact free-flight rule of Pymunk (gravity, no contacts), so on a
           body that touches nothing it is exact.
"""

from __future__ import annotations

import numpy as np

from physics_llm.models.base import Predictor, constvel
from physics_llm.sim.scene import Scene
from physics_llm.sim.state import free_flight


class Copy(Predictor):
    name = "baseline:copy"

    def _predict(self, scene: Scene, windows: np.ndarray, target_index: np.ndarray):
        last = windows[:, -1]
        return last.copy(), np.ones(last.shape[:2], dtype=bool)


class ConstVel(Predictor):
    name = "baseline:constvel"

    def _predict(self, scene: Scene, windows: np.ndarray, target_index: np.ndarray):
        last = windows[:, -1]
        return constvel(last, scene.dt), np.ones(last.shape[:2], dtype=bool)


class Ballistic(Predictor):
    name = "baseline:ballistic"

    def _predict(self, scene: Scene, windows: np.ndarray, target_index: np.ndarray):
        last = windows[:, -1].astype(np.float64)
        return free_flight(last, scene.gravity, scene.dt, scene.substeps), np.ones(last.shape[:2], dtype=bool)


BASELINES = {"copy": Copy, "constvel": ConstVel, "ballistic": Ballistic}
