"""Energy and momentum of states (masses and moments from the scene's materials and shapes).

Potential energy is measured from the floor (y = height, y pointing down), so a
body resting on the floor has 0 and nothing is negative under normal gravity:
PE = -m * g . (p - (0, height)).
"""

from __future__ import annotations

import numpy as np

from physics_llm.sim.scene import Scene


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
