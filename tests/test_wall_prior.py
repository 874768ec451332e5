"""The wall-bounce prior (physics_llm/sim/prior.py), the `walls` encoding and baseline:walls."""

import numpy as np
import pytest

from physics_llm.models.registry import load_predictor
from physics_llm.sim.prior import wall_prior
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate
from physics_llm.sim.state import free_flight
from physics_llm.text import TextFormat, format_targets, make_examples, parse_outputs

WALLS = TextFormat(version=2, order="vel_first", gaps=True, encoding="walls")


def ball(y, vy, x=400.0, vx=0.0, walls=True):
    return Scene.from_dict({"walls": {"elasticity": 0.5, "friction": 0.6} if walls else None, "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [x, y], "velocity": [vx, vy]}]})


def test_far_from_walls_the_prior_is_free_flight():
    scene = ball(300, 200, vx=-50)
    s = scene.initial_state()
    assert np.allclose(wall_prior(scene, s), free_flight(s.astype(np.float64), scene.gravity, scene.dt, 4))


def test_a_ball_reaching_the_floor_is_put_on_it_and_bounces_with_the_pair_elasticity():
    scene = ball(587.0, 300.0, vx=40)
    s = scene.initial_state().astype(np.float64)
    ff = free_flight(s, scene.gravity, scene.dt, 4)
    out = wall_prior(scene, s)
    assert ff[0, 1] + 10 > 600  # free flight would cross the floor
    assert out[0, 1] == pytest.approx(590.0)  # the surface touches the floor
    assert out[0, 3] == pytest.approx(-0.8 * 0.5 * ff[0, 3])  # reflected, times 0.8 * 0.5
    assert out[0, 2] == pytest.approx(ff[0, 2]) and out[0, 0] == pytest.approx(ff[0, 0])


def test_a_box_at_an_angle_against_the_left_wall_and_no_walls():
    scene = Scene.from_dict({"objects": [{"shape": "box", "size": [40, 20], "material": "wood",
                                          "position": [24, 300], "velocity": [-300, 0], "angle": 0.6}]})
    s = scene.initial_state().astype(np.float64)
    out = wall_prior(scene, s)
    c, sn = np.cos(out[0, 4]), np.sin(out[0, 4])
    half = 0.5 * (40 * abs(c) + 20 * abs(sn))  # the box's extent along x at its angle
    assert out[0, 0] == pytest.approx(half)
    assert out[0, 2] == pytest.approx(0.4 * 0.5 * 300)  # wood 0.4 times the walls 0.5
    open_scene = ball(588, 300, walls=False)  # would cross y = 600 in this frame
    st = open_scene.initial_state()
    assert np.allclose(wall_prior(open_scene, st), free_flight(st.astype(np.float64), open_scene.gravity,
                                                               open_scene.dt, 4))


def test_walls_encoding_round_trips_and_a_floor_bounce_is_a_small_correction():
    scene = Scene.from_dict({"frames": 40, "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [400, 560], "velocity": [0, 300]}]})
    tr = simulate(scene)
    hit = int(np.argmax(tr.contacts[:, 0]))
    w = tr.traj[None, hit - 2:hit + 1]
    out = format_targets(scene, w, tr.traj[None, hit + 1], WALLS)
    res = parse_outputs(scene, w, out, WALLS)
    assert res.parsed.all() and np.abs(res.states[0, 0, :4] - tr.traj[hit + 1, 0, :4]).max() <= 0.05 + 1e-4
    vy_walls = abs(int(out[0][0].split()[2]))
    vy_resid = abs(int(format_targets(scene, w, tr.traj[None, hit + 1], TextFormat())[0][0].split()[4]))
    assert vy_walls < vy_resid / 3  # most of the impulse is in the rule
    free = make_examples(scene, tr.traj, WALLS, frames=[4])[0][1]  # high above the floor: all zero
    assert free.split()[1:] == ["0"] * 6


def test_baseline_walls_keeps_a_falling_ball_in_the_world():
    scene = ball(500, 400)
    pred = load_predictor("baseline:walls")
    w = simulate(scene, frames=3).traj[None]
    ys = []
    for _ in range(120):
        out = pred.predict(scene, w)
        w = np.concatenate([w[:, 1:], out.states[:, None]], axis=1)
        ys.append(float(out.states[0, 0, 1]))
    assert max(ys) <= 590.0 + 1e-3
    assert "walls" in str(pytest.raises(Exception, load_predictor, "baseline:nope").value)


def test_walls_targets_parse_per_object_when_only_some_objects_parse():
    """The prior depends on the object (shape, material): a row is decoded against its own object
    even when others are missing."""
    scene = Scene.from_dict({"frames": 12, "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [100, 585], "velocity": [0, 300]},
        {"shape": "box", "size": [30, 10], "material": "steel", "position": [400, 590], "velocity": [0, 400]},
        {"shape": "circle", "radius": 5, "material": "ice", "position": [700, 300]}]})
    tr = simulate(scene).traj
    w = tr[None, 0:3]
    out = format_targets(scene, w, tr[None, 3], WALLS)
    full = parse_outputs(scene, w, out, WALLS)
    some = parse_outputs(scene, w, [["", out[0][1], ""]], WALLS)
    assert some.parsed.tolist() == [[False, True, False]]
    assert np.array_equal(some.states[0, 1], full.states[0, 1])
    assert np.abs(full.states[0, :, :4] - tr[3, :, :4]).max() <= 0.05 + 1e-4
