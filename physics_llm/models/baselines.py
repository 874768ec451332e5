"""Baselines every model is judged against (docs/DESIGN.md "Predictors").

copy:      the last frame again.
constvel:  x + v*dt, v unchanged.
ballistic: the exact free-flight rule of Pymunk (gravity, no contacts), so on a
           body that touches nothing it is exact.
walls:     ballistic, then a bounce off any wall the body would cross (physics_llm/sim/prior.py):
           the rule the `walls` text encoding writes its targets against.
rest:      walls, except that a body in lasting contact (its last step departed from free flight
           by 8-60 px/s) keeps its last velocity: the rule of the `rest` encoding.
impulse:   rest, plus a frictionless impulse for every new body-body contact: the `impulse` rule.
touch:     impulse, its rest case only for a body that touches something after free flight: the
           `touch` rule.
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


class Walls(Predictor):
    """The rule a residual text encoding is written against, alone (text/target.py base)."""

    name = "baseline:walls"
    encoding = "walls"

    def _predict(self, scene: Scene, windows: np.ndarray, target_index: np.ndarray):
        from physics_llm.text.target import base

        return base(scene, windows, self.encoding), np.ones((windows.shape[0], windows.shape[2]), dtype=bool)


class Rest(Walls):
    name = "baseline:rest"
    encoding = "rest"
    context = 2  # the rule reads the last two frames


class Impulse(Rest):
    name = "baseline:impulse"
    encoding = "impulse"


class Touch(Rest):
    name = "baseline:touch"
    encoding = "touch"


BASELINES = {"copy": Copy, "constvel": ConstVel, "ballistic": Ballistic, "walls": Walls, "rest": Rest,
             "impulse": Impulse, "touch": Touch}
