"""The tolerant parser: it reads what it can, masks the rest, counts what went wrong, never raises."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from physics_llm.sim.scene import Scene
from physics_llm.text import TextFormat, format_targets, parse_outputs

OBJ = TextFormat(encoding="absolute", context=1)
SCN = TextFormat(view="scene", encoding="absolute", context=1)
RES = TextFormat(context=1)


def scene3():
    return Scene.from_dict({"objects": [
        {"shape": "circle", "radius": 10, "material": "wood", "position": [100, 100], "velocity": [30, 0]},
        {"shape": "box", "size": [20, 10], "material": "steel", "position": [300, 200], "angle": 0.5},
        {"shape": "circle", "radius": 5, "material": "ice", "position": [500, 400], "velocity": [0, -20]}]})


def window():
    return scene3().initial_state()[None, None]  # (1, 1, 3, 6)


def expect(**counts):
    base = {"parsed": 0, "missing": 0, "malformed": 0, "duplicate": 0, "out_of_range": 0, "extra": 0}
    base.update(counts)
    return base


def test_absolute_lines_by_hand():
    s = scene3()
    lines = ["o0 1005 1000 300 0 0 0", "o1 3000 2000 0 0 500 -150\n", "o2 5000 3998 0 -200 -3142 0"]
    r = parse_outputs(s, window(), [lines], OBJ)
    assert r.parsed.tolist() == [[True, True, True]]
    assert r.states[0, 0].tolist() == np.float32([100.5, 100, 30, 0, 0, 0]).tolist()
    assert r.states[0, 1, 4] == np.float32(0.5) and r.states[0, 1, 5] == np.float32(-1.5)
    assert abs(r.states[0, 2, 4] - (-3.142 + 2 * np.pi)) < 1e-6  # -3.142 wrapped into (-pi, pi]
    assert r.stats == expect(parsed=3)


def test_residual_zero_lines_decode_to_free_flight():
    s = scene3()
    r = parse_outputs(s, window(), [["o0 0 0 0 0 0 0", "0 0 0 0 0 0", "o2 0 0 0 0 0 0"]], RES)
    assert r.parsed.all() and r.stats == expect(parsed=3)
    # object 0: x + v*dt = 100.5; y + 3/8 g dt^2; vy = g*dt (docs/DESIGN.md "State arrays": free flight, 4 substeps)
    assert np.allclose(r.states[0, 0, :4], [100.5, 100 + 981 * 3 / 8 / 3600, 30, 981 / 60], atol=1e-4)


def test_garbage_empty_none_and_truncated_outputs():
    s = scene3()
    r = parse_outputs(s, window(), [["hello world", "", None]], OBJ)
    assert not r.parsed.any() and np.isnan(r.states).all()
    assert r.stats == expect(missing=3, malformed=1)
    r = parse_outputs(s, window(), [["o0 1005 1000 30", "o1 3000 2000 0 0 500 -1", "o2 5000 40"]], OBJ)
    assert r.parsed.tolist() == [[False, True, False]]
    assert r.stats == expect(parsed=1, missing=2, malformed=2)
    for outputs in (None, [], "o0 1 2 3 4 5 6", [None], [[]], 17, [[b"o0 1 2 3 4 5 6"]], {"a": 1}):
        r = parse_outputs(s, window(), outputs, OBJ)
        assert r.states.shape == (1, 3, 6) and r.parsed.shape == (1, 3)
        assert r.stats["parsed"] + r.stats["missing"] == 3
    assert parse_outputs(s, window(), "o0 1 2 3 4 5 6", OBJ).parsed.tolist() == [[True, False, False]]


def test_scene_view_reordered_duplicated_and_partial():
    s = scene3()
    good = format_targets(s, window(), window()[:, -1], SCN)[0][0].splitlines()
    truth = parse_outputs(s, window(), [["\n".join(good)]], SCN)
    assert truth.parsed.all()
    r = parse_outputs(s, window(), [["\n".join(reversed(good))]], SCN)
    assert r.parsed.all() and np.array_equal(r.states, truth.states)
    dup = "\n".join([good[0], "o0 1 1 1 1 1 1", good[1], good[2], good[2]])
    r = parse_outputs(s, window(), [[dup]], SCN)
    assert np.array_equal(r.states, truth.states) and r.stats == expect(parsed=3, duplicate=2)
    partial = "\n".join([good[0], "o1 garbage", good[2][:9], "o7 1 2 3 4 5 6", "1 2 3 4 5 6"])
    r = parse_outputs(s, window(), [[partial]], SCN)
    assert r.parsed.tolist() == [[True, False, False]]
    assert r.stats == expect(parsed=1, missing=2, malformed=3, extra=1)
    assert np.isnan(r.states[0, 1:]).all() and np.array_equal(r.states[0, 0], truth.states[0, 0])


def test_out_of_range_huge_and_unicode_numbers():
    s = scene3()
    outputs = [["o0 2000000 0 0 0 0 0", "o1 " + "9" * 5000 + " 0 0 0 0 0", "o2 ١٢ 0 0 0 0 0"]]
    r = parse_outputs(s, window(), outputs, OBJ)
    assert not r.parsed.any()
    assert r.stats == expect(missing=3, out_of_range=2, malformed=1)
    # an out-of-range line claims nothing: a later good line for the same object still counts
    r = parse_outputs(s, window(), [["o0 2000000 0 0 0 0 0\no0 1000 1000 0 0 0 0", "", ""]], OBJ)
    assert r.parsed.tolist() == [[True, False, False]] and r.states[0, 0, 0] == 100
    r = parse_outputs(s, window(), [["o0 0 0 0 0 0 0", "o1 0 0 999999999 0 0 0", ""]], RES)
    assert r.parsed.tolist() == [[True, False, False]] and r.stats["out_of_range"] == 1


def test_extra_outputs_ids_and_windows_count_as_extra():
    s = scene3()
    ok = ["o0 1 1 1 1 1 1", "o1 1 1 1 1 1 1", "o2 1 1 1 1 1 1"]
    r = parse_outputs(s, window(), [ok + ["o3 1 1 1 1 1 1"], ok], OBJ)
    assert r.parsed.all() and r.stats == expect(parsed=3, extra=2)
    r = parse_outputs(s, window(), [["o1 1 1 1 1 1 1", ok[1], ok[2]]], OBJ)  # object 0's output names o1
    assert r.parsed.tolist() == [[False, True, True]] and r.stats == expect(parsed=2, missing=1, extra=1)


@st.composite
def junk(draw):
    """Arbitrary text, or lines built from the grammar's own pieces (to reach deep branches)."""
    piece = st.sampled_from(["o0", "o1", "o2", "o9", "o", "0", "-1", "12", "-", "99999999999999", "1e5", "\u0663",
                             " ", "  ", "\t", "\n", "\r\n", "x"])
    return draw(st.one_of(st.text(), st.lists(piece, max_size=30).map("".join)))


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.one_of(junk(), st.none(), st.integers()), max_size=5),
       k=st.sampled_from([OBJ, SCN, RES, TextFormat(view="scene", context=1)]),
       nest=st.booleans())
def test_parser_never_raises_on_arbitrary_output(texts, k, nest):
    s = scene3()
    outputs = [texts, texts[:1]] if nest else texts
    r = parse_outputs(s, np.repeat(window(), 2, axis=0), outputs, k)
    assert r.states.shape == (2, 3, 6) and r.states.dtype == np.float32 and r.parsed.shape == (2, 3)
    assert np.isfinite(r.states[r.parsed]).all() and np.isnan(r.states[~r.parsed]).all()
    assert r.stats["parsed"] == r.parsed.sum() and r.stats["parsed"] + r.stats["missing"] == 6
    assert min(r.stats.values()) >= 0
