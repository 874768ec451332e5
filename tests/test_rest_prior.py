"""The lasting-contact rule (physics_llm/sim/prior.py rest_prior), the `rest` encoding and baseline:rest."""

import numpy as np
import pytest

from physics_llm.errors import ConfigError
from physics_llm.models.registry import load_predictor
from physics_llm.sim.generate import random_scene
from physics_llm.sim.prior import REST_MAX, REST_MIN, rest_departure, rest_prior, wall_prior
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate
from physics_llm.text import TextFormat, format_targets, make_examples, parse_outputs
from physics_llm.text.target import decode, encode
from physics_llm.text.units import UNITS

REST = TextFormat(version=2, order="vel_first", gaps=True, encoding="rest")


def two_balls():
    return Scene.from_dict({"objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [200, 300], "velocity": [30, -40]},
        {"shape": "circle", "radius": 10, "material": "steel", "position": [500, 589.95], "velocity": [4, 0.3]}]})


def test_free_flight_and_impacts_keep_the_wall_rule_and_a_resting_body_keeps_its_velocity():
    scene = two_balls()
    g = scene.gravity[1] * scene.dt
    last = scene.initial_state().astype(np.float64)
    prev = last.copy()
    prev[0, 3] -= g  # object 0: the last step was free flight (departure 0)
    # object 1: prev == last, its velocity did not change: gravity was cancelled (departure g*dt)
    dep = rest_departure(scene, prev, last)
    assert dep[0] == pytest.approx(0, abs=1e-9) and dep[1] == pytest.approx(g)
    assert REST_MIN <= g <= REST_MAX
    out = rest_prior(scene, prev, last)
    walls = wall_prior(scene, last)
    assert np.array_equal(out[0], walls[0])
    assert out[1, 2:4] == pytest.approx(last[1, 2:4])  # the resting body keeps its velocity ...
    assert out[1, :2] == pytest.approx(last[1, :2] + last[1, 2:4] * scene.dt)  # ... and moves by it
    assert walls[1, 3] < 0  # where the wall rule alone bounces it off the floor
    impact = last.copy()
    impact[1, 3] = prev[1, 3] - 250.0  # a departure of hundreds of px/s: an impact, the wall rule
    assert np.array_equal(rest_prior(scene, prev, impact)[1], wall_prior(scene, impact)[1])


def test_rest_encoding_round_trips_exactly_on_random_scenes_boxes_at_any_angle():
    rng = np.random.default_rng(3)
    for seed in (11, 12):
        scene = random_scene(seed)
        tr = simulate(scene, frames=80)
        t = rng.integers(3, 80, size=12)
        w = tr.traj[t[:, None] + np.arange(-3, 0)]
        w = w + rng.normal(0, 40, w.shape).astype(np.float32) * (rng.random(w.shape[:3])[..., None] < 0.3)
        nxt = tr.traj[t] + rng.normal(0, 500, tr.traj[t].shape).astype(np.float32)
        back = decode(scene, w, encode(scene, w, nxt, "rest"), "rest")
        d = np.abs(back - nxt)
        d[..., 4] = np.abs(np.angle(np.exp(1j * (back[..., 4] - nxt[..., 4]))))
        assert (d <= UNITS / 2 + 1e-3).all()


def test_a_pile_at_rest_is_mostly_zeros_and_parses_back():
    scene = random_scene(5)
    tr = simulate(scene)
    late = list(range(150, 199, 7))  # most bodies settled
    rest = [t for _, t in make_examples(scene, tr.traj, REST, frames=late)]
    walls = [t for _, t in make_examples(scene, tr.traj, TextFormat(version=2, order="vel_first", gaps=True,
                                                                   encoding="walls"), frames=late)]
    zeros = lambda ts: np.mean([t.split()[1:] == ["0"] * 6 for t in ts])  # noqa: E731
    assert zeros(rest) > zeros(walls) + 0.2
    w = tr.traj[None, 160:163]
    out = format_targets(scene, w, tr.traj[None, 163], REST)
    res = parse_outputs(scene, w, out, REST)
    assert res.parsed.all() and np.abs(res.states[0, :, :4] - tr.traj[163, :, :4]).max() <= 0.05 + 1e-3


