"""State -> text -> state is exact to the quantisation, in both views and both encodings."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physics_llm.errors import ConfigError
from physics_llm.sim.scene import Scene, SceneObject
from physics_llm.sim.simulate import simulate
from physics_llm.sim.state import wrap_angle
from physics_llm.text import TextFormat, build_prompts, format_targets, make_examples, parse_outputs
from physics_llm.text.units import SCALE, UNITS, dequantize, quantize

PI32 = float(np.float32(np.pi))  # just above pi: angles on both sides of the wrap
FORMATS = [TextFormat(view=v, encoding=e) for v in ("object", "scene") for e in ("residual", "absolute")]


def test_units_by_hand():
    q = quantize([12.34, -7.26, 0.0, -1000.04, 3.1416, -2.349])
    assert q.tolist() == [123, -73, 0, -10000, 3142, -235]
    back = dequantize(q)
    assert back.tolist() == [12.3, -7.3, 0.0, -1000.0, 3.142, -2.35]  # the float nearest each unit multiple
    assert SCALE.tolist() == [10, 10, 10, 10, 1000, 100]


def angle_diff(a, b):
    return np.abs(wrap_angle(np.asarray(a, dtype=np.float64) - b))


def check_close(decoded, truth):
    """|decoded - truth| <= unit / 2 + float32 spacing, angles modulo 2 pi."""
    truth = truth.astype(np.float64)
    err = np.abs(decoded.astype(np.float64) - truth)
    err[..., 4] = angle_diff(decoded[..., 4], truth[..., 4])
    tol = UNITS / 2 + np.spacing(np.abs(truth).astype(np.float32)) + 1e-9
    assert (err <= tol).all(), (err - tol).max()


def scene_of(shapes, gravity=(0.0, 981.0)):
    objs = [SceneObject(shape="circle", radius=r, material="rubber", position=(0.0, 0.0)) if kind == "c" else
            SceneObject(shape="box", size=(r, 2 * r), material="steel", position=(0.0, 0.0))
            for kind, r in shapes]
    return Scene(objects=objs, gravity=gravity)


def states(n):
    big = st.floats(-9e4, 9e4, allow_nan=False, width=32)
    row = st.tuples(big, big, big, big, st.floats(-PI32, PI32, width=32), st.floats(-5e3, 5e3, width=32))
    return st.lists(row, min_size=n, max_size=n)


@st.composite
def cases(draw):
    n = draw(st.integers(1, 5))
    c = draw(st.integers(1, 3))
    shapes = draw(st.lists(st.tuples(st.sampled_from("cb"), st.floats(1.0, 40.0)), min_size=n, max_size=n))
    gravity = draw(st.sampled_from([(0.0, 981.0), (0.0, 0.0), (13.7, -250.3)]))
    window = np.array([draw(states(n)) for _ in range(c)], dtype=np.float32)
    nxt = np.array(draw(states(n)), dtype=np.float32)
    return scene_of(shapes, gravity), window, nxt


@settings(max_examples=60, deadline=None)
@given(case=cases(), k=st.integers(0, 3))
def test_parse_of_format_is_the_quantised_state(case, k):
    scene, window, nxt = case
    fmt = TextFormat(view=FORMATS[k].view, encoding=FORMATS[k].encoding, context=window.shape[0])
    w = window[None]
    out = format_targets(scene, w, nxt[None], fmt)
    res = parse_outputs(scene, w, out, fmt)
    assert res.parsed.all() and res.stats["parsed"] == scene.n
    assert sum(v for key, v in res.stats.items() if key != "parsed") == 0
    check_close(res.states[0], nxt)
    if fmt.encoding == "absolute":  # exactly the quantised state, angle wrapped
        want = dequantize(quantize(nxt))
        want[:, 4] = wrap_angle(want[:, 4])
        assert np.array_equal(res.states[0], want.astype(np.float32))
    else:  # and formatting the decoded state gives back the same numbers (angles modulo 2 pi)
        again = format_targets(scene, w, res.states, fmt)
        first, second = numbers(out), numbers(again)
        assert np.array_equal(first[:, :4], second[:, :4]) and np.array_equal(first[:, 5], second[:, 5])
        assert np.isin(np.abs(first[:, 4] - second[:, 4]), [0, 6283]).all()


def numbers(texts):
    """Nested target texts -> (lines, 6) int array of the numbers after each `o<i>`."""
    return np.array([[int(v) for v in line.split()[1:]] for per in texts for t in per for line in t.splitlines()])


def free_scene():
    return Scene.from_dict({"frames": 40, "walls": None, "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [100, 100],
         "velocity": [250, -400], "angular_velocity": 2.0},
        {"shape": "box", "size": [20, 12], "material": "ice", "position": [500, 300],
         "velocity": [-90, -30], "angle": 3.0, "angular_velocity": -7.5}]})


@pytest.mark.parametrize("view", ["object", "scene"])
def test_residual_is_zero_in_free_flight_of_the_real_simulator(view):
    scene = free_scene()
    tr = simulate(scene)
    assert not tr.contacts.any()
    fmt = TextFormat(view=view)
    examples = make_examples(scene, tr.traj, fmt)
    targets = "".join(t for _, t in examples)
    lines = targets.splitlines()
    assert len(lines) == (40 - 3) * 2
    assert all(line.split()[1:] == ["0"] * 6 for line in lines)
    if view == "object":  # the contact feature is zero too
        assert all(p.count("dv 0 0 0\n") == 2 for p, _ in examples)
    absolute = make_examples(scene, tr.traj, TextFormat(view=view, encoding="absolute"))
    assert any(line.split()[1:] != ["0"] * 6 for _, t in absolute for line in t.splitlines())


def test_residual_is_not_zero_when_a_ball_hits_the_floor():
    scene = Scene.from_dict({"frames": 40, "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [400, 560], "velocity": [0, 300]}]})
    tr = simulate(scene)
    hit = int(np.argmax(tr.contacts[:, 0]))  # first step with a contact: frame hit -> hit + 1
    ex = make_examples(scene, tr.traj, TextFormat(), frames=[hit + 1])
    vy = int(ex[0][1].split()[4])
    assert vy < -3000  # the bounce: about -(300 + 300 * 0.8 * 0.5) px/s against free flight's +300 px/s
    assert "w b" in ex[0][0]


def test_object_prompt_by_hand():
    # Gravity 600 px/s^2 and dt 1/60: g*dt = 10 px/s, so these windows are in free flight.
    scene = Scene.from_dict({"gravity": [0, 600], "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [100, 580]},
        {"shape": "circle", "radius": 5, "material": "rubber", "position": [130, 580]}]})
    w = np.array([[[100, 580, 0, 5, 0, 0], [130, 580, 0, 5, 0, 0]],
                  [[100, 580, 0, 15, 0, 0], [130, 580, 0, 15, 0, 0]]], dtype=np.float32)[None]
    p = build_prompts(scene, w, TextFormat(context=2))[0]
    # mass 1.1 * pi * 10^2 = 346 -> log2 8.4 -> m8; 1.1 * pi * 5^2 = 86 -> m6. Bottom gaps 10 and 15 px;
    # the gap between the two circles is 30 - 10 - 5 = 15 px (<= 60): each is the other's neighbour.
    assert p[0] == ("o0 c100 d110 f90 e80 m8 g0,6000\n1000 5800 0 150 0 0\ndv 0 0 0\nw b100\n"
                    "c50 m6 300 0 0 0\n")
    assert p[1] == ("o1 c50 d110 f90 e80 m6 g0,6000\n1300 5800 0 150 0 0\ndv 0 0 0\nw b150\n"
                    "c100 m8 -300 0 0 0\n")


def test_neighbour_box_is_written_in_its_canonical_pose():
    scene = Scene.from_dict({"walls": None, "objects": [
        {"shape": "circle", "radius": 10, "material": "wood", "position": [300, 300]},
        {"shape": "box", "size": [10, 20], "material": "wood", "position": [300, 340], "angle": 1.6008}]})
    w = scene.initial_state()[None, None]
    p = build_prompts(scene, w, TextFormat(context=1))[0]
    # 1.6008 rad = pi/2 + 0.03: the same box as 20 x 10 at 0.03 rad; mass 0.6 * 200 = 120 -> m7.
    assert p[0].splitlines()[-1] == "b200,100,30 m7 0 400 0 0"
    assert p[1].splitlines()[1] == "3000 3400 0 0 1601 0"  # its own angle stays as it is


def test_scene_prompt_by_hand():
    scene = Scene.from_dict({"objects": [
        {"shape": "circle", "radius": 12.5, "material": "rubber", "position": [412, 88], "velocity": [-35, 120]},
        {"shape": "box", "size": [30, 20], "material": {"density": 0.7, "friction": 0.5, "elasticity": 0.4},
         "position": [200, 500], "angle": 0.3, "angular_velocity": -1}]})
    w = scene.initial_state()[None, None]
    fmt = TextFormat(view="scene", context=1)
    assert build_prompts(scene, w, fmt) == [[
        "scene w8000 h6000 g0,9810 dt16667 s4 walls e50 f60\n"
        "o0 c125 d110 f90 e80\no1 b300,200 d70 f50 e40\n"
        "frame\no0 4120 880 -350 1200 0 0\no1 2000 5000 0 0 300 -100\nnext\n"]]
    absolute = format_targets(scene, w, w[:, -1], TextFormat(view="scene", encoding="absolute", context=1))
    assert absolute == [["o0 4120 880 -350 1200 0 0\no1 2000 5000 0 0 300 -100\n"]]


def test_text_is_deterministic_and_windows_longer_than_context_use_the_last_frames():
    scene = free_scene()
    tr = simulate(scene, frames=10)
    assert make_examples(scene, tr.traj) == make_examples(scene, simulate(scene, frames=10).traj)
    long = np.stack([tr.traj[0:6]])
    assert build_prompts(scene, long) == build_prompts(scene, long[:, 3:])


def test_bad_format_and_frames_are_refused_with_the_field_named():
    with pytest.raises(ConfigError, match="view"):
        TextFormat(view="pixels")
    with pytest.raises(ConfigError, match="context"):
        TextFormat(context=0)
    with pytest.raises(ConfigError, match="no field 'neighbors'"):
        TextFormat.from_dict({"neighbors": 3})
    scene = free_scene()
    tr = simulate(scene, frames=10)
    with pytest.raises(Exception, match="target frame 2 is out of range"):
        make_examples(scene, tr.traj, frames=[2])
