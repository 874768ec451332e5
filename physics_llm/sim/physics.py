"""Energy and momentum of states (masses and moments from the scene's materials and shapes), and
the collision-onset definition (onset_mask) that training samples by and evaluation reports on.

Potential energy is measured from the floor (y = height, y pointing down), so a
body resting on the floor has 0 and nothing is negative under normal gravity:
PE = -m * g . (p - (0, height)).
"""

from __future__ import annotations

import numpy as np

from physics_llm.sim.scene import Scene
from physics_llm.sim.state import VX, VY


def energy(scene: Scene, states: np.ndarray) -> dict[str, np.ndarray]:
    """states (..., N, 6) -> {"kinetic", "potential", "total"} each (...,), summed over objects."""
    s = np.asarray(states, dtype=np.float64)
    m = scene.masses()  # (N,)
    inertia = scene.moments()  # (N,)
    g = np.asarray(scene.gravity, dtype=np.float64)
    ke = 0.5 * (m * (s[..., 2] ** 2 + s[..., 3] ** 2)).sum(-1) + 0.5 * (inertia * s[..., 5] ** 2).sum(-1)
    pe = -(m * (g[0] * s[..., 0] + g[1] * (s[..., 1] - scene.height))).sum(-1)
    return {"kinetic": ke, "potential": pe, "total": ke + pe}


def momentum(scene: Scene, states: np.ndarray) -> np.ndarray:
    """states (..., N, 6) -> total linear momentum (..., 2)."""
    s = np.asarray(states, dtype=np.float64)
    m = scene.masses()
    return np.stack([(m * s[..., 2]).sum(-1), (m * s[..., 3]).sum(-1)], axis=-1)


# Collision onset threshold (px/s), the default of every config that counts onsets (eval, training):
# gravity alone changes v by 16 px/s a frame, resting contact jitters by a few, an impact by tens to hundreds.
ONSET_PX_S = 50.0


def onset_mask(prev_true: np.ndarray, true: np.ndarray, gravity, dt: float, threshold: float) -> np.ndarray:
    """(..., N) bool: the step prev -> true changed the velocity by more than gravity can.

    Collision onsets: |v_true - v_prev - g*dt| > threshold (px/s). Free flight changes
    v by exactly g*dt, resting contact by a few px/s; an impact by far more.
    """
    a, b = np.asarray(prev_true, np.float64), np.asarray(true, np.float64)
    g = np.asarray(gravity, np.float64)
    ddx = b[..., VX] - a[..., VX] - g[0] * dt
    ddy = b[..., VY] - a[..., VY] - g[1] * dt
    return np.hypot(ddx, ddy) > threshold
