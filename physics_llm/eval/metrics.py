"""Metric functions (docs/DESIGN.md "Evaluation outputs"): pure numpy on state arrays.

States are (..., N, 6) in the order x, y, vx, vy, angle, angular_velocity; `pred` and
`true` have the same shape. Errors are per object-step; an RMSE pools every object of
every step it is given: pos_rmse = sqrt(mean(dx^2 + dy^2)).

Energy and momentum are judged against the truth's own curve (Pymunk loses energy
through friction and restitution, and gravity and walls change momentum):

    curve_rel_err = RMS_t |C_pred(t) - C_true(t)| / max(RMS_t |C_true(t)|, floor)

Energy is kinetic + potential with the potential measured from the floor
(physics_llm.sim.physics), so the true energy is >= 0 and RMS(E_true) is the energy
the scene holds above its lowest (floor) configuration: the denominator is a physical
scale, not drift from an arbitrary zero. Momentum is the total linear momentum vector.
A scene at rest without gravity holds no energy and no momentum; the floor (all the
scene's mass moving at REST_SPEED) keeps the ratio finite there.
"""

from __future__ import annotations

import numpy as np

from physics_llm.sim import geometry
from physics_llm.sim.physics import energy, momentum, onset_mask  # noqa: F401 (onset_mask: runner.py's M.onset_mask)
from physics_llm.sim.scene import Scene
from physics_llm.sim.state import ANGLE, VX, VY, X, Y, wrap_angle
from physics_llm.text.units import UNITS

REST_SPEED = 1.0  # px/s: below all the mass moving this fast a scene counts as at rest


def pos_sq_err(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(..., N, 6) x2 -> (..., N) squared 2-D position error, float64."""
    p, t = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    return (p[..., X] - t[..., X]) ** 2 + (p[..., Y] - t[..., Y]) ** 2


def vel_err(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(..., N, 6) x2 -> (..., N) norm of the 2-D velocity error (px/s)."""
    p, t = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    return np.hypot(p[..., VX] - t[..., VX], p[..., VY] - t[..., VY])


def angle_err(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(..., N, 6) x2 -> (..., N) angle error wrapped to (-pi, pi] (pi - eps and -pi are close)."""
    return wrap_angle(np.asarray(pred, np.float64)[..., ANGLE] - np.asarray(true, np.float64)[..., ANGLE])


def root_mean(sq: np.ndarray, mask: np.ndarray | None = None) -> float:
    """sqrt(mean(sq)) of squared errors over the selected entries; NaN when none is selected."""
    v = np.asarray(sq, np.float64)
    if mask is not None:
        v = v[np.asarray(mask, bool)]
    return float(np.sqrt(np.mean(v))) if v.size else float("nan")


def rms(values: np.ndarray, mask: np.ndarray | None = None) -> float:
    """sqrt(mean(values^2)) over the selected entries; NaN when none is selected."""
    v = np.asarray(values, np.float64)
    return root_mean(v * v, mask)


def pos_rmse(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> float:
    return root_mean(pos_sq_err(pred, true), mask)


def vel_rmse(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> float:
    return rms(vel_err(pred, true), mask)


def angle_rmse(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> float:
    return rms(angle_err(pred, true), mask)


# "Exact to the quantisation": within 0.6 of a text unit in every column (the text rounds to half a
# unit, the stored truth to 0.01 px, 0.01 px/s, 1e-4 rad, 1e-4 rad/s; 0.6 covers both roundings).
EXACT_UNITS = 0.6


def exact(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(..., N, 6) -> (..., N) bool: every column within EXACT_UNITS text units of the truth."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    d[..., ANGLE] = wrap_angle(d[..., ANGLE])
    return np.all(np.abs(d) <= EXACT_UNITS * UNITS, axis=-1)


def parse_rate(parsed: np.ndarray) -> float:
    """Fraction of object-steps the model really produced (the rest were filled with constvel)."""
    p = np.asarray(parsed, bool)
    return float(p.mean()) if p.size else float("nan")


def vel_quantiles(errors: np.ndarray) -> tuple[float, float, float]:
    """Median, 90th and 99th percentile of velocity error norms (RMSE alone is ruled by rare impacts)."""
    e = np.asarray(errors, np.float64).ravel()
    if not e.size:
        return float("nan"), float("nan"), float("nan")
    q = np.percentile(e, [50, 90, 99])
    return float(q[0]), float(q[1]), float(q[2])


def curve_rel_err(pred_curve: np.ndarray, true_curve: np.ndarray, floor: float,
                  exact: np.ndarray | None = None) -> float:
    """RMS_t |pred - true| / max(RMS_t |true|, floor) for curves (T,) or vector curves (T, D).

    exact: (T,) bool, frames whose predicted state equals the truth bit for bit; their error is 0
    (numpy's SIMD sums depend on memory alignment in the last bit, so equal states can give
    curves that differ by 1e-16, and an exact predictor must score exactly 0).
    """
    p, t = np.asarray(pred_curve, np.float64), np.asarray(true_curve, np.float64)
    if p.ndim == 1:
        p, t = p[:, None], t[:, None]
    sq = np.sum((p - t) ** 2, axis=-1)
    if exact is not None:
        sq[np.asarray(exact, bool)] = 0.0
    num = np.sqrt(np.mean(sq))
    den = np.sqrt(np.mean(np.sum(t * t, axis=-1)))
    return float(num / max(den, floor))


def _exact_frames(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(T, N, 6) x2 -> (T,) bool: frames predicted bit for bit."""
    return (np.asarray(pred) == np.asarray(true)).all(axis=(-2, -1))


def energy_rel_err(scene: Scene, pred: np.ndarray, true: np.ndarray) -> float:
    """Relative error of the predicted total-energy curve; pred/true (T, N, 6) (module docstring)."""
    floor = 0.5 * scene.masses().sum() * REST_SPEED**2
    return curve_rel_err(energy(scene, pred)["total"], energy(scene, true)["total"], floor, _exact_frames(pred, true))


def momentum_rel_err(scene: Scene, pred: np.ndarray, true: np.ndarray) -> float:
    """Relative error of the predicted linear-momentum curve (vector); pred/true (T, N, 6)."""
    floor = scene.masses().sum() * REST_SPEED
    return curve_rel_err(momentum(scene, pred), momentum(scene, true), floor, _exact_frames(pred, true))


def divergence_step(step_rmse: np.ndarray, threshold: float) -> int:
    """First 1-based step whose error exceeds threshold; len(step_rmse) + 1 if none does."""
    over = np.flatnonzero(np.asarray(step_rmse, np.float64) > threshold)
    return int(over[0]) + 1 if over.size else len(step_rmse) + 1


def escaped(scene: Scene, states: np.ndarray) -> np.ndarray:
    """(..., N, 6) -> (..., N) bool: the body is outside the world (module docstring)."""
    return geometry.outside_world(scene, states)


def penetration(scene: Scene, states: np.ndarray) -> np.ndarray:
    """(T, N, 6) -> (T, N) float64: each body's deepest penetration (px) into a body or a wall."""
    return geometry.body_depths(scene, states)


def escaped_frac(scene: Scene, states: np.ndarray) -> float:
    """Fraction of the object-frames of states (T, N, 6) outside the world; NaN when there are none."""
    e = escaped(scene, states)
    return float(e.mean()) if e.size else float("nan")


def overlap_px(scene: Scene, states: np.ndarray) -> float:
    """Mean over the object-frames of states (T, N, 6) of the deepest penetration (px); NaN when none."""
    d = penetration(scene, states)
    return float(d.mean()) if d.size else float("nan")
