"""One compare run: the true Pymunk frames, every predictor's rollout of them, one shared play head.

Frames are absolute: frame f of the truth and frame f of every track are the same
moment. The truth (a World) is only stepped to frame f+1 once every live track has
its frame f+1, so it never runs ahead of the predictions; the play head moves over
frames 0..L (L: the last true frame), at `speed` x real time while playing, and
waits at L while a model is the bottleneck. Nothing computed is thrown away until
the user restarts, so the head can be scrubbed back and a finished rollout replays
at full speed.

A track's frames are either copies of the truth (its context: frames seg_start ..
ctx_end) or its model's predictions (from ctx_end + 1 on, each from the model's own
previous frames). A grab (mouse) takes a body of the truth with a Pymunk pivot joint
and moves it live; the models wait, showing the truth, and on release every track
starts a new rollout from the C true frames ending at the release frame. Grabbing at
an earlier frame than L first rewinds the World to that frame (the frames after it
are dropped: the future changed).
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from physics_llm.eval.metrics import pos_sq_err
from physics_llm.sim.physics import energy
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import World, world_at

SPEEDS = (0.25, 0.5, 1.0, 1.5, 2.0)
TRUTH_STEPS_PER_UPDATE = 8  # the truth catches up with fast models this many frames per UI frame at most
GRAB_ACCEL = 60_000.0  # px/s^2: the pivot joint's force limit per unit of the body's mass (60 g)
GRAB_ERROR_BIAS = (1 - 0.15) ** 60  # as pymunk's examples: the joint closes 15% of its error per 1/60 s
_rids = itertools.count(1)  # rollout ids, unique across sessions (workers outlive sessions)



class Track:
    """One predictor's frames in a session. status: "loading", "running", "done" or "failed"."""

    def __init__(self, spec: str, worker, frames: int, n: int, min_context: int):
        self.spec, self.worker = spec, worker
        self.min_context = min_context
        self.pred = np.full((frames, n, 6), np.nan, dtype=np.float32)
        self.parsed = np.zeros((frames, n), dtype=bool)
        self.have = np.zeros(frames, dtype=bool)  # a prediction arrived (any segment)
        self.copy = np.zeros(frames, dtype=bool)  # the frame is the truth's (context)
        self.seconds = np.full(frames, np.nan)  # the model's own time per predicted frame
        self.rmse = np.full(frames, np.nan)  # position RMSE against the truth (0 on context frames)
        self.energy = np.full(frames, np.nan)
        self.seg_start, self.anchor = 0, 0  # this segment's first frame; its release frame (None: grabbing)
        self.rid: int | None = None  # the rollout asked of the worker for this segment
        self.rollout_error: str | None = None
        self.failed_at: int | None = None
        self.done = False
        self.sent_at = 0.0
        self.last_at = 0.0
        self.n_received = 0  # predicted frames of this segment

    @property
    def error(self) -> str | None:
        """Why this track shows nothing more: its model failed to load, or failed on a frame."""
        return self.worker.error if self.worker.status == "failed" else self.rollout_error

    @property
    def out(self) -> bool:
        return self.error is not None

    @property
    def status(self) -> str:
        if self.out:
            return "failed"
        if self.worker.status == "loading":
            return "loading"
        return "done" if self.done else "running"

    @property
    def context(self) -> int:
        """C: true frames a rollout starts from (the config's or the model's own, whichever is more)."""
        return max(self.min_context, self.worker.context or 0)

    def ctx_end(self) -> float:
        """The last frame of this segment that is a copy of the truth (inf while grabbing)."""
        if self.anchor is None:
            return float("inf")
        return max(self.anchor, self.seg_start + self.context - 1)

    def ready(self, f: int) -> bool:
        """The truth may step to frame f: this track has it, or it is context, or the track is out."""
        return self.out or f <= self.ctx_end() or bool(self.have[f])

    def shown(self, f: int) -> bool:
        """Frame f can be drawn in this track's panel."""
        return bool(self.copy[f] or self.have[f])

    def drop_after(self, f: int) -> None:
        """Forget frames after f (the truth changed from there)."""
        for a in (self.have, self.copy, self.parsed):
            a[f + 1:] = False
        for a in (self.pred, self.seconds, self.rmse, self.energy):
            a[f + 1:] = np.nan
        if self.failed_at is not None and self.failed_at > f:
            self.rollout_error, self.failed_at = None, None

    def ms_per_frame(self) -> float | None:
        """The model's own mean time per predicted frame (ms), over every frame it sent this session."""
        s = self.seconds[np.isfinite(self.seconds)]
        return float(1e3 * s.mean()) if s.size else None

    def fps(self) -> float | None:
        """Predicted frames per wall second of this segment's rollout (what the play head can get)."""
        if self.n_received < 1 or self.last_at <= self.sent_at:
            return None
        return self.n_received / (self.last_at - self.sent_at)

    def parse_rate(self, upto: int) -> float | None:
        """Parsed share of the objects on the predicted frames 0..upto."""
        pred = self.have[:upto + 1] & ~self.copy[:upto + 1]
        return float(self.parsed[:upto + 1][pred].mean()) if pred.any() else None


