"""Compare screen: the live Pymunk truth beside up to three models' rollouts of it, always in step.

Every panel shows the same frame, the play head's (app/session.py): the truth is
stepped only once every model has that frame, so while a model is slow the head
waits for it and the timeline says so (its frames per second). Nothing computed is
thrown away: the scrubber goes back over every frame so far and a finished rollout
replays at full speed. The numbers compare frame f of each model with frame f of the
truth: position RMSE (as eval's pos_rmse: sqrt of the mean over objects of
dx^2 + dy^2), the parse rate of its predicted frames so far, the model's own ms per
frame and its frames per second, and the total energy (physics_llm/sim/physics.energy).

Drag a body in the truth panel to grab and fling it (a Pymunk pivot joint); on
release every model starts again from the new true frames; the timeline marks it.
Models run in their own processes or threads (app/worker.py); a worker is kept per
model while it is shown, so a restart does not reload a checkpoint.
"""

from __future__ import annotations

import math

import numpy as np

from app import widgets as W
from app.models import find_models
from app.scenefiles import save_numbered
from app.session import SPEEDS, Session
from app.states.base import Shared, State
from app.worker import Worker
from physics_llm.gifs import ERROR, TRUTH, TRUTH_DIM, UNPARSED
from physics_llm.render import Renderer, to_surface
from physics_llm.sim.scene import Scene

MAX_MODELS = 3
SYNC_TIMEOUT_S = 30.0  # headless runs wait this long per frame for the models before drawing anyway
LOAD_TIMEOUT_S = 600.0  # headless runs wait this long for the models to load
PAD, CAPTION_H, TIMELINE_H, INFO_H = 10, 26, 30, 132
MODEL_COLORS = [(70, 140, 255), (250, 160, 60), (220, 100, 220)]  # blue (as PRED in the GIFs), orange, magenta
GRAB = (255, 230, 120)
GRAB_BAND = (120, 96, 40)
RELEASE_MARK = (255, 200, 60)
VELOCITY_COLOR = (250, 210, 90)
ESCAPED = (255, 70, 70)
TRAIL_FRAMES = 40  # a trail is the body's path over this many frames
ARROW_S = 0.1  # a velocity arrow is the distance covered in this many seconds
ERROR_FULL_PX = 20.0  # per-object error colours: red at this many px and more
LAYERS = {"t": "trails", "v": "velocity", "x": "error"}


