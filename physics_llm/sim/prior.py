"""A wall-bounce prior: Pymunk's free flight, then a bounce off any wall the body would cross.

The `walls` text encoding (physics_llm/text/target.py) writes a target as the next state minus
this prior, as `residual` writes it minus free flight. In free flight the two are the same, so
free flight stays an all-zero target; on the frame a body reaches a wall the prior already holds
the bounce, so the target is the model's correction to a simple rule rather than a 4-digit
impulse (on 1,887 floor impacts of 60 training scenes, vy after the impact is 98 px/s RMSE from
the prior's, 494 from free flight's). Bodies against each other are not in the prior: that is
the model's to learn.

`rest_prior` adds one rule for contacts that last (the `rest` encoding): a body whose velocity
in the last context step departed from free flight by a contact-sized amount (REST_MIN to
REST_MAX px/s: a body resting on or sliding along something) keeps its last velocity and moves
by it, as a pile at rest or a sliding box does from one frame to the next; the wall rule still
acts on it once it would be more than REST_SINK (1 px, about what Pymunk lets a resting body
sink) into a wall (without that, the rule alone let 2% of object-frames drift out of the world in
100-frame rollouts). Free flight (a departure of 0) and an impact (a departure of hundreds
of px/s) keep the wall rule. On 20 test scenes of data/ds2k (10 windows each) the rule alone
gives single-step velocity RMSE 52.3 px/s (walls 52.8), median 0.00 (walls 3.29, copy 1.27)
and on the steps in contact median 0.03 (walls 4.91, copy 0.21); 59% of those object-steps
are all-zero targets (walls: 24%): a resting body's target becomes a near-zero correction instead of
"undo the wall bounce the rule made up" (on the floor, free flight moves it into the wall and
the wall rule bounces it).

`impulse_prior` adds body-body impacts (the `impulse` encoding): after rest_prior, every pair of
bodies that overlaps, did not touch in the last frame, has at least one member in free flight
(departure below REST_MIN) and approaches along the line of centres gets the impulse of a
frictionless, spinless collision, J = (1 + e_i e_j) v_n / (1/m_i + 1/m_j), pair by pair in index
order. On the same 20 test scenes: velocity RMSE at collision onsets 186 px/s (rest 246, walls
246, copy 300), 229 on onsets away from the walls (rest 310), all object-steps 41.3 (rest 52.3);
in 100-frame rollouts from frame 0 the rule alone is 122 px off at step 100 (rest 177, walls
177, copy 324) with no object-frame outside the world. The model writes what the rule misses
(friction, spin, boxes' contact points, piles).

REST_MIN is 8 px/s, not lower, because training perturbs context velocities (training/examples.py
Noise: a random walk of 2.9 px/s per step and axis at noise_vel 5): with 2 px/s, 79% of noisy
free-flight bodies would switch to the rest rule, a choice the model would have to make out of
the noise's digits (a first run with 2 px/s got worse single-step positions while its loss fell);
with 8, 2% (both computed from the noise's normal distribution). On clean windows the two are
alike (rule alone, 20 test scenes: velocity RMSE 52.4 either way).

`touch_prior` (the `touch` encoding) is impulse_prior with one condition more on the rest case:
the body must also touch something after this frame's free flight (its surface within
TOUCH_MARGIN, 0.1 px, of a wall or another body; sim/geometry.touching). A body whose last
step was a contact but that is leaving it (bouncing off softly, rolling off an edge, pushed
away) is in free flight in the next step, and impulse_prior's rest case gave it its last
velocity instead: on 20 test scenes (10 windows each) those misfires were most of the rule's
inexact free-flight steps (free_exact_frac 98.85%; with touch 99.74%, velocity RMSE 41.29 ->
41.32 px/s, 100-frame rollouts 122.4 -> 110.8 px, 0 escapes either way). It is also "free" for
the impulse rule, so a body that leaves one contact and meets another body gets its impulse.
Margins measured there: 0.02 and 0.05 px 99.82%, 0.1 99.74%, 0.25 99.47%, 0.5 99.38%. At 0.1
the rest case keeps 99.8% of its steps that are in contact on 40 val scenes (0.5: 99.9%); 0.1
rather than 0.05 leaves room for the small overlaps a resting pile keeps.

The rule, per wall a body's surface would cross after free flight (exact gap, boxes at their
angle): the body is moved back along the wall's normal until it touches, and if it moves into
the wall its normal velocity is reflected and scaled by the pair's elasticity (the body's times
the walls', as Pymunk combines them). Tangential velocity and spin are left alone.
"""

from __future__ import annotations

import numpy as np

from physics_llm.sim.geometry import touching, wall_gaps
from physics_llm.sim.scene import Scene
from physics_llm.sim.state import VX, VY, X, Y, free_flight

REST_MIN, REST_MAX = 8.0, 60.0  # px/s: the departure from free flight that marks a lasting contact (see below)
REST_SINK = 1.0  # px: a body in lasting contact may sink this far into a wall before the wall rule acts
TOUCH_MARGIN = 0.1  # px: touch_prior's rest case needs the body this close to a wall or body after free flight

# Walls l, r, t, b (geometry.wall_gaps order): the state column along the normal and the sign of
# the normal pointing into the world.
_NORMALS = ((X, VX, 1.0), (X, VX, -1.0), (Y, VY, 1.0), (Y, VY, -1.0))


def wall_prior(scene: Scene, last: np.ndarray) -> np.ndarray:
    """(..., N, 6) last frame -> (..., N, 6) float64 next state by free flight and wall bounces."""
    out = free_flight(np.asarray(last, dtype=np.float64), scene.gravity, scene.dt, scene.substeps)  # float64
    return wall_bounce(scene, out)


