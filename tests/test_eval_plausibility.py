"""Rollout plausibility (escaped_frac, overlap_px) on hand-made states with answers worked out
by hand, checked against Pymunk's own contact depths, and in a real rollout."""

import math

import numpy as np
import pytest

from physics_llm.eval import metrics as M
from physics_llm.eval.config import EvalConfig
from physics_llm.eval.harness import unique_slugs
from physics_llm.eval.runner import run_rollouts
from physics_llm.eval.suites import Case
from physics_llm.models.registry import load_predictor
from physics_llm.sim import geometry
from physics_llm.sim.generate import random_scene
from physics_llm.sim.scene import Scene, SceneObject, overlapping_pairs
from physics_llm.sim.simulate import simulate

MAT = {"density": 1.0, "friction": 0.5, "elasticity": 0.5}


def scene_of(objects, walls=True) -> Scene:
    """A scene from object dicts, overlaps allowed (the metrics must measure them)."""
    d = {"width": 800, "height": 600, "gravity": [0, 0], "objects": objects}
    if not walls:
        d["walls"] = None
    return Scene.from_dict(d, check_geometry=False)


def circle(x, y, r):
    return {"shape": "circle", "radius": r, "material": MAT, "position": [x, y]}


def box(x, y, w, h, angle=0.0):
    return {"shape": "box", "size": [w, h], "material": MAT, "position": [x, y], "angle": angle}


def frames(scene: Scene, *rows_per_frame) -> np.ndarray:
    """Per frame a list of (x, y, angle) per object -> (T, N, 6) float64."""
    out = np.zeros((len(rows_per_frame), scene.n, 6))
    for t, rows in enumerate(rows_per_frame):
        for i, (x, y, a) in enumerate(rows):
            out[t, i, [0, 1, 4]] = x, y, a
    return out


def test_two_circles_overlapping_by_3_px():
    # radii 10 and 15, centres 22 px apart: 25 - 22 = 3 px deep; a third circle far from both
    scene = scene_of([circle(100, 100, 10), circle(122, 100, 15), circle(500, 400, 10)])
    s = frames(scene, [(100, 100, 0), (122, 100, 0), (500, 400, 0)])
    assert M.penetration(scene, s)[0] == pytest.approx([3.0, 3.0, 0.0])
    assert M.overlap_px(scene, s) == pytest.approx(2.0)  # (3 + 3 + 0) / 3 object-frames
    # a second frame with the pair apart (2 px gap): 6 px over 6 object-frames
    s2 = np.concatenate([s, frames(scene, [(100, 100, 0), (127, 100, 0), (500, 400, 0)])])
    assert M.overlap_px(scene, s2) == pytest.approx(1.0)
    assert M.escaped_frac(scene, s2) == 0.0


def test_each_body_counts_its_deepest_penetration():
    # circle 0 (r 10) overlaps circle 1 by 1 px and circle 2 by 4 px: it counts 4, they 1 and 4
    scene = scene_of([circle(200, 200, 10), circle(219, 200, 10), circle(200, 184, 10)])
    s = frames(scene, [(200, 200, 0), (219, 200, 0), (200, 184, 0)])
    assert M.penetration(scene, s)[0] == pytest.approx([4.0, 1.0, 4.0])
    assert M.overlap_px(scene, s) == pytest.approx(3.0)


def test_a_body_outside_in_k_of_m_frames():
    # M = 8 frames, the first body's centre outside in k = 3 of them (left, below, right); the
    # second body stays inside: 3 of 16 object-frames. Exactly on the edge (x = 800) is inside.
    scene = scene_of([circle(400, 300, 5), circle(100, 100, 5)], walls=False)
    xs = [400, -1, 400, 400, 800, 400, 801, 400]
    ys = [300, 300, 300, 600.5, 300, 300, 300, 0]
    s = frames(scene, *[[(x, y, 0), (100, 100, 0)] for x, y in zip(xs, ys)])
    assert M.escaped(scene, s)[:, 0].tolist() == [False, True, False, True, False, False, True, False]
    assert M.escaped_frac(scene, s) == pytest.approx(3 / 16)
    one = scene_of([circle(400, 300, 5)], walls=False)
    assert M.escaped_frac(one, s[:, :1]) == pytest.approx(3 / 8)
    # no walls: no wall term, and the two bodies are far apart
    assert M.overlap_px(scene, s) == 0.0