def test_rest_needs_two_context_frames_and_version_2():
    with pytest.raises(ConfigError, match="context >= 2"):
        TextFormat(version=2, encoding="rest", context=1)
    with pytest.raises(ConfigError, match="version 2"):
        TextFormat(version=1, encoding="rest")


def test_baseline_rest_holds_a_settled_pile_better_than_walls():
    scene = random_scene(5)
    tr = simulate(scene)
    errs = {}
    for name in ("rest", "walls"):
        pred = load_predictor(f"baseline:{name}")
        w = tr.traj[None, 150:153]
        for _ in range(40):
            out = pred.predict(scene, w)
            w = np.concatenate([w[:, 1:], out.states[:, None]], axis=1)
        errs[name] = float(np.sqrt(((out.states[0, :, :2] - tr.traj[192, :, :2]) ** 2).sum(-1).mean()))
    assert load_predictor("baseline:rest").context == 2
    assert errs["rest"] < errs["walls"], errs


def head_on(gap_px=1.0, speed=300.0):
    return Scene.from_dict({"objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [300, 200], "velocity": [speed, 0]},
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [320 + gap_px, 200],
         "velocity": [-speed, 0]}]})


def test_impulse_rule_bounces_a_new_head_on_pair_and_leaves_touching_pairs_alone():
    from physics_llm.sim.prior import impulse_prior

    scene = head_on()
    last = scene.initial_state().astype(np.float64)
    prev = last.copy()
    prev[:, 3] -= scene.gravity[1] * scene.dt  # both in free flight
    out = impulse_prior(scene, prev, last)
    e = scene.objects[0].mat.elasticity ** 2
    assert out[0, 2] == pytest.approx(-e * 300) and out[1, 2] == pytest.approx(e * 300)  # equal masses swap
    assert out[:, 2].sum() == pytest.approx(0)  # momentum kept
    assert np.array_equal(out[:, :2], rest_prior(scene, prev, last)[:, :2])  # positions stay the rule's
    last_t = last.copy()
    last_t[1, 0] -= 1.5  # already overlapping in the last frame: not a new contact
    assert np.array_equal(impulse_prior(scene, prev, last_t), rest_prior(scene, prev, last_t))
    apart = head_on(speed=-300)  # separating: no impulse
    last_a = apart.initial_state().astype(np.float64)
    assert np.array_equal(impulse_prior(apart, prev, last_a), rest_prior(apart, prev, last_a))


def test_impulse_encoding_round_trips_and_its_baseline_beats_rest_at_onsets():
    from physics_llm.eval.metrics import onset_mask, vel_err

    scene = random_scene(21)
    tr = simulate(scene)
    t = np.arange(3, 199)
    w = tr.traj[t[:, None] + np.arange(-3, 0)]
    ints = encode(scene, w, tr.traj[t], "impulse")
    back = decode(scene, w, ints, "impulse")
    assert np.abs(back[..., :4] - tr.traj[t][..., :4]).max() <= 0.05 + 1e-3
    on = onset_mask(w[:, -1], tr.traj[t], scene.gravity, scene.dt, 50.0)
    err = {k: np.sqrt((vel_err(load_predictor(f"baseline:{k}").predict(scene, w, t).states, tr.traj[t])[on] ** 2)
                      .mean()) for k in ("rest", "impulse")}
    assert on.sum() > 10 and err["impulse"] < err["rest"], err
    with pytest.raises(ConfigError, match="context >= 2"):
        TextFormat(version=2, encoding="impulse", context=1)


def test_a_resting_body_sinking_past_the_slack_is_put_back_on_the_floor():
    from physics_llm.sim.prior import REST_SINK

    scene = two_balls()
    last = scene.initial_state().astype(np.float64)
    prev = last.copy()
    last[1, 1] = 590.0 + REST_SINK + 0.5  # 1.5 px into the floor, still "resting" (no velocity change)
    last[1, 3] = 20.0
    prev[1, 1:4:2] = last[1, 1:4:2]
    out = rest_prior(scene, prev, last)
    assert out[1, 1] == pytest.approx(590.0) and out[1, 3] < 0  # touching, moving out
    last[1, 1] = 590.5  # within the slack: the rest rule alone
    out = rest_prior(scene, prev, last)
    assert out[1, 1] == pytest.approx(590.5 + 20.0 * scene.dt) and out[1, 3] == pytest.approx(20.0)