def wall_bounce(scene: Scene, out: np.ndarray, slack: np.ndarray | float = 0.0) -> np.ndarray:
    """(..., N, 6) float64 moved state -> the same array, every body that is deeper than `slack`
    px (per body or one number) into a wall put back to touching it, its normal velocity
    reflected and scaled by the pair's elasticity if it moves into the wall."""
    if scene.walls is None:
        return out
    e = np.array([o.mat.elasticity for o in scene.objects], dtype=np.float64) * scene.walls.elasticity  # (N,)
    gaps = wall_gaps(scene, out)  # (..., N, 4)
    for s, (pos, vel, sign) in enumerate(_NORMALS):
        hit = gaps[..., s] < -np.asarray(slack)
        if not hit.any():
            continue
        out[..., pos] = np.where(hit, out[..., pos] - sign * gaps[..., s], out[..., pos])
        v_n = sign * out[..., vel]  # > 0: moving away from the wall
        bounce = hit & (v_n < 0)
        out[..., vel] = np.where(bounce, sign * (-e * v_n), out[..., vel])
    return out


def rest_departure(scene: Scene, prev: np.ndarray, last: np.ndarray) -> np.ndarray:
    """(..., N, 6) two consecutive frames -> (..., N) how far (px/s) the velocity change between
    them departed from free flight's g*dt."""
    dv = np.asarray(last, np.float64)[..., VX:VY + 1] - np.asarray(prev, np.float64)[..., VX:VY + 1]
    return np.linalg.norm(dv - np.asarray(scene.gravity, np.float64) * scene.dt, axis=-1)


def rest_prior(scene: Scene, prev: np.ndarray, last: np.ndarray) -> np.ndarray:
    """(..., N, 6) the last two context frames -> (..., N, 6) float64 next state: wall_prior, except
    that a body in lasting contact (REST_MIN <= departure <= REST_MAX) keeps its last velocity."""
    return _rest(scene, prev, last, touch=False)[0]


def _rest(scene: Scene, prev: np.ndarray, last: np.ndarray, touch: bool) -> tuple[np.ndarray, np.ndarray]:
    """rest_prior's next state (with touch: only for bodies that touch something after free
    flight), and (..., N) bool which bodies are free for the impulse rule."""
    last = np.asarray(last, dtype=np.float64)
    out = free_flight(last, scene.gravity, scene.dt, scene.substeps)
    dep = rest_departure(scene, prev, last)
    rest = (dep >= REST_MIN) & (dep <= REST_MAX)
    free = dep < REST_MIN
    if touch:
        near = touching(scene, out.reshape(-1, scene.n, 6), TOUCH_MARGIN).reshape(rest.shape)
        free |= rest & ~near
        rest &= near
    v = last[..., VX:VY + 1]
    out[..., VX:VY + 1] = np.where(rest[..., None], v, out[..., VX:VY + 1])
    out[..., X:Y + 1] = np.where(rest[..., None], last[..., X:Y + 1] + v * scene.dt, out[..., X:Y + 1])
    return wall_bounce(scene, out, np.where(rest, REST_SINK, 0.0)), free


def impulse_prior(scene: Scene, prev: np.ndarray, last: np.ndarray) -> np.ndarray:
    """(..., N, 6) the last two context frames -> (..., N, 6) float64 next state: rest_prior, then
    an impulse for every new body-body contact (module docstring)."""
    return _impulse(scene, prev, last, touch=False)


def touch_prior(scene: Scene, prev: np.ndarray, last: np.ndarray) -> np.ndarray:
    """(..., N, 6) the last two context frames -> (..., N, 6) float64 next state: impulse_prior
    whose rest case holds only for bodies that touch something after free flight."""
    return _impulse(scene, prev, last, touch=True)


def _impulse(scene: Scene, prev: np.ndarray, last: np.ndarray, touch: bool) -> np.ndarray:
    from physics_llm.sim.geometry import pair_depths

    last = np.asarray(last, dtype=np.float64)
    out, free = _rest(scene, prev, last, touch)
    if scene.n < 2:
        return out
    shape = out.shape
    flat, before = out.reshape(-1, scene.n, 6), last.reshape(-1, scene.n, 6)
    free = free.reshape(-1, scene.n)
    t, i, j, _ = pair_depths(scene, flat)
    t0, i0, j0, _ = pair_depths(scene, before)
    n = scene.n
    new = ~np.isin((t * n + i) * n + j, (t0 * n + i0) * n + j0) & (free[t, i] | free[t, j])
    inv_m = 1.0 / scene.masses()
    e = np.array([o.mat.elasticity for o in scene.objects], dtype=np.float64)
    for b, p, q in zip(t[new], i[new], j[new]):
        normal = flat[b, q, X:Y + 1] - flat[b, p, X:Y + 1]
        length = np.hypot(normal[0], normal[1])
        if not length > 0:
            continue
        normal = normal / length
        v_n = (flat[b, q, VX:VY + 1] - flat[b, p, VX:VY + 1]) @ normal
        if not v_n < 0:  # separating (or not finite): no impulse
            continue
        impulse = -(1.0 + e[p] * e[q]) * v_n / (inv_m[p] + inv_m[q]) * normal
        flat[b, p, VX:VY + 1] -= impulse * inv_m[p]
        flat[b, q, VX:VY + 1] += impulse * inv_m[q]
    return flat.reshape(shape)
