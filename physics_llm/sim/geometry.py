"""Shape geometry on state arrays: support functions, wall gaps, escapes and penetration depths.

Shared by the text views (physics_llm/text/object_view.py: wall gaps and neighbour gaps in
prompts) and the evaluation (physics_llm/eval/metrics.py: escaped_frac, overlap_px).
States are (..., N, 6) = x, y, vx, vy, angle, angular_velocity (physics_llm/sim/state.py);
a box of size (w, h) turned by `angle` has its axes e1 = (cos, sin), e2 = (-sin, cos).

Penetration depths are exact minimum translation distances (how far one shape must move
for the two to stop overlapping):

    circle-circle  r_i + r_j - |c_j - c_i|
    box-circle     the circle centre p in the box's frame, q = p clamped to the box:
                   r - |p - q| outside the box, r + (distance from p to the nearest side) inside
    box-box        separating axes: min over the four box axes u of
                   hw_i(u) + hw_j(u) - |(c_j - c_i) . u|   (exact for two rectangles)

positive where shapes overlap (pair_depths lists only those, unless given a margin). A wall's penetration is max(0, -surface gap) (wall_gaps).
"""

from __future__ import annotations

import numpy as np

from physics_llm.sim.scene import Scene
from physics_llm.sim.state import ANGLE, X, Y

PAIRS_PER_CHUNK = 1_000_000  # candidate (frame, i, j) triples per chunk of penetration math


def half_width(scene: Scene, angle: np.ndarray, ux, uy) -> np.ndarray:
    """Half-width of each object along the unit direction (ux, uy): its support function.

    angle (..., N) and ux, uy broadcastable to it -> (..., N): r for a circle,
    (w |u.e1| + h |u.e2|) / 2 for a box whose axes e1, e2 are turned by `angle`.
    """
    circle = np.array([o.shape == "circle" for o in scene.objects])
    w = np.array([2 * o.radius if o.shape == "circle" else o.size[0] for o in scene.objects])
    h = np.array([2 * o.radius if o.shape == "circle" else o.size[1] for o in scene.objects])
    c, s = np.cos(angle), np.sin(angle)
    return np.where(circle, w / 2, 0.5 * (w * np.abs(ux * c + uy * s) + h * np.abs(uy * c - ux * s)))


def wall_gaps(scene: Scene, last: np.ndarray) -> np.ndarray:
    """(..., N, 6) -> (..., N, 4) float64 exact gap from each object's surface to walls l, r, t, b."""
    ex = half_width(scene, last[..., ANGLE], 1.0, 0.0)
    ey = half_width(scene, last[..., ANGLE], 0.0, 1.0)
    x, y = last[..., X], last[..., Y]
    return np.stack([x - ex, scene.width - x - ex, y - ey, scene.height - y - ey], axis=-1)


def outside_world(scene: Scene, states: np.ndarray) -> np.ndarray:
    """(..., N, 6) -> (..., N) bool: the centre is outside [0, width] x [0, height], or not finite.

    The same rule as benchmarks/check_escapes.py (x < 0, x > width, y < 0 or y > height); a
    body whose x or y is NaN or infinite is nowhere in the world, so it counts as outside.
    """
    s = np.asarray(states, np.float64)
    x, y = s[..., X], s[..., Y]
    with np.errstate(invalid="ignore"):
        inside = (x >= 0) & (x <= scene.width) & (y >= 0) & (y <= scene.height)
    return ~inside  # NaN compares False, so it is never inside