class Session:
    """The truth and its tracks for one scene. `update(dt)` once per UI frame."""

    def __init__(self, scene: Scene, workers: list, max_frames: int, context: int):
        self.scene = scene
        self.frames = F = max_frames
        self.truth = np.full((F, scene.n, 6), np.nan, dtype=np.float32)
        self.e_true = np.full(F, np.nan)
        self.world = World(scene)
        self.L = -1  # the last true frame computed
        self.head = 0
        self.playing = True
        self.speed = 1.0
        self.waiting = False  # the head wants a frame the models do not have yet
        self._clock = 0.0
        self.grabs: list[list] = []  # [grab frame g, release frame r (None while held)]
        self.joint = None
        self.grabbed: int | None = None
        self.tracks = [Track(w.spec, w, F, scene.n, context) for w in workers]
        self._record(self.world.state())

    # ------------------------------------------------------------ the truth

    def _record(self, state: np.ndarray) -> None:
        """State is true frame L+1: store it, copy it into the tracks whose context it is, score frame L+1."""
        f = self.L = self.L + 1
        self.truth[f] = state
        self.e_true[f] = float(energy(self.scene, state)["total"])
        for t in self.tracks:
            if t.seg_start <= f <= t.ctx_end() and t.worker.status != "failed":
                t.copy[f], t.have[f] = True, False
                t.pred[f], t.parsed[f] = state, True
                t.rmse[f], t.energy[f] = 0.0, self.e_true[f]
            elif t.have[f]:
                t.rmse[f] = float(np.sqrt(pos_sq_err(t.pred[f], state).mean()))
                t.energy[f] = float(energy(self.scene, t.pred[f])["total"])

    def can_step(self) -> bool:
        f = self.L + 1
        return f < self.frames and all(t.ready(f) for t in self.tracks)

    def step_truth(self) -> None:
        self.world.step()
        self._record(self.world.state())

    def extend(self, budget: int = TRUTH_STEPS_PER_UPDATE) -> int:
        """Step the truth as far as every track allows (at most `budget` frames); returns the frames stepped."""
        n = 0
        while n < budget and self.can_step():
            self.step_truth()
            n += 1
        return n

    # ------------------------------------------------------------ the models

    def pump(self, timeout: float | None = None) -> None:
        """Read every worker's messages; send the rollouts whose context the truth now has."""
        for t in self.tracks:
            for msg in t.worker.poll(timeout):
                self._message(t, msg)
            timeout = None  # wait on the first worker only
        self.send()

    def _message(self, t: Track, msg: tuple) -> None:
        kind = msg[0]
        if len(msg) < 2 or msg[1] != t.rid:
            return  # a message of an earlier rollout (before a restart or a fling)
        if kind == "frame":
            _, _, k, state, parsed, seconds = msg
            if k < self.frames and k > t.ctx_end():
                t.pred[k], t.parsed[k], t.have[k], t.seconds[k] = state, parsed, True, seconds
                t.n_received += 1
                t.last_at = time.perf_counter()
        elif kind == "failed":
            _, _, k, error = msg
            t.rollout_error, t.failed_at = f"{t.spec} failed at frame {k}: {error}", k
        elif kind == "done":
            t.done = True

    def send(self) -> None:
        for t in self.tracks:
            if t.rid is not None or t.out or t.worker.status != "ready" or t.anchor is None:
                continue
            e = int(t.ctx_end())
            if self.L < e:
                continue
            C = t.context
            if e + 1 >= self.frames:
                t.done, t.rid = True, -1
                continue
            t.rid = next(_rids)
            t.sent_at = t.last_at = time.perf_counter()
            t.n_received = 0
            t.worker.rollout(t.rid, self.scene, self.truth[e - C + 1:e + 1], e + 1, self.frames - 1)

    def restart_tracks(self) -> None:
        """Every track drops its rollout after the truth's frame L (the truth changed there)."""
        for t in self.tracks:
            t.drop_after(self.L)
            if t.rid is not None:
                t.worker.stop()
            t.rid, t.done = None, False

    # ------------------------------------------------------------ playing

    @property
    def last(self) -> int:
        """The last frame every panel can show (the scrubber's end)."""
        return self.L

    def update(self, dt: float, sync: bool = False, sync_timeout: float = 30.0) -> None:
        """One UI frame: messages, the truth as far as the models allow, the play head.

        sync (headless runs): the head moves exactly one frame, waiting for the models up to sync_timeout.
        """
        self.pump()
        if self.grabbed is not None:
            self._clock += dt * self.speed / self.scene.dt
            n = min(int(self._clock), TRUTH_STEPS_PER_UPDATE)
            self._clock -= int(self._clock)
            for _ in range(n):
                if self.L + 1 >= self.frames:
                    break
                self.step_truth()
            self.head = self.L
            return
        self.extend()
        if sync:
            if self.playing and self.head < self.frames - 1:
                deadline = time.perf_counter() + sync_timeout
                while self.L <= self.head and self.L + 1 < self.frames and time.perf_counter() < deadline:
                    if all(t.out or t.done for t in self.tracks) and not self.can_step():
                        break
                    self.pump(timeout=0.05)
                    self.extend()
                self.head = min(self.head + 1, self.L)
            return
        if not self.playing:
            return
        self._clock += dt * self.speed / self.scene.dt
        n = int(self._clock)
        self._clock -= n
        if n == 0:
            return
        want = self.head + min(n, TRUTH_STEPS_PER_UPDATE)
        self.waiting = want > self.L and self.L + 1 < self.frames
        if want > self.L:
            want, self._clock = self.L, 0.0
        self.head = want
        if self.head >= self.frames - 1:
            self.playing = False

    def bottleneck(self) -> list[Track]:
        """The tracks the play head is waiting for (empty when it is not waiting)."""
        if not (self.playing and self.grabbed is None and self.head >= self.L and self.L + 1 < self.frames):
            return []
        return [t for t in self.tracks if not t.ready(self.L + 1)]

    def seek(self, f: int) -> None:
        self.head = int(min(max(f, 0), self.L))
        self._clock = 0.0

    def step(self, n: int = 1) -> None:
        """Single step (pauses). Forward at the last frame waits for the models like playing does."""
        self.playing = False
        self.seek(self.head + n)

    def toggle(self) -> None:
        if not self.playing and self.head >= self.frames - 1:
            self.head = 0  # at the end: play again from the start (nothing is recomputed)
        self.playing = not self.playing
        self._clock = 0.0

    # ------------------------------------------------------------ grab and fling

    def grab(self, i: int, point: tuple[float, float]) -> None:
        """Take body i of the truth at world point `point` (at the head's frame)."""
        import pymunk

        if self.grabbed is not None:
            self.release()
        if self.head < self.L:  # rewind: the World goes back to the head's frame, what came after is dropped
            self.world = world_at(self.scene, self.truth[self.head])
            self.truth[self.head + 1:] = np.nan
            self.e_true[self.head + 1:] = np.nan
            self.L = self.head
            self.grabs = [g for g in self.grabs if g[0] < self.head and (g[1] is None or g[1] <= self.head)]
        g = self.L
        self.restart_tracks()
        for t in self.tracks:  # a model that failed on a frame gets a new try from the new context
            t.seg_start, t.anchor, t.rollout_error, t.failed_at = g + 1, None, None, None
        body = self.world.bodies[i]
        joint = pymunk.PivotJoint(self.world.space.static_body, body, tuple(point), body.world_to_local(point))
        joint.max_force = GRAB_ACCEL * body.mass
        joint.error_bias = GRAB_ERROR_BIAS
        self.world.space.add(joint)
        self.joint, self.grabbed = joint, i
        self.grabs.append([g, None])
        self.playing, self._clock = True, 0.0
        self.head = self.L

    def drag(self, point: tuple[float, float]) -> None:
        if self.joint is not None:
            self.joint.anchor_a = tuple(point)

    def release(self) -> None:
        """Let go: every track starts a new rollout from the true frames ending here."""
        if self.joint is None:
            return
        self.world.space.remove(self.joint)
        self.joint, self.grabbed = None, None
        r = self.L
        self.grabs[-1][1] = r
        for t in self.tracks:
            t.anchor = r
        self.send()

    def grabbed_point(self) -> tuple[float, float] | None:
        """The grab point on the held body, in world px (None when nothing is held)."""
        if self.joint is None:
            return None
        b = self.world.bodies[self.grabbed]
        p = b.local_to_world(self.joint.anchor_b)
        return float(p[0]), float(p[1])

    def hit(self, p: tuple[float, float], f: int | None = None) -> int | None:
        """The body of the truth at frame f (default the head) under world point p, topmost first."""
        s = self.truth[self.head if f is None else f].astype(np.float64)
        for i in range(self.scene.n - 1, -1, -1):
            o = self.scene.objects[i]
            dx, dy = p[0] - s[i, 0], p[1] - s[i, 1]
            if o.shape == "circle":
                if dx * dx + dy * dy <= o.radius ** 2:
                    return i
            else:
                c, sn = np.cos(s[i, 4]), np.sin(s[i, 4])
                u, v = c * dx + sn * dy, -sn * dx + c * dy
                if abs(u) <= o.size[0] / 2 and abs(v) <= o.size[1] / 2:
                    return i
        return None

    # ------------------------------------------------------------ numbers

    def stats(self) -> dict:
        f = self.head
        return {"truth_frame": int(f), "last_true_frame": int(self.L),
                "model_frames": {t.spec: int(f) if t.shown(f) else -1 for t in self.tracks},
                "model_frames_computed": {t.spec: int(max(np.flatnonzero(t.have | t.copy), default=-1))
                                          for t in self.tracks},
                "model_ms_per_frame": {t.spec: t.ms_per_frame() for t in self.tracks},
                "model_frames_per_s": {t.spec: t.fps() for t in self.tracks},
                "model_status": {t.spec: t.status for t in self.tracks},
                "pos_rmse": {t.spec: None if not np.isfinite(t.rmse[f]) else float(t.rmse[f]) for t in self.tracks},
                "parse_rate": {t.spec: t.parse_rate(f) for t in self.tracks},
                "grabs": [list(g) for g in self.grabs]}
