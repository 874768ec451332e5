"""models/base.py's sanitize: whatever a model (or a window) holds, the states that come out are finite
float32 with angles in (-pi, pi], and only objects with finite float32 values count as parsed."""

import numpy as np
import pytest

from physics_llm.models.base import FLOAT32_MAX, constvel, sanitize
from physics_llm.sim.state import ANGLE

DT = 1 / 60
HOSTILE = [3e38, -3e38, 3.4e38, -3.4e38, np.nan, np.inf, -np.inf, 1e300, -1e300]


def in_bounds(states):
    a = states[..., ANGLE]
    return (states.dtype == np.float32 and np.isfinite(states).all()
            and ((a > -np.pi) & (a <= np.float32(np.pi))).all())


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_state_is_finite_and_in_bounds(value):
    last = np.array([[[100, 200, 10, -5, 0.5, 1.0], [300, 50, 0, 0, -3.0, -2.0]]], np.float32)  # (1, 2, 6)
    for column in range(6):
        raw = last.astype(np.float64).copy()
        raw[0, 0, column] = value
        states, parsed = sanitize(raw, np.ones((1, 2), bool), last, DT)
        assert in_bounds(states)
        ok = np.isfinite(value) and abs(value) <= FLOAT32_MAX
        assert parsed.tolist() == [[ok, True]]
        if not ok:  # the constvel fill, as for any unparsed object
            np.testing.assert_array_equal(states[0, 0], constvel(last, DT)[0, 0].astype(np.float32))
        np.testing.assert_array_equal(states[0, 1], last[0, 1])  # the other object untouched


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_window_still_gives_finite_states(value):
    # Around 3e38, x + vx*dt overflows float32 in the constvel fill; NaN and inf make it NaN.
    with np.errstate(over="ignore"):
        last = np.full((2, 3, 6), value).astype(np.float32)
    raw = np.full((2, 3, 6), np.nan)
    states, parsed = sanitize(raw, np.ones((2, 3), bool), last, DT)
    assert in_bounds(states) and not parsed.any()
    both = np.full((2, 3, 6), value)  # the model answers the same hostile value
    states, parsed = sanitize(both, np.ones((2, 3), bool), last, DT)
    assert in_bounds(states)


def test_angles_on_the_edge_stay_in_bounds():
    # wrap_angle(pi + 4.5e-16) is exactly -pi, and float64 angles just above -pi round to float32 below it.
    angles = np.array([np.pi, -np.pi, np.pi + 4.5e-16, -np.pi + 1e-9, -3.1415926, 3e38, -3e38, 0.25])
    raw = np.zeros((1, len(angles), 6))
    raw[0, :, ANGLE] = angles
    states, parsed = sanitize(raw, np.ones((1, len(angles)), bool), np.zeros((1, len(angles), 6), np.float32), DT)
    assert in_bounds(states) and parsed.all()
    assert states[0, -1, ANGLE] == np.float32(0.25) and states[0, 0, ANGLE] == np.float32(np.pi)