def _dims(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,) circle flags, and (N,) half extents a, b: (r, r) for a circle, (w/2, h/2) for a box."""
    circle = np.array([o.shape == "circle" for o in scene.objects], bool)
    a = np.array([o.radius if o.shape == "circle" else 0.5 * o.size[0] for o in scene.objects], np.float64)
    b = np.array([o.radius if o.shape == "circle" else 0.5 * o.size[1] for o in scene.objects], np.float64)
    return circle, a, b


def valid_bodies(scene: Scene, states: np.ndarray) -> np.ndarray:
    """(..., N, 6) -> (..., N) bool: x and y finite, and the angle too for a box."""
    s = np.asarray(states, np.float64)
    circle = np.array([o.shape == "circle" for o in scene.objects], bool)
    return np.isfinite(s[..., X]) & np.isfinite(s[..., Y]) & (circle | np.isfinite(s[..., ANGLE]))


def pair_depths(scene: Scene, states: np.ndarray, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Penetration depth of every overlapping pair of bodies (module docstring for the formulas).

    states (T, N, 6) -> (t, i, j, depth): 1-D arrays, i < j, depth > 0 px, one entry per pair of
    frame t whose shapes overlap. Only pairs whose bounding circles overlap are examined (the
    others cannot touch); bodies that are not valid_bodies() touch nothing. With margin > 0 the
    pairs less than `margin` px apart are listed too, their depth negative: minus the gap (for two
    boxes minus the widest separating-axis gap, at most the true gap).
    """
    s = np.asarray(states, np.float64)
    if s.ndim != 3 or s.shape[1:] != (scene.n, 6):
        raise ValueError(f"states must be (T, {scene.n}, 6), got {s.shape}")
    empty = np.zeros(0, np.int64)
    if scene.n < 2 or len(s) == 0:
        return empty, empty, empty, np.zeros(0)
    circle, a, b = _dims(scene)
    bound = np.hypot(a, b)  # circumradius (r * sqrt 2 for a circle: loose, harmless)
    bound[circle] = a[circle]
    ok = valid_bodies(scene, s)
    pos = np.where(ok[..., None], s[..., X:Y + 1], 0.0)
    iu, ju = np.triu_indices(scene.n, k=1)
    outs = []
    step = max(1, PAIRS_PER_CHUNK // len(iu))
    for lo in range(0, len(s), step):
        p, valid = pos[lo:lo + step], ok[lo:lo + step]
        d2 = ((p[:, ju] - p[:, iu]) ** 2).sum(-1)  # (T', P)
        near = (d2 < (bound[iu] + bound[ju] + margin) ** 2) & valid[:, iu] & valid[:, ju]
        t, k = np.nonzero(near)
        i, j = iu[k], ju[k]
        depth = _depths(circle, a, b, s[lo + t, i], s[lo + t, j], i, j)
        keep = depth > -margin if margin > 0 else depth > 0
        outs.append((lo + t[keep], i[keep], j[keep], depth[keep]))
    return tuple(np.concatenate([o[q] for o in outs]) for q in range(4))  # type: ignore[return-value]


def _depths(circle, a, b, si: np.ndarray, sj: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(M, 6) states of bodies i and j (M pairs) -> (M,) penetration depth, negative when apart."""
    out = np.zeros(len(i))
    ci, cj = circle[i], circle[j]
    cc = ci & cj
    if cc.any():
        d = np.hypot(sj[cc, X] - si[cc, X], sj[cc, Y] - si[cc, Y])
        out[cc] = a[i[cc]] + a[j[cc]] - d
    # box-circle, written as (box, circle) whichever of i, j is the box
    for box_first in (True, False):
        m = (~ci & cj) if box_first else (ci & ~cj)
        if not m.any():
            continue
        bs, cs = (si[m], sj[m]) if box_first else (sj[m], si[m])
        bi, cidx = (i[m], j[m]) if box_first else (j[m], i[m])
        out[m] = _box_circle(bs, a[bi], b[bi], cs, a[cidx])
    bb = ~ci & ~cj
    if bb.any():
        out[bb] = _box_box(si[bb], a[i[bb]], b[i[bb]], sj[bb], a[j[bb]], b[j[bb]])
    return out


def _box_circle(box: np.ndarray, hx: np.ndarray, hy: np.ndarray, circ: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Exact depth of circles (centre circ[:, :2], radius r) into boxes (half extents hx, hy)."""
    c, s = np.cos(box[:, ANGLE]), np.sin(box[:, ANGLE])
    dx, dy = circ[:, X] - box[:, X], circ[:, Y] - box[:, Y]
    px, py = dx * c + dy * s, -dx * s + dy * c  # circle centre in the box's frame
    qx, qy = np.clip(px, -hx, hx), np.clip(py, -hy, hy)
    inside = (np.abs(px) <= hx) & (np.abs(py) <= hy)
    to_side = np.minimum(hx - np.abs(px), hy - np.abs(py))
    return np.where(inside, r + to_side, r - np.hypot(px - qx, py - qy))


def _box_box(bi: np.ndarray, ai: np.ndarray, hi: np.ndarray, bj: np.ndarray, aj: np.ndarray,
             hj: np.ndarray) -> np.ndarray:
    """Exact depth between rectangles by separating axes: min over the 4 box axes of the overlap."""
    dx, dy = bj[:, X] - bi[:, X], bj[:, Y] - bi[:, Y]
    ti, tj = bi[:, ANGLE], bj[:, ANGLE]
    best = np.full(len(dx), np.inf)
    for theta in (ti, ti + np.pi / 2, tj, tj + np.pi / 2):
        ux, uy = np.cos(theta), np.sin(theta)
        si = ai * np.abs(ux * np.cos(ti) + uy * np.sin(ti)) + hi * np.abs(uy * np.cos(ti) - ux * np.sin(ti))
        sj = aj * np.abs(ux * np.cos(tj) + uy * np.sin(tj)) + hj * np.abs(uy * np.cos(tj) - ux * np.sin(tj))
        best = np.minimum(best, si + sj - np.abs(dx * ux + dy * uy))
    return best


def touching(scene: Scene, states: np.ndarray, margin: float) -> np.ndarray:
    """(T, N, 6) -> (T, N) bool: the body's surface is within `margin` px of a wall or of another
    body (or overlaps it); invalid bodies touch nothing."""
    t, i, j, _ = pair_depths(scene, states, margin)  # checks the shape
    s = np.asarray(states, np.float64)
    out = np.zeros(s.shape[:2], bool)
    out[t, i] = True
    out[t, j] = True
    if scene.walls is not None:
        with np.errstate(invalid="ignore"):
            out |= valid_bodies(scene, s) & (wall_gaps(scene, s).min(-1) < margin)
    return out


def body_depths(scene: Scene, states: np.ndarray) -> np.ndarray:
    """(T, N, 6) -> (T, N) float64: each body's deepest penetration into another body or a wall
    (0 when it overlaps nothing; no wall term in a scene without walls; 0 for invalid bodies)."""
    s = np.asarray(states, np.float64)
    out = np.zeros(s.shape[:2])
    t, i, j, d = pair_depths(scene, s)
    np.maximum.at(out, (t, i), d)
    np.maximum.at(out, (t, j), d)
    if scene.walls is not None:
        ok = valid_bodies(scene, s)
        with np.errstate(invalid="ignore"):
            wall = np.maximum(0.0, -wall_gaps(scene, s)).max(-1)
        out = np.maximum(out, np.where(ok, wall, 0.0))
    return out