def test_non_finite_positions_are_outside_and_touch_nothing():
    scene = scene_of([circle(100, 100, 10), circle(105, 100, 10)])
    s = frames(scene, [(100, 100, 0), (105, 100, 0)])
    s[0, 1, 0] = np.nan
    assert M.escaped(scene, s)[0].tolist() == [False, True]
    assert M.penetration(scene, s)[0].tolist() == [0.0, 0.0]  # the NaN body overlaps nothing
    s[0, 1, 0] = np.inf
    assert M.escaped_frac(scene, s) == 0.5 and M.overlap_px(scene, s) == 0.0


def corners(x, y, w, h, a):
    """The 4 corners of a box, by rotating its corner offsets (independent of the support function)."""
    c, s = math.cos(a), math.sin(a)
    return [(x + dx * c - dy * s, y + dx * s + dy * c) for dx in (-w / 2, w / 2) for dy in (-h / 2, h / 2)]


@pytest.mark.parametrize("angle", [0.0, math.pi / 6, -0.9, 2.5])
def test_box_into_the_floor_at_an_angle(angle):
    # a 40 x 16 box whose lowest corner is 2.5 px below the floor (y = 600)
    lowest = max(cy for _, cy in corners(0, 0, 40, 16, angle))
    y = 600 - lowest + 2.5
    scene = scene_of([box(300, y, 40, 16, angle)])
    s = frames(scene, [(300, y, angle)])
    assert M.penetration(scene, s)[0, 0] == pytest.approx(2.5, abs=1e-9)
    # the same box into the right wall: its rightmost corner 4 px past x = 800
    right = max(cx for cx, _ in corners(0, 0, 40, 16, angle))
    s2 = frames(scene, [(800 - right + 4, 300, angle)])
    assert M.penetration(scene, s2)[0, 0] == pytest.approx(4.0, abs=1e-9)
    # without walls nothing is penetrated
    assert M.penetration(scene_of([box(300, y, 40, 16, angle)], walls=False), s)[0, 0] == 0.0


def test_box_box_and_box_circle_known_depths():
    # axis-aligned boxes 20 x 10 and 10 x 10 with centres 13 px apart in x: 10 + 5 - 13 = 2 px
    scene = scene_of([box(100, 100, 20, 10), box(113, 102, 10, 10)])
    assert M.penetration(scene, frames(scene, [(100, 100, 0), (113, 102, 0)]))[0] == pytest.approx([2.0, 2.0])
    # a box turned 45 degrees (a diamond, vertex 10 sqrt 2 to the right of its centre) and a circle of
    # radius 5 centred 14 px right of the box centre, inside the diamond near that vertex: the shortest
    # way out is through a side, (10 sqrt 2 - 14) cos 45 away, so the depth is 5 + that
    scene = scene_of([box(100, 100, 20, 20, math.pi / 4), circle(114, 100, 5)])
    s = frames(scene, [(100, 100, math.pi / 4), (114, 100, 0)])
    assert M.penetration(scene, s)[0] == pytest.approx([5 + (10 * math.sqrt(2) - 14) / math.sqrt(2)] * 2)
    # a circle (r 4) beyond the corner (110, 110) of an axis-aligned 20 x 20 box, centre (112, 112):
    # 2 sqrt 2 from the corner, depth 4 - 2 sqrt 2 (the box's own axes alone would say 2)
    scene = scene_of([box(100, 100, 20, 20), circle(112, 112, 4)])
    s = frames(scene, [(100, 100, 0), (112, 112, 0)])
    assert M.penetration(scene, s)[0] == pytest.approx([4 - 2 * math.sqrt(2)] * 2)
    # the circle's centre inside the box, 3 px from the right side: depth 4 + 3
    s = frames(scene, [(100, 100, 0), (107, 101, 0)])
    assert M.penetration(scene, s)[0] == pytest.approx([7.0, 7.0])
    # the order of the pair does not matter
    rev = scene_of([circle(112, 112, 4), box(100, 100, 20, 20)])
    s = frames(rev, [(112, 112, 0), (100, 100, 0)])
    assert M.penetration(rev, s)[0] == pytest.approx([4 - 2 * math.sqrt(2)] * 2)


