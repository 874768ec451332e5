"""Predictors: ballistic exact in free flight, oracle exact everywhere, garbage sanitised."""

import numpy as np
import pytest

from physics_llm.errors import UserError
from physics_llm.models.base import Predictor
from physics_llm.models.registry import load_predictor
from physics_llm.sim.generate import random_scene
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate


def windows(traj, C=3):
    t = np.arange(C, len(traj))
    return np.stack([traj[i - C:i] for i in t]), t


def test_ballistic_is_exact_in_free_flight_and_constvel_is_not():
    s = Scene.from_dict({"frames": 30, "walls": None, "objects": [
        {"shape": "box", "size": [20, 10], "material": "cork", "position": [100, 100],
         "velocity": [120, -300], "angular_velocity": 1.5}]})
    tr = simulate(s)
    w, t = windows(tr.traj)
    ball = load_predictor("baseline:ballistic").predict(s, w, t)
    cv = load_predictor("baseline:constvel").predict(s, w, t)
    assert np.abs(ball.states - tr.traj[t]).max() < 1e-3  # float32 storage only
    assert np.abs(cv.states[..., 3] - tr.traj[t][..., 3]).max() == pytest.approx(981 / 60, rel=1e-4)


def test_oracle_has_zero_error_on_a_real_scene():
    s = random_scene(4)
    tr = simulate(s)
    w, t = windows(tr.traj)
    p = load_predictor("oracle").predict(s, w, t)
    assert np.array_equal(p.states, tr.traj[t]) and p.parsed.all()


def test_copy_repeats_the_last_frame():
    s = random_scene(2)
    tr = simulate(s, frames=10)
    w, t = windows(tr.traj)
    assert np.array_equal(load_predictor("baseline:copy").predict(s, w, t).states, tr.traj[t - 1])


class Garbage(Predictor):
    name = "garbage"

    def _predict(self, scene, windows, target_index):
        out = windows[:, -1].copy()
        out[:, 0, 0] = np.nan
        parsed = np.ones(out.shape[:2], bool)
        parsed[:, 1] = False
        return out, parsed


def test_unparsed_and_nan_objects_become_constvel_and_count():
    s = random_scene(3)
    tr = simulate(s, frames=8)
    w, t = windows(tr.traj)
    p = Garbage().predict(s, w, t)
    cv = load_predictor("baseline:constvel").predict(s, w, t)
    assert not p.parsed[:, 0].any() and not p.parsed[:, 1].any() and p.parsed[:, 2:].all()
    assert np.isfinite(p.states).all()
    assert np.array_equal(p.states[:, :2], cv.states[:, :2])


@pytest.mark.parametrize("spec, msg", [("baseline:magic", "unknown baseline 'magic'"),
                                       ("nonsense", "unknown model spec 'nonsense'"),
                                       ("oracle:x", "takes no argument")])
def test_bad_specs(spec, msg):
    with pytest.raises(UserError, match=msg):
        load_predictor(spec)
