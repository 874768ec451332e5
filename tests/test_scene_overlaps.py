"""Overlaps in scene validation (issue 7 finding 5): exact depths for every pair, whatever the
objects' order, containment included; cross-checked against Pymunk's own point queries."""

import itertools
import json
import math

import numpy as np
import pytest
from test_hostile_files import cli, one_error_line

from physics_llm.errors import SceneError
from physics_llm.sim.scene import Scene, overlapping_pairs


def circle(x, y, r):
    return {"shape": "circle", "radius": r, "material": "wood", "position": [x, y]}


def box(x, y, w, h, angle=0.0):
    return {"shape": "box", "size": [w, h], "material": "wood", "position": [x, y], "angle": angle}


CASES = {  # name: (objects, the depth they overlap by, where it is known exactly)
    "box_before_circle_by_10px": ([box(100, 100, 40, 40), circle(120, 100, 10)], 10.0),
    "two_boxes_same_position": ([box(200, 200, 30, 20), box(200, 200, 30, 20)], 20.0),
    "two_boxes_same_position_turned": ([box(200, 200, 30, 20, 0.7), box(200, 200, 30, 20, -0.4)], None),
    "box_inside_circle": ([box(205, 195, 10, 10), circle(200, 200, 50)], None),
    "circle_inside_box": ([circle(300, 300, 5), box(300, 300, 100, 80)], 45.0),
    "box_inside_box": ([box(300, 300, 100, 80), box(310, 290, 10, 10, 0.3)], None),
    "circle_inside_circle": ([circle(400, 300, 40), circle(405, 300, 5)], 40.0),
    # the corner (110, 110) is 7 sqrt 2 = 9.90 px from the circle's centre
    "box_corner_into_circle": ([box(100, 100, 20, 20), circle(117, 117, 12)], 12 - 7 * math.sqrt(2)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_overlaps_are_refused_in_every_order(name):
    objects, depth = CASES[name]
    depths = set()
    for perm in itertools.permutations(objects):
        with pytest.raises(SceneError, match=r"objects\[0\] and objects\[1\] overlap by") as e:
            Scene.from_dict({"objects": list(perm)})
        depths.add(str(e.value).split("overlap by ")[1].split(" px")[0])
    assert len(depths) == 1, depths  # the same depth whichever is listed first
    if depth is not None and depth > 0:
        assert float(depths.pop()) == pytest.approx(depth, abs=0.005)


def test_the_corner_case_depth_is_the_exact_distance():
    # corner (110, 110), circle centre (117, 117) radius 12: depth 12 - 7 sqrt 2
    s = Scene.from_dict({"objects": [box(100, 100, 20, 20), circle(130, 130, 5)]})  # apart: valid
    assert overlapping_pairs(s) == []
    s.objects[1].position, s.objects[1].radius = (117.0, 117.0), 12.0
    ((i, j, d),) = overlapping_pairs(s)
    assert (i, j) == (0, 1) and d == pytest.approx(12 - 7 * math.sqrt(2))


def test_touching_and_apart_shapes_are_accepted():
    for objs in ([box(100, 100, 40, 40), circle(130, 100, 10)],  # touching the side
                 [box(100, 100, 20, 20), box(120, 100, 20, 20)],  # sharing an edge
                 [box(100, 100, 20, 20, math.pi / 4), circle(100 + 10 * math.sqrt(2) + 3.01, 100, 3)]):
        for perm in itertools.permutations(objs):
            Scene.from_dict({"objects": list(perm)})


def pymunk_shapes(scene):
    import pymunk

    from physics_llm.sim.shapes import make_shape

    out = []
    for o in scene.objects:
        body = pymunk.Body(1.0, 1.0)
        body.position, body.angle = o.position, o.angle
        shape = make_shape(body, o)
        shape.cache_bb()
        out.append(shape)
    return out


def share_a_point(a, b, step=0.25) -> bool:
    """Is some point of a fine grid strictly inside both Pymunk shapes (point_query distance < 0)?"""
    bb_a, bb_b = a.bb, b.bb
    lo_x, hi_x = max(bb_a.left, bb_b.left), min(bb_a.right, bb_b.right)
    lo_y, hi_y = max(bb_a.bottom, bb_b.bottom), min(bb_a.top, bb_b.top)
    for x in np.arange(lo_x, hi_x + step, step):
        for y in np.arange(lo_y, hi_y + step, step):
            if a.point_query((x, y)).distance < 0 and b.point_query((x, y)).distance < 0:
                return True
    return False


def test_validation_agrees_with_pymunk_point_queries_on_random_pairs():
    """Random circle/box pairs (many nested): a pair is refused exactly when Pymunk finds a point inside
    both shapes, away from the 0.5 px band where a grid of 0.25 px cannot tell."""
    rng = np.random.default_rng(1)
    checked = {"refused": 0, "accepted": 0}
    for _ in range(150):
        objs = []
        for _ in range(2):
            pos = (400 + rng.uniform(-20, 20), 300 + rng.uniform(-20, 20))
            if rng.random() < 0.5:
                objs.append(circle(*pos, float(rng.uniform(2, 25))))
            else:
                objs.append(box(*pos, float(rng.uniform(2, 45)), float(rng.uniform(2, 45)), float(rng.uniform(-3, 3))))
        scene = Scene.from_dict({"objects": objs}, check_geometry=False)
        pairs = overlapping_pairs(scene, tolerance=0.0)
        depth = pairs[0][2] if pairs else 0.0
        if 0 < depth < 0.5:
            continue
        a, b = pymunk_shapes(scene)
        assert share_a_point(a, b) == (depth > 0), (objs, depth)
        checked["refused" if depth > 0 else "accepted"] += 1
        flipped = Scene.from_dict({"objects": objs[::-1]}, check_geometry=False)
        assert [d for _, _, d in overlapping_pairs(flipped, tolerance=0.0)] == pytest.approx([d for _, _, d in pairs])
    assert checked["refused"] > 30 and checked["accepted"] > 10, checked


def test_scene_validate_refuses_a_box_before_the_circle_it_overlaps(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"objects": [box(100, 100, 40, 40), circle(120, 100, 10)]}))
    one_error_line(cli("scene", "validate", p), "objects[0] and objects[1] overlap by 10.00 px")
    p.write_text(json.dumps({"objects": [circle(300, 300, 60), box(300, 300, 20, 20)]}) + "\n")
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text(p.read_text())
    one_error_line(cli("scene", "validate", jsonl), f"{jsonl} line 1", "objects[0] and objects[1] overlap")
