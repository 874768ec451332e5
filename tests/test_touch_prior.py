"""The touch rule (physics_llm/sim/prior.py touch_prior), sim/geometry.touching, the `touch`
encoding and baseline:touch."""

import numpy as np
import pytest

from physics_llm.eval.metrics import exact
from physics_llm.models.registry import load_predictor
from physics_llm.sim.generate import random_scene
from physics_llm.sim.geometry import touching
from physics_llm.sim.prior import TOUCH_MARGIN, free_flight, impulse_prior, touch_prior
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate
from physics_llm.text import TextFormat
from physics_llm.text.target import decode, encode
from physics_llm.text.units import UNITS


def scene_of(*objects) -> Scene:
    return Scene.from_dict({"objects": [{"material": "wood", "velocity": [0, 0], **o} for o in objects]})


def test_touching_measures_the_surface_gap_to_walls_and_bodies():
    r = 10.0
    floor = scene_of({"shape": "circle", "radius": r, "position": [400, 500]})
    pair = scene_of({"shape": "circle", "radius": r, "position": [300, 300]},
                    {"shape": "circle", "radius": r, "position": [350, 300]},
                    {"shape": "box", "size": [20, 20], "angle": 0.7, "position": [100, 100]})
    box = scene_of({"shape": "box", "size": [20, 20], "angle": np.pi / 4, "position": [400, 500]})
    for gap, want in ((0.05, True), (0.5, False), (-2.0, True)):
        s = floor.initial_state()[None].copy()
        s[0, 0, 1] = 600 - r - gap
        assert touching(floor, s, 0.1)[0, 0] == want, gap
        s = pair.initial_state()[None].copy()
        s[0, 1, 0] = 300 + 2 * r + gap
        assert list(touching(pair, s, 0.1)[0]) == [want, want, False], gap
        s = box.initial_state()[None].copy()  # turned 45 degrees: its corner is sqrt(2) * 10 px below its centre
        s[0, 0, 1] = 600 - 10 * np.sqrt(2) - gap
        assert touching(box, s, 0.1)[0, 0] == want, gap
    bad = floor.initial_state()[None].copy()
    bad[..., 0] = np.nan
    assert not touching(floor, bad, 0.1).any()
    with pytest.raises(ValueError, match="states must be"):
        touching(floor, floor.initial_state(), 0.1)


def contact_pair(lift: float):
    """A ball whose last step was a lasting contact (its velocity did not change: gravity was
    cancelled), `lift` px above the floor, and a ball in free flight far away."""
    r = 10.0
    scene = scene_of({"shape": "circle", "radius": r, "position": [400, 600 - r - lift], "velocity": [20, -1]},
                     {"shape": "circle", "radius": r, "position": [100, 100], "velocity": [5, 5]})
    last = scene.initial_state().astype(np.float64)
    prev = last.copy()
    prev[1, 3] -= scene.gravity[1] * scene.dt
    return scene, prev, last


def test_a_body_leaving_its_contact_is_in_free_flight_and_a_resting_one_keeps_its_velocity():
    scene, prev, last = contact_pair(lift=0.0)  # on the floor: the rest case, as impulse_prior
    out = touch_prior(scene, prev, last)
    assert np.array_equal(out, impulse_prior(scene, prev, last))
    assert out[0, 2:4] == pytest.approx(last[0, 2:4])
    scene, prev, last = contact_pair(lift=3.0)  # 3 px above the floor and rising: it left the floor
    out = touch_prior(scene, prev, last)
    ff = free_flight(last, scene.gravity, scene.dt, scene.substeps)
    assert np.array_equal(out, ff)  # free flight for both bodies
    assert not np.array_equal(impulse_prior(scene, prev, last)[0], ff[0])  # where impulse kept its velocity
    assert TOUCH_MARGIN < 3.0


def test_touch_encoding_round_trips_and_its_rule_is_exact_more_often_in_free_flight():
    rng = np.random.default_rng(5)
    free_ex = {"impulse": [], "touch": []}
    for seed in (31, 32, 33):
        scene = random_scene(seed)
        tr = simulate(scene)
        t = np.arange(3, len(tr.traj))
        w = tr.traj[t[:, None] + np.arange(-3, 0)]
        nxt = tr.traj[t] + rng.normal(0, 300, tr.traj[t].shape).astype(np.float32)
        back = decode(scene, w, encode(scene, w, nxt, "touch"), "touch")
        d = np.abs(back - nxt)
        d[..., 4] = np.abs(np.angle(np.exp(1j * (back[..., 4] - nxt[..., 4]))))
        assert (d <= UNITS / 2 + 1e-3).all()
        free = ~tr.contacts[t - 1]
        for k in free_ex:
            pred = load_predictor(f"baseline:{k}").predict(scene, w, t).states
            free_ex[k].append(exact(pred, tr.traj[t])[free])
    got = {k: np.concatenate(v).mean() for k, v in free_ex.items()}
    assert got["touch"] > got["impulse"], got
    assert TextFormat(version=2, encoding="touch").encoding == "touch"
    with pytest.raises(Exception, match="context >= 2"):
        TextFormat(version=2, encoding="touch", context=1)
