"""Fixed-point units: every number in the text is an integer count of one of these.

    position, size, gap     0.1 px        (POS_UNIT)
    velocity                0.1 px/s      (VEL_UNIT)
    angle                   0.001 rad     (ANGLE_UNIT)
    angular velocity        0.01 rad/s    (OMEGA_UNIT)
    gravity                 0.1 px/s^2    (GRAVITY_UNIT)
    time step               1e-6 s        (DT_UNIT)
    density, friction,      0.01          (MATERIAL_UNIT)
    elasticity

Rounding is np.rint (half to even) everywhere. Decoding divides by the integer
SCALE (rather than multiplying by 0.1), so an integer k decodes to the float64
nearest k * unit and a float32 state survives state -> int -> state with
|error| <= unit / 2 + float32 spacing.

LIMITS are what the parser accepts: a decoded value beyond them is a model's
nonsense (the world is 800 x 600 px; the fastest training object moves at
~1,000 px/s), counted as out_of_range and left unparsed.
"""

from __future__ import annotations

import numpy as np

from physics_llm.sim.state import ANGLE, wrap_angle

POS_UNIT = 0.1  # px
VEL_UNIT = 0.1  # px/s
ANGLE_UNIT = 0.001  # rad
OMEGA_UNIT = 0.01  # rad/s
GRAVITY_UNIT = 0.1  # px/s^2
DT_UNIT = 1e-6  # s
MATERIAL_UNIT = 0.01  # density (mass per px^2), friction, elasticity

# Integer counts per unit of each state column (x, y, vx, vy, angle, angular_velocity).
SCALE = np.array([10, 10, 10, 10, 1000, 100], dtype=np.int64)
UNITS = 1.0 / SCALE  # (6,) float64, for tolerances

# |decoded value| beyond these is out of range: px, px, px/s, px/s, rad (before wrapping), rad/s.
LIMITS = np.array([1e5, 1e5, 1e5, 1e5, 1e3, 1e4])
MAX_DIGITS = 12  # a longer integer cannot be within LIMITS; refusing it keeps int() cheap


def quantize(state) -> np.ndarray:
    """(..., 6) float state -> (..., 6) int64 counts of SCALE units."""
    return np.rint(np.asarray(state, dtype=np.float64) * SCALE).astype(np.int64)


def dequantize(ints) -> np.ndarray:
    """(..., 6) int counts -> (..., 6) float64 values; the angle is NOT wrapped here."""
    return np.asarray(ints, dtype=np.float64) / SCALE


def quantize_diff(a, b) -> np.ndarray:
    """(..., 6) a - b in SCALE units, the angle difference wrapped to (-pi, pi] first."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d[..., ANGLE] = wrap_angle(d[..., ANGLE])
    return np.rint(d * SCALE).astype(np.int64)


def fixed(value: float, unit: float) -> int:
    """One scalar in fixed point (static properties: sizes, materials, gravity)."""
    return int(np.rint(float(value) / unit))
