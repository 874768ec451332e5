"""Metric functions on hand-made arrays whose answers are worked out by hand in the comments."""

import math

import numpy as np
import pytest

from physics_llm.eval import metrics as M
from physics_llm.sim.physics import energy, momentum
from physics_llm.sim.scene import Scene

G = 981.0
DT = 1.0 / 60.0


def states(rows):
    """rows of (x, y, vx, vy, angle, w) -> (N, 6) float32."""
    return np.array(rows, dtype=np.float32)


def test_position_velocity_angle_rmse():
    true = states([[100, 100, 0, 0, 0.0, 0], [200, 200, 10, 10, -3.1, 0]])
    pred = states([[103, 104, 0, 6, 0.0, 0], [200, 200, 18, 10, 3.1, 0]])
    # position errors 5 and 0: sqrt((25 + 0) / 2)
    assert M.pos_rmse(pred, true) == pytest.approx(math.sqrt(12.5))
    # velocity errors 6 and 8: sqrt((36 + 64) / 2)
    assert M.vel_rmse(pred, true) == pytest.approx(math.sqrt(50.0))
    # angles 3.1 vs -3.1 are 2*pi - 6.2 = 0.0832 apart, not 6.2: sqrt((0 + 0.0832^2) / 2)
    assert M.angle_rmse(pred, true) == pytest.approx((2 * math.pi - 6.2) / math.sqrt(2), rel=1e-5)
    # a mask selects object 0 only
    assert M.pos_rmse(pred, true, np.array([True, False])) == pytest.approx(5.0)
    assert math.isnan(M.pos_rmse(pred, true, np.array([False, False])))


def test_rmse_pools_steps_and_objects():
    true = np.zeros((2, 2, 6), np.float32)
    pred = true.copy()
    pred[0, 0, 0] = 2.0  # one of four object-steps off by 2 px: sqrt(4 / 4) = 1
    assert M.pos_rmse(pred, true) == pytest.approx(1.0)


def test_onsets_are_velocity_changes_beyond_gravity():
    prev = states([[0, 0, 0, 0, 0, 0]] * 3)
    true = states([[0, 0, 0, G * DT, 0, 0],  # free fall: exactly g*dt, no onset
                   [0, 0, 60, G * DT, 0, 0],  # 60 px/s sideways kick: onset
                   [0, 0, 0, G * DT - 40, 0, 0]])  # 40 px/s: below the 50 px/s threshold
    assert M.onset_mask(prev, true, (0, G), DT, 50.0).tolist() == [False, True, False]


def test_parse_rate_and_quantiles():
    assert M.parse_rate(np.array([[True, False], [True, True]])) == 0.75
    med, p90, p99 = M.vel_quantiles(np.arange(1, 102, dtype=float))  # 1..101: ranks are the values
    assert (med, p90, p99) == pytest.approx((51.0, 91.0, 100.0))


def test_curve_rel_err():
    # num = sqrt((0 + 0 + 4) / 3), den = sqrt((1 + 4 + 25) / 3)
    assert M.curve_rel_err(np.array([1, 2, 3.0]), np.array([1, 2, 5.0]), 1e-9) == pytest.approx(math.sqrt(0.4 / 3))
    # vector curves: |(3, 4)| error in one of two frames against |(0, 5)| truth: sqrt(25 / 2) / 5
    assert M.curve_rel_err(np.array([[3, 4], [0, 5.0]]), np.array([[0, 0], [0, 5.0]]), 1e-9) == \
        pytest.approx(math.sqrt(12.5) / math.sqrt(12.5))
    # a true curve of zeros (a scene at rest without gravity) falls back to the floor
    assert M.curve_rel_err(np.array([1.0, 1.0]), np.zeros(2), floor=2.0) == 0.5
    # frames marked exact count as zero error
    assert M.curve_rel_err(np.array([1.0, 9.0]), np.array([1.0, 1.0]), 1e-9, exact=np.array([False, True])) == 0.0


def test_divergence_step():
    assert M.divergence_step(np.array([1.0, 5.0, 12.0, 3.0]), 10.0) == 3
    assert M.divergence_step(np.array([1.0, 2.0]), 10.0) == 3  # never: horizon + 1


def two_body_scene() -> Scene:
    mat = {"density": 1.0, "friction": 0.5, "elasticity": 0.5}
    return Scene.from_dict({"width": 800, "height": 600, "gravity": [0, G], "objects": [
        {"shape": "circle", "radius": 10, "material": mat, "position": [100, 590], "velocity": [3, 4],
         "angular_velocity": 2.0},
        {"shape": "circle", "radius": 10, "material": mat, "position": [300, 490]}]})


def test_energy_and_momentum_of_two_bodies():
    scene = two_body_scene()
    m = math.pi * 100  # density 1 * area pi r^2 for each body
    s = scene.initial_state()
    # A: KE 0.5 m 25, spin 0.5 (0.5 m r^2) w^2 = 100 m, PE m g 10; B: PE m g 110 (height 600, y down)
    e = energy(scene, s)
    assert e["kinetic"] == pytest.approx(m * (12.5 + 100.0))
    assert e["potential"] == pytest.approx(m * G * 120.0)
    assert momentum(scene, s) == pytest.approx([3 * m, 4 * m])

    true = np.stack([s, s])  # (2, 2, 6): the truth keeps the state
    pred = true.copy()
    pred[1, 0, 2] = 0.0  # frame 1 loses A's vx: 0.5 m 9 less energy, 3 m less x-momentum
    e_total = m * (12.5 + 100.0 + G * 120.0)
    assert M.energy_rel_err(scene, pred, true) == pytest.approx((4.5 * m / math.sqrt(2)) / e_total, rel=1e-6)
    assert M.momentum_rel_err(scene, pred, true) == pytest.approx((3 * m / math.sqrt(2)) / (5 * m), rel=1e-6)
    assert M.energy_rel_err(scene, true, true.copy()) == 0.0
