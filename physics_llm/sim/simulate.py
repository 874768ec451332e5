"""Pymunk world from a scene, stepped at scene.dt with scene.substeps; state read with pymunk.batch.

Walls are thick static segments outside the world (WALL_THICKNESS): with thin
walls 0.1-2% of fast bodies tunnel out. Thick walls and 4 substeps still let a
heavy body push a light one into a wall at Chipmunk's default 10 solver
iterations; SOLVER_ITERATIONS = 40 lets none escape (docs/DESIGN.md "Measured facts").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pymunk
import pymunk.batch as pb

from physics_llm.errors import SimulationError
from physics_llm.sim.scene import Scene, check_work
from physics_llm.sim.shapes import make_shape
from physics_llm.sim.state import Trajectory, wrap_angle

WALL_THICKNESS = 100.0  # px; segment radius, placed so its inner face is the world edge
# Chipmunk's default of 10 let a heavy body landing on a light one push the light
# body's centre up to 6 px into a wall (5 of 3,600 scenes in benchmarks/check_escapes.py);
# 20 let 2 through, 30 one, 40 none (about 1.6x the stepping time of 10).
SOLVER_ITERATIONS = 40
_BODY_FIELDS = pb.BodyFields.POSITION | pb.BodyFields.ANGLE | pb.BodyFields.VELOCITY | pb.BodyFields.ANGULAR_VELOCITY
# pymunk.batch writes x, y, angle, vx, vy, w per body; our state order is x, y, vx, vy, angle, w.
_BATCH_TO_STATE = [0, 1, 3, 4, 2, 5]
_ARB_FIELDS = pb.ArbiterFields.BODY_A_ID | pb.ArbiterFields.BODY_B_ID | pb.ArbiterFields.CONTACT_COUNT


class World:
    """A live Pymunk world of one scene; `step()` advances one frame, `state()` reads (N, 6)."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.h = scene.dt / scene.substeps
        space = pymunk.Space()
        space.gravity = scene.gravity
        space.iterations = SOLVER_ITERATIONS
        self.bodies: list[pymunk.Body] = []
        for o in scene.objects:
            body = pymunk.Body()
            body.position = o.position
            body.velocity = o.velocity
            body.angle = o.angle
            body.angular_velocity = o.angular_velocity
            shape = make_shape(body, o)
            m = o.mat
            shape.density, shape.friction, shape.elasticity = m.density, m.friction, m.elasticity
            space.add(body, shape)
            self.bodies.append(body)
        if scene.walls is not None:
            add_walls(space, scene)
        self.space = space
        ids = np.array([b.id for b in self.bodies], dtype=np.uintp)
        self._order = np.argsort(ids)
        self._sorted_ids = ids[self._order]
        self._buf = pb.Buffer()
        self._abuf = pb.Buffer()
        # Bodies are read once a frame through pymunk.batch's public get_space_bodies. Arbiters are
        # read after every substep (800 reads a scene), and there the public get_space_arbiters,
        # which allocates a cffi struct per call, costs 1.6 us against 0.7 for this reused one:
        # simulate() took 1.10x the CPU time with it (30 default scenes, interleaved, best of 7)
        # and bench_sim.py's ratio to pure stepping went from 1.13 to 1.34 (target <= 1.3), so
        # the arbiter reads stay on pymunk's internals (pb.lib, Buffer._int_arr).
        self._arb_data = pb.ffi.new("pmBatchedData *")
        self._arb_data.fields = _ARB_FIELDS.value
        self._arb_data.floatArray = self._abuf._float_arr
        self._arb_data.intArray = self._abuf._int_arr
        self._arb_iter = pb.ffi.addressof(pb.lib, "pmSpaceArbiterIteratorFuncBatched")
        # Which rows of a batch read are our bodies, in scene order (the space also
        # lists its static body). Fixed for the life of the world: nothing is added
        # or removed and sleeping is off.
        self._buf.clear()
        pb.get_space_bodies(space, pb.BodyFields.BODY_ID, self._buf)
        self._listed = np.frombuffer(self._buf.int_buf(), dtype=np.uintp).astype(np.uint64)
        where = {int(v): k for k, v in enumerate(self._listed)}
        self._rows = np.array([where[int(b.id)] for b in self.bodies], dtype=np.intp)

    def _read_bodies(self) -> None:
        """Append x, y, angle, vx, vy, w of every listed body to self._buf (no clear)."""
        pb.get_space_bodies(self.space, _BODY_FIELDS, self._buf)

    def _states(self) -> np.ndarray:
        """Everything read into self._buf so far -> (K, N, 6) float32 in state order."""
        raw = np.frombuffer(self._buf.float_buf(), dtype=np.float64).reshape(-1, len(self._listed), 6)
        out = raw[:, self._rows][..., _BATCH_TO_STATE]
        out[..., 4] = wrap_angle(out[..., 4])
        return out.astype(np.float32)

    def _contacts(self, row_ends: list[int]) -> np.ndarray:
        """Arbiters read into self._abuf, frame k ending at row row_ends[k] -> (K, N) bool."""
        a = np.frombuffer(self._abuf.int_buf(), dtype=np.uintp).reshape(-1, 3)
        frame = np.repeat(np.arange(len(row_ends)), np.diff(row_ends, prepend=0))
        # Cached arbiters of pairs that just separated stay listed with 0 contacts: skip them.
        live = a[:, 2] > 0
        frame = frame[live]
        out = np.zeros((len(row_ends), len(self.bodies)), dtype=bool)
        for side in (0, 1):
            ids = a[:, side][live]  # 1-D masks: twice as fast as a[live, :2] on 40K rows
            k = np.minimum(np.searchsorted(self._sorted_ids, ids), len(self._sorted_ids) - 1)
            ours = self._sorted_ids[k] == ids  # wall (static) bodies are not ours
            out[frame[ours], self._order[k[ours]]] = True
        return out

    def _advance(self, frames: int, record: bool) -> list[int]:
        """Step `frames` frames, appending (body a id, body b id, contact count) of every cached
        arbiter to self._abuf after every substep (a contact can start and end
        within one frame) and, if `record`, the bodies after every frame. Returns arbiter row ends."""
        ends = []
        step, h, n_sub = self.space.step, self.h, self.scene.substeps
        each_arbiter, sp, it, data = pb.lib.cpSpaceEachCachedArbiter, self.space._space, self._arb_iter, self._arb_data
        ints = self._abuf._int_arr
        for _ in range(frames):
            for _ in range(n_sub):
                step(h)
                each_arbiter(sp, it, data)
            if record:
                self._read_bodies()
            ends.append(ints.num // 3)
        return ends

    def state(self) -> np.ndarray:
        """(N, 6) float32 now; angle wrapped to (-pi, pi]."""
        self._buf.clear()
        self._read_bodies()
        return self._states()[0]

    def step(self) -> np.ndarray:
        """Advance one frame; returns (N,) bool contact flags for this step."""
        self._abuf.clear()
        return self._contacts(self._advance(1, record=False))[0]

    def run(self, frames: int) -> Trajectory:
        """The current state plus `frames - 1` steps, read in bulk (pymunk.batch buffers grow;
        numpy converts them once at the end, which keeps extraction cheap)."""
        self._buf.clear()
        self._abuf.clear()
        self._read_bodies()
        ends = self._advance(frames - 1, record=True)
        return Trajectory(traj=self._states(), contacts=self._contacts(ends))


def world_at(scene: Scene, state: np.ndarray) -> World:
    """A World of `scene` with its bodies at `state` (N, 6) instead of their initial state.

    Pymunk from an arbitrary state (a model's prediction, a perturbed training context, a body
    the user flung): contact warm-starting starts afresh, so from a state of the scene's own run
    the next frame matches the continued run closely but not bit for bit (on 200 frames of 20
    training scenes: velocity error median 7e-4 px/s, 99th percentile 1.6 px/s)."""
    s = np.asarray(state, dtype=np.float64)
    objs = [replace(o, position=(float(r[0]), float(r[1])), velocity=(float(r[2]), float(r[3])),
                    angle=float(r[4]), angular_velocity=float(r[5])) for o, r in zip(scene.objects, s)]
    return World(replace(scene, objects=objs))


def step_from(scene: Scene, state: np.ndarray) -> np.ndarray:
    """(N, 6) state -> (N, 6) float32 one frame of Pymunk later (world_at, then one step)."""
    world = world_at(scene, state)
    world.step()
    return world.state()


def add_walls(space: pymunk.Space, scene: Scene) -> None:
    r, w, h = WALL_THICKNESS, scene.width, scene.height
    segs = [((-r, -r), (w + r, -r)), ((-r, h + r), (w + r, h + r)),
            ((-r, -r), (-r, h + r)), ((w + r, -r), (w + r, h + r))]
    for a, b in segs:
        seg = pymunk.Segment(space.static_body, a, b, r)
        seg.elasticity = scene.walls.elasticity
        seg.friction = scene.walls.friction
        space.add(seg)


def simulate(scene: Scene, frames: int | None = None) -> Trajectory:
    """Run the scene for `frames` frames (default scene.frames). Same scene, same bytes.

    The frame count is checked against scene.py's limits before any stepping (SceneError), and a
    trajectory that turns non-finite raises SimulationError naming the object and the frame."""
    n_frames = scene.frames if frames is None else int(frames)
    check_work(scene.n, n_frames, scene.substeps, "frames")
    tr = World(scene).run(n_frames)
    check_finite(scene, tr.traj)
    return tr


def check_finite(scene: Scene, traj: np.ndarray) -> None:
    """SimulationError if any value of a (T, N, 6) trajectory is inf or NaN (the solver blew up)."""
    ok = np.isfinite(traj).all(axis=-1)
    if not ok.all():
        t, i = (int(v[0]) for v in np.nonzero(~ok))
        seed = f" (seed {scene.seed})" if scene.seed is not None else ""
        raise SimulationError(f"the simulation of the scene{seed} blew up: objects[{i}] is not finite at frame {t}; "
                              "its speeds, densities, sizes or gravity are too extreme for Pymunk (bring them "
                              "closer to the generators' ranges)")
