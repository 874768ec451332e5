"""State arrays (docs/DESIGN.md "State arrays") and the free-flight rule.

A state is float32 (N, 6) with columns FEATURES; a trajectory is (T, N, 6), frame 0
the initial state; contacts are (T-1, N) bool (object n touched anything during
the step t -> t+1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURES = ("x", "y", "vx", "vy", "angle", "angular_velocity")
X, Y, VX, VY, ANGLE, OMEGA = range(6)


@dataclass
class Trajectory:
    """What simulate() returns and a dataset stores per scene (here, so reading one needs no pymunk)."""
    traj: np.ndarray  # (T, N, 6) float32
    contacts: np.ndarray  # (T-1, N) bool


def wrap_angle(a):
    """Wrap radians to (-pi, pi]."""
    return np.pi - np.mod(np.pi - np.asarray(a, dtype=np.float64), 2 * np.pi)


def free_flight(state: np.ndarray, gravity, dt: float, substeps: int) -> np.ndarray:
    """The state one frame later if nothing touches anything (Pymunk's exact rule).

    Pymunk integrates positions before velocities within each substep h = dt/n:
    x' = x + v*h, then v' = v + g*h. Over n substeps:
    x' = x + v*dt + g*dt^2*(n-1)/(2n), v' = v + g*dt; angle' = angle + w*dt.

    state: (..., N, 6) -> same shape, float64 math, float32 out when given float32.
    """
    s = np.asarray(state, dtype=np.float64)
    g = np.asarray(gravity, dtype=np.float64)
    n = int(substeps)
    out = s.copy()
    out[..., X:Y + 1] = s[..., X:Y + 1] + s[..., VX:VY + 1] * dt + g * dt * dt * (n - 1) / (2 * n)
    out[..., VX:VY + 1] = s[..., VX:VY + 1] + g * dt
    out[..., ANGLE] = wrap_angle(s[..., ANGLE] + s[..., OMEGA] * dt)
    return out.astype(np.asarray(state).dtype if np.asarray(state).dtype == np.float32 else np.float64)
