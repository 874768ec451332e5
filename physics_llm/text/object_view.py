"""Object view: one short prompt per object, bounded whatever the scene size.

A prompt for object 3 (a rubber circle of radius 12.5 px) with C = 3:

    o3 c125 d110 f90 e80 m11 g0,9810      id, shape, material, mass class, gravity
    4108 920 -350 1233 0 0                last context frame: x y vx vy angle angular_velocity
    dv 0 0 0                              velocity change minus g*dt of each earlier step,
    dv 0 -1635 0                          oldest first (vx, vy in 0.1 px/s, w in 0.01 rad/s)
    w b23 l450                            walls within the radius: surface gap in 0.1 px
    c80 m9 120 -450 30 10                 neighbours within the radius, nearest first:
    b200,300,-21 m12 -400 20 0 0          shape (a box: width, height, angle), mass class,
                                          then dx dy dvx dvy relative to o3 (0.1 px, 0.1 px/s)

and its target line `o3 0 0 0 0 0 0` (text/target.py). Units: text/units.py.

The C context frames are written as the last frame in full plus the C - 1 velocity
changes that lead to it (the inputs of DeepMind's learning_to_simulate: the latest
position and the velocity history). Earlier frames in full would add ~15 characters
each and tell little more (their positions follow from the velocities), while
`dv` makes contact visible: it is zero in free flight, -g*dt for a resting body
and the impulse of the step at a collision. Walls are l, r, t, b (x = 0, x =
width, y = 0, y = height). A neighbour box is written in its canonical pose, turned
by a multiple of pi/2 (sides swapped on odd turns) so its angle lies in [-pi/4, pi/4]:
the same box, two digits shorter. Every line ends with a newline. Length: fixed lines
plus at most fmt.neighbours neighbour lines, so it is bounded whatever N is.

Version 2 with `gaps` (TextFormat) makes a contact a comparison: every gap is written as it
will be after this frame's free flight (Pymunk's rule applied to both bodies: the gap now minus
the closing distance of this frame), so "does it touch this frame" is the sign of one number,
and the pair's materials sit beside it (the gap now follows from the state and the velocities):

    w e40 f54 b-5 l455                    walls: the pair's elasticity and friction (object's
                                          value times the walls', 0.01), then per wall its gap
                                          after free flight (0.1 px)
    c80 r-12 e64 g-3 120 -450 30 10       neighbour: shape, mass ratio 10 log2(m_j / m_i), the
                                          pair's elasticity, the gap after free flight, then
                                          dx dy dvx dvy as in version 1
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from physics_llm.sim.geometry import half_width, wall_gaps
from physics_llm.sim.scene import Scene
from physics_llm.sim.state import ANGLE, OMEGA, VX, VY, X, Y
from physics_llm.text.format import TextFormat, gravity_text, mass_class, material_text, shape_text
from physics_llm.text.target import ballistic, encode, format_line, to_written
from physics_llm.text.units import SCALE, quantize

WALLS = "lrtb"
PAIRS_PER_CHUNK = 1_000_000  # object pairs per chunk of windows: ~8 MB per float64 (chunk, N, N) array
_DV = [VX, VY, OMEGA]


def _ints(values) -> str:
    return " ".join(str(v) for v in values)


def _heads(scene: Scene) -> list[str]:
    """Per object its first line: id, shape, material, mass class, gravity."""
    g = gravity_text(scene)
    return [f"o{i} {shape_text(o)} {material_text(o)} m{mass_class(o)} {g}" for i, o in enumerate(scene.objects)]


def _neighbour_shapes(scene: Scene, last: np.ndarray, mass: bool = True) -> list[list[str]]:
    """(B, N, 6) -> per window, per object: `c<r> m<class>` or `b<w>,<h>,<angle> m<class>` (without
    the mass class when `mass` is false), the box
    turned by k * pi/2 so the angle lies in [-pi/4, pi/4] (a box looks the same turned that way)."""
    turns = np.rint(last[..., ANGLE] / (np.pi / 2))  # (B, N)
    angle = np.rint((last[..., ANGLE] - turns * (np.pi / 2)) * SCALE[ANGLE]).astype(np.int64)
    odd = turns % 2 != 0
    poses = []  # per object: (shape as is, shape with sides swapped), mass class
    for o in scene.objects:
        swapped = shape_text(replace(o, size=o.size[::-1])) if o.shape == "box" else None
        poses.append((shape_text(o), swapped, f" m{mass_class(o)}" if mass else ""))
    out = []
    for b in range(last.shape[0]):
        row = []
        for j, (shape, swapped, m) in enumerate(poses):
            if swapped is None:
                row.append(shape + m)
            else:
                row.append(f"{swapped if odd[b, j] else shape},{angle[b, j]}{m}")
        out.append(row)
    return out


def _pair_gaps(scene: Scene, last: np.ndarray) -> np.ndarray:
    """(B, N, 6) -> (B, N, N) gap from i to j: the centre distance minus both shapes' half-widths
    along the line of centres (inf on the diagonal).

    Exact for two circles, never more than the true surface distance (it is the gap of their
    shadows on that line), so nothing truly within a radius is missed.
    """
    N = last.shape[1]
    delta = last[:, None, :, X:Y + 1] - last[:, :, None, X:Y + 1]  # (B, N, N, 2): from i to j
    d = np.sqrt((delta**2).sum(-1))  # (B, N, N)
    u = delta / np.maximum(d, 1e-9)[..., None]
    hw = half_width(scene, last[:, None, :, ANGLE], u[..., 0], u[..., 1])  # (B, N, N): j along i -> j
    gap = d - hw - np.swapaxes(hw, 1, 2)  # hw[b, j, i]: i along the same line
    gap[:, np.arange(N), np.arange(N)] = np.inf
    return gap


def _neighbours(scene: Scene, last: np.ndarray, k: int, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, N, 6) -> indices (B, N, k) of the k nearest others by gap (_pair_gaps), (B, N, k) bool
    gap <= radius, and (B, N, N) the gaps. Ties go to the lower index (stable sort), so the text is
    deterministic.
    """
    k = min(k, last.shape[1] - 1)
    gap = _pair_gaps(scene, last)
    idx = np.argsort(gap, axis=-1, kind="stable")[..., :k]
    near = np.take_along_axis(gap, idx, axis=-1) <= radius
    return idx, near, gap