def pymunk_depth(a: SceneObject, b: SceneObject) -> float | None:
    """Pymunk's own contact depth between two shapes (None: Pymunk reports no contact points)."""
    import pymunk

    from physics_llm.sim.shapes import make_shape

    shapes = []
    for o in (a, b):
        body = pymunk.Body(1.0, 1.0)
        body.position, body.angle = o.position, o.angle
        shapes.append(make_shape(body, o))
        shapes[-1].cache_bb()
    try:
        cs = shapes[0].shapes_collide(shapes[1])
    except AssertionError:  # Pymunk 7 asserts on a contact set of 0 points
        return None
    return max((-p.distance for p in cs.points), default=None)


def test_pair_depths_agree_with_pymunk():
    """Random overlapping circle/box pairs: the vectorised depth equals Pymunk's contact depth
    wherever Pymunk reports a contact (it reports none for some deep overlaps)."""
    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(300):
        objs = []
        for _ in range(2):
            pos = (400 + rng.uniform(-25, 25), 300 + rng.uniform(-25, 25))
            if rng.random() < 0.5:
                objs.append(SceneObject("circle", "wood", pos, radius=float(rng.uniform(5, 20))))
            else:
                objs.append(SceneObject("box", "wood", pos, size=(float(rng.uniform(5, 40)), float(rng.uniform(5, 40))),
                                        angle=float(rng.uniform(-3, 3))))
        scene = Scene(objects=objs, walls=None)
        ref = pymunk_depth(objs[0], objs[1])
        if ref is None or ref <= 0:
            continue
        s = np.zeros((1, 2, 6))
        s[0, :, :2] = [o.position for o in objs]
        s[0, :, 4] = [o.angle for o in objs]
        t, i, j, d = geometry.pair_depths(scene, s)
        assert len(d) == 1 and d[0] == pytest.approx(ref, abs=1e-9)
        assert overlapping_pairs(scene, tolerance=0.0) == [(0, 1, pytest.approx(ref, abs=1e-9))]
        compared += 1
    assert compared > 50


def test_oracle_is_as_plausible_as_the_truth_and_constvel_leaves_the_world():
    # a ball at x = 700 flying right at 630 px/s without gravity: the truth bounces off the right wall
    # (x = 800); constvel from the 3 true context frames flies on: frame f at x = 700 + 10.5 f
    scene = Scene.from_dict({"gravity": [0, 0], "frames": 40, "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [700, 300], "velocity": [630, 0]}]})
    tr = simulate(scene)
    case = Case(scene, tr.traj, tr.contacts, "wall")
    cfg = EvalConfig(horizon=20, horizons=[20])
    got = {}
    for spec in ("oracle", "baseline:constvel"):
        got[spec] = {k: v for _, k, v in run_rollouts(load_predictor(spec), [case], cfg).metrics(cfg.horizons)}
    oracle, cv = got["oracle"], got["baseline:constvel"]
    assert oracle["escaped_frac"] == oracle["truth_escaped_frac"] == 0.0
    assert oracle["overlap_px"] == oracle["truth_overlap_px"] < 1.0
    assert cv["truth_overlap_px"] == oracle["truth_overlap_px"]  # the same true frames for every model
    # predicted frames 3 .. 22; x = 700 + 10.5 f > 800 from f = 10 on: 13 of 20 frames outside
    assert cv["escaped_frac"] == pytest.approx(13 / 20)
    # penetration into the right wall: x + 10 - 800 = 10.5 f - 90 where positive (f >= 9)
    depth = [max(0.0, 10.5 * f - 90) for f in range(3, 23)]
    assert cv["overlap_px"] == pytest.approx(np.mean(depth), rel=1e-4)


def test_model_slugs_are_unique():
    s = unique_slugs(["gpt:a/b", "gpt:a_b", "oracle", "gpt:a:b"])
    assert s == {"gpt:a/b": "gpt_a_b", "gpt:a_b": "gpt_a_b-2", "oracle": "oracle", "gpt:a:b": "gpt_a_b-3"}
