"""Text format version 2: velocities first in the target, gaps after free flight, pair materials."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physics_llm.errors import ConfigError, UserError
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate
from physics_llm.sim.state import wrap_angle
from physics_llm.text import TextFormat, build_prompts, format_targets, make_examples, parse_outputs
from physics_llm.text.target import ORDERS, from_written, to_written
from physics_llm.text.units import UNITS

V2 = TextFormat(version=2, order="vel_first", gaps=True)
PI32 = float(np.float32(np.pi))


def test_orders_are_permutations_and_inverse():
    for name, order in ORDERS.items():
        assert sorted(order) == list(range(6))
        x = np.arange(12).reshape(2, 6) * 7 - 30
        assert np.array_equal(from_written(to_written(x, name), name), x)
    assert to_written(np.array([1, 2, 3, 4, 5, 6]), "vel_first").tolist() == [3, 4, 6, 1, 2, 5]


def box_scene(shapes, angles):
    objs = []
    for k, (kind, r) in enumerate(shapes):
        pos = [100.0 + 120 * k, 300.0]
        if kind == "c":
            objs.append({"shape": "circle", "radius": r, "material": "rubber", "position": pos})
        else:
            objs.append({"shape": "box", "size": [r, 1.5 * r], "material": "stone", "position": pos,
                         "angle": angles[k]})
    return Scene.from_dict({"walls": None, "objects": objs})


def rows(n):
    big = st.floats(-9e4, 9e4, allow_nan=False, width=32)
    row = st.tuples(big, big, big, big, st.floats(-PI32, PI32, width=32), st.floats(-5e3, 5e3, width=32))
    return st.lists(row, min_size=n, max_size=n)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(1, 4), encoding=st.sampled_from(["residual", "absolute", "walls"]))
def test_v2_round_trip_is_exact_to_the_quantisation(data, n, encoding):
    """Negative and large values, boxes at any angle: parse(format(state)) is within half a unit."""
    shapes = data.draw(st.lists(st.tuples(st.sampled_from("cb"), st.floats(2.0, 40.0)), min_size=n, max_size=n))
    angles = data.draw(st.lists(st.floats(-PI32, PI32, width=32), min_size=n, max_size=n))
    scene = box_scene(shapes, angles)
    fmt = TextFormat(version=2, order="vel_first", gaps=True, encoding=encoding)
    window = np.array([data.draw(rows(n)) for _ in range(3)], dtype=np.float32)[None]
    nxt = np.array(data.draw(rows(n)), dtype=np.float32)[None]
    out = format_targets(scene, window, nxt, fmt)
    res = parse_outputs(scene, window, out, fmt)
    assert res.parsed.all()
    err = np.abs(res.states[0].astype(np.float64) - nxt[0])
    err[:, 4] = np.abs(wrap_angle(res.states[0, :, 4].astype(np.float64) - nxt[0, :, 4]))
    tol = UNITS / 2 + np.spacing(np.abs(nxt[0]).astype(np.float32)) + 1e-9
    assert (err <= tol).all()
    build_prompts(scene, window, fmt)  # any state writes a prompt


def test_v2_prompt_by_hand():
    """A ball 2 px above the floor falling at 300 px/s: after this frame's free flight its gap is
    below zero, so the floor gap is written negative."""
    scene = Scene.from_dict({"objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [400, 588], "velocity": [0, 300]},
        {"shape": "circle", "radius": 5, "material": "steel", "position": [430, 588]}]})
    w = scene.initial_state()[None, None]
    p = build_prompts(scene, w, TextFormat(version=2, order="vel_first", gaps=True, context=1))[0]
    lines = p[0].splitlines()
    assert lines[0] == "o0 c100 d110 f90 e80 m8 g0,9810"
    # walls e 0.8 * 0.5 = 0.40, f 0.9 * 0.6 = 0.54; bottom gap now 2 px, after free flight
    # (4 substeps of h = dt / 4): 2 - (300 dt + 981 h^2 (0 + 1 + 2 + 3)) = -3.10 px -> -31.
    h = scene.dt / 4
    assert round(10 * (2 - (300 * scene.dt + 981 * h * h * 6))) == -31
    assert lines[2] == "w e40 f54 b-31"
    # neighbour: mass 7.8 * pi * 25 / (1.1 * pi * 100) = 1.77 -> 10 log2 = 8.3 -> r8; e 0.8 * 0.3 = 0.24;
    # after free flight o0 has fallen 5.10 px and o1 0.10 px: sqrt(30^2 + 5^2) - 15 = 15.41 px -> g154.
    assert lines[3] == "c50 r8 e24 g154 300 0 0 -3000"
    assert p[1].splitlines()[2:] == ["w e15 f24 b69",  # steel on the walls: 0.3 * 0.5, 0.4 * 0.6; 7 - 0.10 px
                                     "c100 r-8 e24 g154 -300 0 0 3000"]  # the pair seen from the other side


def test_v2_target_writes_velocities_first_and_a_bounce_decides_at_the_first_field():
    scene = Scene.from_dict({"frames": 40, "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [400, 560], "velocity": [0, 300]}]})
    tr = simulate(scene)
    hit = int(np.argmax(tr.contacts[:, 0]))
    fmt = TextFormat(version=2, order="vel_first", gaps=True)
    v1 = make_examples(scene, tr.traj, TextFormat(), frames=[hit + 1])[0][1].split()[1:]
    v2 = make_examples(scene, tr.traj, fmt, frames=[hit + 1])[0][1].split()[1:]
    assert v2 == [v1[k] for k in (2, 3, 5, 0, 1, 4)]  # vx vy w x y angle
    assert int(v2[1]) < -3000  # vy residual: the bounce, in the second field (vx is first)
    assert v1[0] == "0" and v2[0] == "0"


def test_v1_stays_the_default_and_old_format_files_load_as_version_1():
    assert TextFormat().version == 1 and TextFormat().order == "state" and not TextFormat().gaps
    old = {"view": "object", "encoding": "residual", "context": 3, "neighbours": 6, "neighbour_radius": 60.0}
    assert TextFormat.from_dict(old) == TextFormat()
    assert TextFormat.from_dict(json.loads(json.dumps(V2.to_dict()))) == V2


def test_bad_v2_fields_are_refused_with_the_field_named():
    with pytest.raises(ConfigError, match="version 3 is not known"):
        TextFormat.from_dict({"version": 3})
    with pytest.raises(ConfigError, match="set version: 2"):
        TextFormat(order="vel_first")
    with pytest.raises(ConfigError, match="order must be one of"):
        TextFormat(version=2, order="backwards")
    with pytest.raises(ConfigError, match="gaps must be true or false"):
        TextFormat(version=2, gaps="yes")


def test_checkpoint_with_an_unknown_format_version_names_the_file(tmp_path, one_thread):
    from physics_llm.models.checkpoint import load_checkpoint, save_checkpoint
    from physics_llm.models.gpt import GPT, GPTConfig
    from physics_llm.text import DigitTokenizer

    tok = DigitTokenizer()
    cfg = GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=1, n_embd=8, block_size=32)
    save_checkpoint(tmp_path / "ck", GPT(cfg), cfg, V2, tok, step=0)
    assert load_checkpoint(tmp_path / "ck").fmt == V2
    f = tmp_path / "ck" / "text_format.json"
    f.write_text(json.dumps({**V2.to_dict(), "version": 9}))
    with pytest.raises(UserError, match=r"text_format.json: text format version 9 is not known"):
        load_checkpoint(tmp_path / "ck")