def _pair_statics(scene: Scene) -> dict:
    """Version-2 pair numbers, static per scene: (N, N) mass ratio log2(m_j / m_i) in 0.1,
    (N, N) the pair's elasticity (Pymunk multiplies the shapes' values) in 0.01, and per object
    `e<..> f<..>` of its contact with the walls."""
    mass = np.array([o.mass for o in scene.objects], dtype=np.float64)
    e = np.array([o.mat.elasticity for o in scene.objects], dtype=np.float64)
    f = np.array([o.mat.friction for o in scene.objects], dtype=np.float64)
    ratio = np.rint(10 * (np.log2(mass)[None, :] - np.log2(mass)[:, None])).astype(np.int64)
    pair_e = np.rint(100 * e[:, None] * e[None, :]).astype(np.int64)
    walls = []
    if scene.walls is not None:
        we = np.rint(100 * e * scene.walls.elasticity).astype(np.int64)
        wf = np.rint(100 * f * scene.walls.friction).astype(np.int64)
        walls = [f"e{a} f{b}" for a, b in zip(we, wf)]
    return {"ratio": ratio, "e": pair_e, "walls": walls}


def prompts(scene: Scene, windows: np.ndarray, fmt: TextFormat) -> list[list[str]]:
    """windows (B, C, N, 6), C == fmt.context -> B lists of N prompts.

    Windows go in chunks so the (chunk, N, N) neighbour arrays stay near PAIRS_PER_CHUNK.
    """
    n = windows.shape[2]
    step = max(1, PAIRS_PER_CHUNK // (n * n))
    return [row for k in range(0, windows.shape[0], step) for row in _prompts(scene, windows[k:k + step], fmt)]


def _prompts(scene: Scene, windows: np.ndarray, fmt: TextFormat) -> list[list[str]]:
    B, C, N, _ = windows.shape
    w64 = windows.astype(np.float64)
    last = w64[:, -1]  # (B, N, 6)
    state = quantize(last)  # (B, N, 6)
    heads = _heads(scene)
    descs = _neighbour_shapes(scene, last, mass=not fmt.gaps)
    change = np.diff(w64[..., _DV], axis=1)  # (B, C-1, N, 3)
    change[..., :2] -= np.asarray(scene.gravity, dtype=np.float64) * scene.dt
    dv = np.rint(change * SCALE[_DV]).astype(np.int64)
    walls = wall_gaps(scene, last) if scene.walls is not None else None
    wall_q = None if walls is None else np.rint(walls * SCALE[X]).astype(np.int64)
    nb, near, gap = _neighbours(scene, last, fmt.neighbours, fmt.neighbour_radius)
    rel = np.rint((np.take_along_axis(last[:, None, :, :4], nb[..., None], axis=2)  # (B, N, k, 4)
                   - last[:, :, None, :4]) * SCALE[:4]).astype(np.int64)
    if fmt.gaps:  # version 2: gaps after this frame's free flight, and the pairs' materials
        ahead = ballistic(scene, last)
        statics = _pair_statics(scene)
        if walls is not None:
            wall_next = np.rint(wall_gaps(scene, ahead) * SCALE[X]).astype(np.int64)
        gap_next = np.rint(np.take_along_axis(_pair_gaps(scene, ahead), nb, axis=-1) * SCALE[X]).astype(np.int64)
    out = []
    for b in range(B):
        row = []
        for i in range(N):
            parts = [heads[i], "\n", _ints(state[b, i]), "\n"]
            parts.extend(f"dv {_ints(dv[b, c, i])}\n" for c in range(C - 1))
            if walls is not None:
                listed = [s for s in range(4) if walls[b, i, s] <= fmt.neighbour_radius]
                if listed and fmt.gaps:
                    close = " ".join(f"{WALLS[s]}{wall_next[b, i, s]}" for s in listed)
                    parts.append(f"w {statics['walls'][i]} {close}\n")
                elif listed:
                    parts.append(f"w {' '.join(f'{WALLS[s]}{wall_q[b, i, s]}' for s in listed)}\n")
            for k in np.flatnonzero(near[b, i]):
                j = nb[b, i, k]
                if fmt.gaps:
                    parts.append(f"{descs[b][j]} r{statics['ratio'][i, j]} e{statics['e'][i, j]} "
                                 f"g{gap_next[b, i, k]} {_ints(rel[b, i, k])}\n")
                else:
                    parts.append(f"{descs[b][j]} {_ints(rel[b, i, k])}\n")
            row.append("".join(parts))
        out.append(row)
    return out


def targets(scene: Scene, windows: np.ndarray, next_states: np.ndarray, fmt: TextFormat) -> list[list[str]]:
    """windows (B, C, N, 6), next_states (B, N, 6) -> B lists of N target lines (with newline)."""
    ints = to_written(encode(scene, windows, next_states, fmt.encoding), fmt.order)  # (B, N, 6)
    return [[format_line(i, ints[b, i]) + "\n" for i in range(ints.shape[1])] for b in range(ints.shape[0])]