class CompareState(State):
    name = "compare"
    hints = ("space play/pause  . , step  - = speed  home/end  drag a body: fling it  r restart  n new scene  "
             "m/M model  a add model  o overlay  t trails  v velocity  x errors  s save  e j g screens  q quit")

    def __init__(self, shared: Shared, scene: Scene, models: list[str] | str, sync: bool = False,
                 loader=None):
        """models: 1-3 predictor specs. sync: every update moves exactly one frame, waiting for the models
        (headless --frames runs and tests). loader: load specs in-process with this (tests), else app/worker.py."""
        super().__init__(shared)
        self.specs = [models] if isinstance(models, str) else list(models)[:MAX_MODELS]
        if not self.specs:
            self.specs = [self.cfg.model]
        self.loader = loader
        self.workers: dict[str, Worker] = {}
        self.sync = sync
        self.seed = scene.seed if scene.seed is not None else self.cfg.scene_seed
        self.overlay = False
        self.layers: set[str] = set()  # "trails", "velocity", "error" (keys t, v, x)
        self.picker: W.ListPicker | None = None
        self._picking: int | None = None  # the panel the picker replaces (len(specs): add one)
        self._scrubbing = False
        self._mouse = (0, 0)
        self._active = True
        self.scene = scene
        self.session: Session | None = None
        self._scan_models()
        self.restart(scene)

    # ------------------------------------------------------------ models and sessions

    @property
    def model(self) -> str:
        """The first model's spec (the jobs screen evaluates it)."""
        return self.specs[0]

    def worker(self, spec: str) -> Worker:
        w = self.workers.get(spec)
        if w is None:
            w = self.workers[spec] = Worker(spec, self.cfg.model_worker, loader=self.loader,
                                                    threads=self.cfg.model_threads)
            if not self._active:
                w.pause(True)
        return w

    def _drop_unused_workers(self) -> None:
        for spec in [s for s in self.workers if s not in self.specs]:
            self.workers.pop(spec).close(wait=False)

    def restart(self, scene: Scene | None = None) -> None:
        """Back to frame 0 (of a new scene if given); every model starts over from the truth."""
        if scene is not None:
            self.scene = scene
        old = self.session
        playing, speed = (True, 1.0) if old is None else (old.playing or old.head >= old.frames - 1, old.speed)
        if old is not None:
            for t in old.tracks:
                if t.rid is not None:
                    t.worker.stop()
        self._drop_unused_workers()
        self.session = Session(self.scene, [self.worker(s) for s in self.specs], self.cfg.max_frames,
                               self.cfg.context)
        self.session.playing, self.session.speed = playing, speed
        self._version = getattr(self, "_version", 0) + 1
        self._surfaces: dict[str, tuple] = {}
        self._shown_errors: set[str] = set()
        self._layout()
        self.persist["scene"], self.persist["model"] = self.scene, self.model
        self.persist["models"] = list(self.specs)

    def set_models(self, specs: list[str]) -> None:
        self.specs = list(dict.fromkeys(specs))[:MAX_MODELS]  # each model once
        self.say("models: " + ", ".join(self.specs))
        self.restart()

    def set_model(self, spec: str, i: int = 0) -> None:
        """Panel i (0: the first model) shows `spec` from now on; i == len(specs) adds a panel."""
        specs = list(self.specs)
        if spec in specs and specs.index(spec) != i:
            self.say(f"{spec} is already shown", error=True)
            return
        if i >= len(specs):
            specs.append(spec)
        else:
            specs[i] = spec
        self.set_models(specs)

    def remove_model(self, i: int) -> None:
        if len(self.specs) > 1:
            self.set_models(self.specs[:i] + self.specs[i + 1:])

    def wait_loaded(self, timeout: float = LOAD_TIMEOUT_S) -> list[Worker]:
        """Block until every model has loaded or failed (headless runs); returns the workers that failed."""
        for w in self.workers.values():
            w.wait_loaded(timeout)
        return [w for w in self.workers.values() if w.status == "failed"]

    @property
    def frame(self) -> int:
        """The play head: the frame every panel shows."""
        return self.session.head

    @property
    def tracks(self):
        return self.session.tracks

    def numbers(self) -> dict:
        """The live numbers at the head (per model: values None until it has a predicted frame there)."""
        return self.session.stats()

    # ------------------------------------------------------------ state interface

    def _scan_models(self) -> None:
        """The picker's list: built-in models and checkpoints on disk (specs given by hand stay listed)."""
        self.model_list = find_models(self.cfg.model_dirs)
        for s in self.specs:
            if s not in self.model_list:
                self.model_list.append(s)

    def startup(self, persist: dict) -> None:
        super().startup(persist)
        self._scan_models()
        self._set_active(True)
        scene = persist.get("scene")
        if scene is not None and scene is not self.scene:
            self.seed = scene.seed if scene.seed is not None else self.seed
            self.restart(scene)
        persist["scene"], persist["model"], persist["models"] = self.scene, self.model, list(self.specs)

    def cleanup(self) -> dict:
        self._set_active(False)  # the models stop computing while the user is on another screen
        if self.session.grabbed is not None:
            self.session.release()
        return super().cleanup()

    def _set_active(self, active: bool) -> None:
        if active != self._active:
            self._active = active
            for w in self.workers.values():
                w.pause(not active)

    def resize(self) -> None:
        self.picker = None  # a list laid out for the old size
        self._layout()

    def close(self) -> None:
        for w in self.workers.values():
            w.close(wait=False)
        for w in self.workers.values():
            if not w.process:
                w.runner.join(60.0)  # a thread killed inside torch aborts the process: let it finish its frame

    def update(self, dt: float) -> None:
        s = self.session
        if self.picker is not None:
            s.pump()  # the models go on computing; the head waits while the list is open
            s.extend()
        else:
            s.update(dt, sync=self.sync, sync_timeout=SYNC_TIMEOUT_S)
        for t in s.tracks:
            if t.error and t.error not in self._shown_errors:
                self._shown_errors.add(t.error)
                self.say(t.error, error=True)

    # ------------------------------------------------------------ events

    def get_event(self, event) -> bool:
        import pygame

        if self.picker is not None:
            return self._picker_event(event)
        s = self.session
        if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            for i, rect in enumerate(self._model_buttons()):
                if rect.collidepoint(event.pos):
                    self._open_picker(i)
                    return True
            for i, rect in self._remove_buttons():
                if rect.collidepoint(event.pos):
                    self.remove_model(i)
                    return True
            add = self._add_button()
            if add is not None and add.collidepoint(event.pos):
                self._open_picker(len(self.specs))
                return True
            for rect, action in self._timeline_buttons():
                if rect.collidepoint(event.pos):
                    action()
                    return True
            if self._scrub_rect.collidepoint(event.pos):
                self._scrubbing = True
                self._scrub_to(event.pos[0])
                return True
            if self.panels[0].collidepoint(event.pos):
                p = self.to_world(event.pos)
                i = s.hit(p)
                if i is None:
                    self.say("press on a body of the truth and drag to fling it")
                else:
                    s.grab(i, p)
                    self._version += 1
                    self.say(f"holding objects[{i}] at frame {s.head}: drag and let go; the models restart from "
                             "the true frames at the release")
                return True
            return False
        if event.type == pygame.MOUSEMOTION:
            self._mouse = event.pos
            if self._scrubbing:
                self._scrub_to(event.pos[0])
                return True
            if s.grabbed is not None:
                s.drag(self.to_world(event.pos))
                return True
            return False
        if event.type == pygame.MOUSEBUTTONUP and event.button == 1:
            if self._scrubbing:
                self._scrubbing = False
                return True
            if s.grabbed is not None:
                s.drag(self.to_world(event.pos))
                self.release()
                return True
            return False
        if event.type != pygame.KEYDOWN:
            return False
        return self._key(event)

    def release(self) -> None:
        s = self.session
        s.release()
        self._version += 1
        self.say(f"released at frame {s.L}: every model continues from the true frames there")

    def _key(self, event) -> bool:
        import pygame

        k, s = event.key, self.session
        shift = bool(event.mod & pygame.KMOD_SHIFT)
        if k == pygame.K_ESCAPE:
            if s.grabbed is not None:
                self.release()
                return True
            return False  # the Control: Esc on compare does nothing (it never quits)
        if k == pygame.K_SPACE:
            s.toggle()
            self.say("playing" if s.playing else "paused")
        elif k in (pygame.K_PERIOD, pygame.K_RIGHT):
            s.step(10 if shift else 1)
        elif k in (pygame.K_COMMA, pygame.K_LEFT):
            s.step(-10 if shift else -1)
        elif k == pygame.K_HOME:
            s.seek(0)
        elif k == pygame.K_END:
            s.seek(s.L)
        elif k in (pygame.K_MINUS, pygame.K_KP_MINUS, pygame.K_LEFTBRACKET):
            self.change_speed(-1)
        elif k in (pygame.K_EQUALS, pygame.K_PLUS, pygame.K_KP_PLUS, pygame.K_RIGHTBRACKET):
            self.change_speed(+1)
        elif k == pygame.K_r:
            self.restart()
            self.say("restarted")
        elif k == pygame.K_n:
            from physics_llm.sim.generate import random_scene

            self.seed += 1
            self.restart(random_scene(self.seed))
            self.say(f"random scene seed {self.seed}: {self.scene.n} objects, stage {self.scene.tags.get('stage')}")
        elif k == pygame.K_m:
            if shift:
                self._open_picker(0)
            else:
                i = self.model_list.index(self.model) if self.model in self.model_list else -1
                nxt = [m for m in self.model_list[i + 1:] + self.model_list[:i + 1] if m not in self.specs[1:]]
                self.set_model(nxt[0], 0)
        elif k == pygame.K_a:
            if len(self.specs) >= MAX_MODELS:
                self.say(f"at most {MAX_MODELS} models: remove one first (its × button)", error=True)
            else:
                self._open_picker(len(self.specs))
        elif k == pygame.K_o:
            self.overlay = not self.overlay
        elif k in (pygame.K_t, pygame.K_v, pygame.K_x):
            name = LAYERS[{pygame.K_t: "t", pygame.K_v: "v", pygame.K_x: "x"}[k]]
            self.layers ^= {name}
            self.say(f"{name} {'on' if name in self.layers else 'off'}  (overlays: "
                     f"{', '.join(sorted(self.layers)) or 'none'}; o: truth under the prediction)")
        elif k == pygame.K_s:
            path = save_numbered(self.scene, self.cfg.scenes_dir)
            self.say(f"saved the scene to {path}")
        else:
            return False
        return True

    def change_speed(self, d: int) -> None:
        s = self.session
        i = min(range(len(SPEEDS)), key=lambda j: abs(SPEEDS[j] - s.speed))
        s.speed = SPEEDS[min(max(i + d, 0), len(SPEEDS) - 1)]
        self.say(f"speed {s.speed:g}x")

    def _scrub_to(self, x: int) -> None:
        r, s = self._scrub_rect, self.session
        f = round((x - r.x) / max(r.width - 1, 1) * (s.frames - 1))
        s.seek(f)

    def _open_picker(self, i: int) -> None:
        import pygame

        self._scan_models()
        p = self.panels[min(i + 1, len(self.panels) - 1)]
        b = self.body
        w = max(p.width - 20, 360)
        x = min(p.x + 10, b.right - w - 10)
        h = min(b.height - 80, 26 * len(self.model_list) + 12)
        rect = pygame.Rect(x, p.y + 10, w, h)
        self.picker = W.ListPicker(rect, row_h=26)
        cur = self.specs[i] if i < len(self.specs) else None
        self.picker.set_items(self.model_list, self.model_list.index(cur) if cur in self.model_list else 0)
        self._picking = i
        what = "add a model" if i >= len(self.specs) else f"model {i + 1}"
        self.say(f"{what}: click one, or Up/Down and Enter; Esc closes the list")

    def _picker_event(self, event) -> bool:
        return W.modal_list_event(self, "picker", event,
                                  lambda i: self.set_model(self.model_list[i], self._picking))

    # ------------------------------------------------------------ layout

    def _layout(self) -> None:
        import pygame

        b = self.body
        n = 1 + len(self.specs)
        room_h = b.height - TIMELINE_H - INFO_H - 3 * PAD
        best = None
        for cols in range(1, n + 1):
            rows = math.ceil(n / cols)
            cw = (b.width - (cols + 1) * PAD) / cols
            ch = (room_h - rows * CAPTION_H - (rows - 1) * PAD) / rows
            scale = min(cw / self.scene.width, ch / self.scene.height)
            if best is None or scale > best[0] + 1e-9:
                best = (scale, cols, rows)
        scale, cols, rows = best
        self.renderer = Renderer(self.scene, max(scale, 0.05))
        pw, ph = self.renderer.size
        grid_w = cols * pw + (cols - 1) * PAD
        x0 = b.x + (b.width - grid_w) // 2
        y0 = b.y + PAD  # what the panels leave goes to the numbers and plots below
        self.panels = [pygame.Rect(x0 + (i % cols) * (pw + PAD), y0 + (i // cols) * (CAPTION_H + ph + PAD) + CAPTION_H,
                                   pw, ph) for i in range(n)]
        top = max(p.bottom for p in self.panels) + PAD
        self._timeline = pygame.Rect(b.x + PAD, top, b.width - 2 * PAD, TIMELINE_H)
        t = self._timeline
        self._play_rect = pygame.Rect(t.x, t.y + 2, 64, t.height - 4)
        self._step_back_rect = pygame.Rect(self._play_rect.right + 6, t.y + 2, 30, t.height - 4)
        self._step_rect = pygame.Rect(self._step_back_rect.right + 4, t.y + 2, 30, t.height - 4)
        self._speed_rect = pygame.Rect(self._step_rect.right + 6, t.y + 2, 64, t.height - 4)
        label_w = 300
        self._scrub_rect = pygame.Rect(self._speed_rect.right + 12, t.y + 4, t.right - self._speed_rect.right - 24
                                       - label_w, t.height - 8)
        self._info = pygame.Rect(b.x + PAD, t.bottom + PAD, b.width - 2 * PAD, b.bottom - t.bottom - 2 * PAD)
        self._surfaces = {}

    def to_world(self, pos) -> tuple[float, float]:
        p, sc = self.panels[0], self.renderer.scale
        return (pos[0] - p.x) / sc, (pos[1] - p.y) / sc

    def to_screen(self, xy) -> tuple[int, int]:
        p, sc = self.panels[0], self.renderer.scale
        return int(round(p.x + xy[0] * sc)), int(round(p.y + xy[1] * sc))

    def _model_buttons(self) -> list:
        import pygame

        out = []
        for i, spec in enumerate(self.specs):
            p = self.panels[i + 1]
            label = f"{spec}  ▾"
            room = p.width - (30 if len(self.specs) > 1 else 0) - 40  # the × button, a short frame tag
            w = min(self.theme.font.size(label)[0] + 20, room)
            out.append(pygame.Rect(p.x, p.y - CAPTION_H, max(w, 60), CAPTION_H - 4))
        return out

    def _remove_buttons(self) -> list:
        import pygame

        if len(self.specs) < 2:
            return []
        return [(i, pygame.Rect(self.panels[i + 1].right - 22, self.panels[i + 1].y - CAPTION_H, 22, CAPTION_H - 4))
                for i in range(len(self.specs))]

    def _add_button(self):
        import pygame

        if len(self.specs) >= MAX_MODELS:
            return None
        p = self.panels[0]
        return pygame.Rect(p.right - 92, p.y - CAPTION_H, 92, CAPTION_H - 4)

    def _timeline_buttons(self) -> list:
        s = self.session
        return [(self._play_rect, s.toggle), (self._step_back_rect, lambda: s.step(-1)),
                (self._step_rect, lambda: s.step(1)), (self._speed_rect, self._cycle_speed)]

    def _cycle_speed(self) -> None:
        s = self.session
        i = min(range(len(SPEEDS)), key=lambda j: abs(SPEEDS[j] - s.speed))
        s.speed = SPEEDS[(i + 1) % len(SPEEDS)]
        self.say(f"speed {s.speed:g}x")

    # ------------------------------------------------------------ drawing

    def _surface(self, key: str, stamp: tuple, make):
        """A surface, redrawn only when its stamp changes (a paused scene costs nothing)."""
        cached = self._surfaces.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, make())
            self._surfaces[key] = cached
        return cached[1]

    def _stamp(self, f: int) -> tuple:
        return (self._version, f, self.overlay, tuple(sorted(self.layers)))

    def _truth_image(self, f: int):
        s = self.session
        surf = to_surface(self.renderer.frame(s.truth[f], color=TRUTH if self.overlay else None))
        self._draw_layers(surf, s.truth, np.isfinite(s.truth[:, 0, 0]), f, TRUTH_DIM)
        return surf

    def _pred_image(self, i: int, f: int):
        import pygame

        r, t, s = self.renderer, self.tracks[i], self.session
        pred, ok = t.pred[f], t.parsed[f]
        color = MODEL_COLORS[i % len(MODEL_COLORS)]
        img = r.blank()
        if self.overlay:
            r.draw(img, s.truth[f], color=TRUTH_DIM)
            r.draw(img, pred, color=color, outline=True, width=2, select=ok)
        else:
            r.draw(img, pred, select=ok)
        r.draw(img, pred, color=UNPARSED, outline=True, select=~ok)
        surf = to_surface(np.asarray(img))
        if self.overlay and not t.copy[f]:  # error lines: annotations, not shapes
            a = s.truth[f][:, :2].astype(np.float64) * r.scale
            b = np.clip(pred[:, :2].astype(np.float64) * r.scale, -1e4, 1e4)
            for p, q in zip(a.tolist(), b.tolist()):
                if p != q:
                    pygame.draw.line(surf, ERROR, p, q, 1)
        self._draw_layers(surf, t.pred, t.copy | t.have, f, tuple(c // 2 for c in color))
        if "error" in self.layers and not t.copy[f]:
            self._draw_object_errors(surf, pred, s.truth[f])
        self._draw_escaped(surf, pred)
        return surf

    def _draw_layers(self, surf, frames: np.ndarray, have: np.ndarray, f: int, trail_color) -> None:
        """Trails (the last TRAIL_FRAMES positions) and velocity arrows on a panel surface."""
        import pygame

        sc = self.renderer.scale
        if "trails" in self.layers:
            a = f
            while a > 0 and f - a < TRAIL_FRAMES and have[a - 1]:
                a -= 1
            if f - a >= 1:
                pts = np.clip(frames[a:f + 1, :, :2].astype(np.float64) * sc, -1e4, 1e4)  # (T, N, 2)
                ok = np.isfinite(pts).all(axis=(0, 2))
                for i in np.flatnonzero(ok).tolist():
                    pygame.draw.lines(surf, trail_color, False, pts[:, i].tolist(), 1)
        if "velocity" in self.layers:
            st = frames[f].astype(np.float64)
            for x, y, vx, vy in st[:, :4].tolist():
                if not all(map(math.isfinite, (x, y, vx, vy))):
                    continue
                a = (x * sc, y * sc)
                b = ((x + vx * ARROW_S) * sc, (y + vy * ARROW_S) * sc)
                if math.dist(a, b) < 3:
                    continue
                pygame.draw.line(surf, VELOCITY_COLOR, a, b, 2)
                ang = math.atan2(b[1] - a[1], b[0] - a[0])
                for side in (-0.5, 0.5):
                    pygame.draw.line(surf, VELOCITY_COLOR, b, (b[0] - 7 * math.cos(ang + side),
                                                               b[1] - 7 * math.sin(ang + side)), 2)

    def _draw_object_errors(self, surf, pred: np.ndarray, true: np.ndarray) -> None:
        """Each predicted body ringed in a colour for its position error: green 0 px to red ERROR_FULL_PX or more."""
        import pygame

        sc = self.renderer.scale
        err = np.sqrt(((pred[:, :2].astype(np.float64) - true[:, :2]) ** 2).sum(1))
        for o, p, e in zip(self.scene.objects, pred[:, :2].astype(np.float64).tolist(), err.tolist()):
            if not (math.isfinite(e) and all(map(math.isfinite, p))):
                continue
            u = min(e / ERROR_FULL_PX, 1.0)
            color = (int(80 + 175 * u), int(210 - 150 * u), int(100 - 50 * u))
            size = o.radius if o.shape == "circle" else 0.5 * math.hypot(*o.size)
            pygame.draw.circle(surf, color, (p[0] * sc, p[1] * sc), max(3, size * sc + 3), 2)

    def _draw_escaped(self, surf, pred: np.ndarray) -> None:
        """A red marker at the edge where a predicted body's centre has left the world (or become non-finite)."""
        import pygame

        W_, H_ = self.scene.width, self.scene.height
        sc = self.renderer.scale
        xy = pred[:, :2].astype(np.float64)
        out = ~np.isfinite(xy).all(axis=1) | (xy[:, 0] < 0) | (xy[:, 0] > W_) | (xy[:, 1] < 0) | (xy[:, 1] > H_)
        if not out.any():
            return
        w, h = surf.get_size()
        for x, y in np.nan_to_num(xy[out], nan=W_ / 2, posinf=1e9, neginf=-1e9).tolist():
            cx, cy = min(max(x * sc, 6), w - 7), min(max(y * sc, 6), h - 7)
            pygame.draw.polygon(surf, ESCAPED, [(cx, cy - 6), (cx + 6, cy + 5), (cx - 6, cy + 5)])
        W.text(surf, f"{int(out.sum())} left the world", (6, 4), self.theme.small, ESCAPED)

    def draw(self, surface) -> None:
        import pygame

        s, th, f = self.session, self.theme, self.session.head
        p0 = self.panels[0]
        add = self._add_button()
        room = (add.x if add is not None else p0.right) - p0.x - 8
        self._caption(surface, [f"truth (Pymunk)   frame {f}", f"truth  frame {f}", f"truth {f}"], p0.x,
                      p0.y - CAPTION_H + 3, room)
        surface.blit(self._surface("truth", self._stamp(f), lambda: self._truth_image(f)), p0)
        if add is not None:
            W.Button(add, "+ model (a)").draw(surface, th)
        if s.joint is not None:  # the held point and the mouse, joined by the joint
            a, m = self.to_screen(s.grabbed_point()), self.to_screen(tuple(s.joint.anchor_a))
            pygame.draw.line(surface, GRAB, a, m, 2)
            pygame.draw.circle(surface, GRAB, a, 4)
        buttons = self._model_buttons()
        removes = dict(self._remove_buttons())
        for i, t in enumerate(s.tracks):
            p = self.panels[i + 1]
            color = MODEL_COLORS[i % len(MODEL_COLORS)]
            W.Button(buttons[i], self._fit(f"{t.spec}  ▾", buttons[i].width - 12)).draw(surface, th)
            pygame.draw.rect(surface, color, (buttons[i].x, buttons[i].bottom, buttons[i].width, 2))
            if i in removes:
                W.Button(removes[i], "×").draw(surface, th)
            tags = ["true context", "context", "ctx"] if t.copy[f] else \
                ([f"frame {f}", f"{f}"] if t.have[f] else [""])
            right = (removes[i].x - 8) if i in removes else p.right
            self._caption(surface, tags, None, p.y - CAPTION_H + 3, right - buttons[i].right - 8, right=right,
                          color=W.DIM if t.copy[f] else W.TEXT)
            if t.shown(f):
                surface.blit(self._surface(f"pred{i}", self._stamp(f), lambda i=i: self._pred_image(i, f)), p)
                if t.out:
                    self._draw_note(surface, p, t.error, W.BAD, strip=True)
            else:
                self._draw_waiting(surface, p, t)
        self._draw_timeline(surface)
        if self.picker is not None:
            W.panel(surface, self.picker.rect.inflate(8, 8))
            self.picker.draw(surface, th)
        self._draw_info(surface)

    def _fit(self, label: str, width: int, font=None) -> str:
        """A label cut from the left (checkpoint paths end in the name that matters) to fit width px."""
        font = font or self.theme.font
        if font.size(label)[0] <= width:
            return label
        while len(label) > 2 and font.size("…" + label)[0] > width:
            label = label[1:]
        return "…" + label

    def _caption(self, surface, options: list[str], x, y: int, room: int, right: int | None = None,
                 color=W.TEXT) -> None:
        """The first of `options` that fits in `room` px (left-aligned at x, or right-aligned at `right`)."""
        font = self.theme.font
        for s in options:
            w = font.size(s)[0]
            if w <= room:
                W.text(surface, s, (x if right is None else right - w, y), font, color)
                return

    def _draw_note(self, surface, rect, msg: str, color, strip: bool = False) -> None:
        import pygame

        th = self.theme
        if strip:
            rows = W.wrap(msg, th.small, rect.width - 16)[:3]
            h = len(rows) * (th.small.get_linesize() + 2) + 8
            box = pygame.Rect(rect.x, rect.bottom - h, rect.width, h)
            pygame.draw.rect(surface, W.PANEL, box)
            W.lines(surface, rows, box.inflate(-16, -8), th.small, color)
            return
        pygame.draw.rect(surface, W.PANEL, rect)
        box = rect.inflate(-30, -30)
        W.lines(surface, W.wrap(msg, th.font, box.width), box, th.font, color)

    def _draw_waiting(self, surface, rect, t) -> None:
        if t.status == "failed":
            self._draw_note(surface, rect, t.error, W.BAD)
        elif t.status == "loading":
            self._draw_note(surface, rect, f"loading {t.spec} ...", W.DIM)
        elif self.session.grabbed is not None:
            self._draw_note(surface, rect, "a body is held: the models restart from the truth on release", W.DIM)
        else:
            self._draw_note(surface, rect, "computing ...", W.DIM)

    def _draw_timeline(self, surface) -> None:
        import pygame

        s, th = self.session, self.theme
        W.Button(self._play_rect, "pause" if s.playing else "play").draw(surface, th)
        W.Button(self._step_back_rect, "‹").draw(surface, th)
        W.Button(self._step_rect, "›").draw(surface, th)
        W.Button(self._speed_rect, f"{s.speed:g}x").draw(surface, th)
        r = self._scrub_rect
        pygame.draw.rect(surface, W.BG, r, border_radius=4)
        F = s.frames

        def x_of(f):
            return r.x + int(round((r.width - 1) * f / max(F - 1, 1)))

        pygame.draw.rect(surface, W.BUTTON_HOVER, (r.x, r.y, max(1, x_of(s.L) - r.x + 1), r.height), border_radius=4)
        for i, t in enumerate(s.tracks):  # how far each model has computed (ahead of the truth when it is fast)
            have = np.flatnonzero(t.have | t.copy)
            if have.size:
                x = x_of(int(have[-1]))
                pygame.draw.line(surface, MODEL_COLORS[i % len(MODEL_COLORS)], (x, r.y + 2 + 3 * i),
                                 (x, r.y + 6 + 3 * i), 2)
        for g, rel in s.grabs:  # grab bands and release marks
            x1 = x_of(g)
            x2 = x_of(s.L if rel is None else rel)
            pygame.draw.rect(surface, GRAB_BAND, (x1, r.y, max(2, x2 - x1), r.height))
            if rel is not None:
                pygame.draw.line(surface, RELEASE_MARK, (x2, r.y - 3), (x2, r.bottom + 2), 2)
        hx = x_of(s.head)
        pygame.draw.line(surface, W.TEXT, (hx, r.y - 3), (hx, r.bottom + 2), 3)
        pygame.draw.rect(surface, W.PANEL_EDGE, r, width=1, border_radius=4)
        slow = s.bottleneck()
        if slow:
            fps = [t.fps() for t in slow]
            rate = ", ".join(f"{t.spec.split('/')[-1]} {v:.2f} frames/s" if v else f"{t.spec.split('/')[-1]} "
                             f"{'loading' if t.status == 'loading' else 'starting'}" for t, v in zip(slow, fps))
            label, color = f"waiting for the model: {rate}", W.WARN
        else:
            label, color = f"frame {s.head} of {s.L} computed (max {F - 1})", W.DIM
        x = r.right + 12
        W.text(surface, label, (x, self._timeline.centery - th.small.get_height() // 2), th.small, color,
               self._timeline.right - x)

    def _draw_info(self, surface) -> None:
        s = self.session
        stamp = (self._version, s.head, s.L, tuple((t.n_received, t.status) for t in s.tracks), self._info.size)
        surface.blit(self._surface("info", stamp, self._info_image), self._info)

    def _info_image(self):
        import pygame

        th, s, f = self.theme, self.session, self.session.head
        box = self._info
        surf = pygame.Surface(box.size)
        surf.fill(W.BG)
        local = pygame.Rect(0, 0, box.width, box.height)
        W.panel(surf, local)

        def fmt(v, spec):
            return "–" if v is None or not np.isfinite(v) else spec.format(v)

        col_w = min(520, int(box.width * 0.42))
        cols = [0, 0.36, 0.53, 0.68, 0.84]  # name, RMSE, parse, ms/frame, frames/s (fractions of col_w)
        heads = ["model", "RMSE px", "parse %", "ms/frame", "frames/s"]
        y = 8
        for k, (c, h) in enumerate(zip(cols, heads)):
            w = int(((cols[k + 1] if k + 1 < len(cols) else 1.0) - c) * col_w) - 6
            W.text(surf, h, (12 + int(c * col_w), y), th.small, W.DIM, w)
        y += th.small.get_linesize() + 4
        W.text(surf, f"truth (Pymunk)   frame {f}   energy {fmt(s.e_true[f], '{:.5g}')}", (12, y), th.small, TRUTH,
               col_w)
        y += th.small.get_linesize() + 4
        for i, t in enumerate(s.tracks):
            color = MODEL_COLORS[i % len(MODEL_COLORS)]
            pr = t.parse_rate(f)
            fps = t.fps()
            name = self._fit(t.spec if t.status != "failed" else f"{t.spec} (failed)", int(cols[1] * col_w) - 6,
                             th.small)
            vals = [name, fmt(t.rmse[f], "{:.3f}"), fmt(None if pr is None else 100 * pr, "{:.1f}"),
                    fmt(t.ms_per_frame(), "{:.1f}"),
                    fmt(fps, "{:.0f}" if fps is not None and fps >= 100 else "{:.2f}")]
            for k, (c, v) in enumerate(zip(cols, vals)):
                w = int(((cols[k + 1] if k + 1 < len(cols) else 1.0) - c) * col_w) - 6
                W.text(surf, v, (12 + int(c * col_w), y), th.small, color if k == 0 else W.TEXT, w)
            y += th.small.get_linesize() + 4
        plot_w = (box.width - col_w - 3 * 10) // 2
        r1 = pygame.Rect(col_w + 10, 6, plot_w, box.height - 12)
        r2 = pygame.Rect(r1.right + 10, r1.y, plot_w, r1.height)
        n = s.L + 1
        W.plot(surf, r1, "position RMSE (px) per frame",
               [(t.rmse[:n], MODEL_COLORS[i % len(MODEL_COLORS)]) for i, t in enumerate(s.tracks)], th,
               marker=f, length=n)
        W.plot(surf, r2, "total energy (mass·px²/s²): truth green",
               [(s.e_true[:n], TRUTH)] + [(t.energy[:n], MODEL_COLORS[i % len(MODEL_COLORS)])
                                         for i, t in enumerate(s.tracks)], th, marker=f, length=n)
        return surf
