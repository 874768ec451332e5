"""Compare screen: the live Pymunk truth on the left, a model's rollout of it on the right.

The truth is a World stepped one scene.dt per frame. The model starts from the
first C true frames and then reads only its own predictions (app/rollout.py, on a
worker thread); the right panel shows its latest predicted frame k <= t and the
numbers compare frame k of both: position RMSE (as eval's pos_rmse: sqrt of the
mean over objects of dx^2 + dy^2), the parse rate of the rollout so far, the
model's seconds per frame and the total energy (physics_llm/sim/physics.energy).
"""

from __future__ import annotations

import numpy as np

from app import widgets as W
from app.models import find_models
from app.rollout import LiveRollout, ModelCache
from app.scenefiles import save_numbered
from app.states.base import Shared, State
from physics_llm.eval.metrics import pos_sq_err
from physics_llm.gifs import ERROR, PRED, TRUTH, TRUTH_DIM, UNPARSED
from physics_llm.render import Renderer, to_surface
from physics_llm.sim.physics import energy
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import World

SYNC_TIMEOUT_S = 30.0  # headless runs wait this long per frame for the model before drawing anyway
# On quit the worker finishes its current frame: a thread killed inside torch aborts the process (exit 134).
CLOSE_TIMEOUT_S = 60.0
PAD, CAPTION_H, INFO_H = 12, 26, 132


class CompareState(State):
    name = "compare"
    hints = ("space pause  r restart  n new scene  m next model  M model list  o overlay  s save scene  "
             "e editor  j jobs  g gallery  q quit")

    def __init__(self, shared: Shared, scene: Scene, model: str, sync: bool = False,
                 models: ModelCache | None = None):
        """sync: wait for the model every frame (headless runs and tests: frame k == t when it finishes)."""
        super().__init__(shared)
        self.models = models or ModelCache()
        self.model = model
        self._scan_models()
        self.sync = sync
        self.seed = scene.seed if scene.seed is not None else self.cfg.scene_seed
        self.overlay = False
        self.paused = False
        self.picker: W.ListPicker | None = None
        self.rollout: LiveRollout | None = None
        self.restart(scene)

    # ------------------------------------------------------------ simulation and rollout

    def restart(self, scene: Scene | None = None) -> None:
        """Back to frame 0 (of a new scene if given); the rollout starts over from the truth."""
        if scene is not None:
            self.scene = scene
            self.renderer = None
        self.world = World(self.scene)
        self.truth: list[np.ndarray] = [self.world.state()]  # frame t of the truth, (N, 6) each
        old = self.rollout
        if old is not None:
            old.stop()
        self.rollout = LiveRollout(self.model, self.scene, self.cfg.context, self.models,
                                   after=None if old is None else old.thread)
        self.rollout.advance(self.truth)
        self.rmse: list[float] = []  # per predicted frame k (0 on the context frames)
        self.e_true: list[float] = []
        self.e_pred: list[float] = []
        self._shown_error = None
        self._surfaces: dict[str, tuple] = {}
        self.persist["scene"], self.persist["model"] = self.scene, self.model
        if self.sync:
            self.rollout.wait_idle(SYNC_TIMEOUT_S)

    def set_model(self, spec: str) -> None:
        self.model = spec
        self.say(f"model {spec}")
        self.restart()

    @property
    def frame(self) -> int:
        """The truth's frame t."""
        return len(self.truth) - 1

    @property
    def pred_frame(self) -> int:
        """The latest predicted frame k (-1 before the first)."""
        return len(self.rmse) - 1

    def _collect(self) -> None:
        """Numbers of every frame the worker finished since the last call."""
        r = self.rollout
        for k in range(len(self.rmse), len(r.frames)):
            pred, true = r.frames[k], self.truth[k]
            self.rmse.append(float(np.sqrt(pos_sq_err(pred, true).mean())))
            self.e_true.append(float(energy(self.scene, true)["total"]))
            self.e_pred.append(float(energy(self.scene, pred)["total"]))
        if r.error and r.error != self._shown_error:
            self._shown_error = r.error
            self.say(r.error, error=True)

    def numbers(self) -> dict:
        """The live numbers at the latest predicted frame k (values None until there is one)."""
        r, k, C = self.rollout, self.pred_frame, self.rollout.context_frames
        out = {"frame": self.frame, "pred_frame": k, "pos_rmse": None, "parse_rate": None, "sec_per_frame": None,
               "energy_true": None, "energy_pred": None, "status": r.status, "error": r.error}
        if k >= 0:
            out.update(pos_rmse=self.rmse[k], energy_true=self.e_true[k], energy_pred=self.e_pred[k])
        if C is not None and k >= C:
            out["parse_rate"] = float(np.mean(r.parsed[C:k + 1]))
            out["sec_per_frame"] = float(np.mean(r.seconds[:k + 1 - C]))
        return out

    # ------------------------------------------------------------ state interface

    def _scan_models(self) -> None:
        """The picker's list: built-in models and checkpoints on disk (a spec given by hand stays listed)."""
        self.model_list = find_models(self.cfg.model_dirs)
        if self.model not in self.model_list:
            self.model_list.append(self.model)

    def startup(self, persist: dict) -> None:
        super().startup(persist)
        self._scan_models()
        scene = persist.get("scene")
        if scene is not None and scene is not self.scene:
            self.seed = scene.seed if scene.seed is not None else self.seed
            self.restart(scene)
        persist["scene"], persist["model"] = self.scene, self.model

    def close(self) -> None:
        self.rollout.stop()
        self.rollout.thread.join(CLOSE_TIMEOUT_S)

    def update(self, dt: float) -> None:
        if not self.paused and self.picker is None:
            if self.frame >= self.cfg.max_frames:
                self.restart()
            else:
                self.world.step()
                self.truth.append(self.world.state())
                self.rollout.advance(self.truth)
                if self.sync:
                    self.rollout.wait_idle(SYNC_TIMEOUT_S)
        self._collect()

    def get_event(self, event) -> bool:
        import pygame

        if self.picker is not None:
            return self._picker_event(event)
        if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and self._model_button().collidepoint(event.pos):
            self._open_picker()
            return True
        if event.type != pygame.KEYDOWN:
            return False
        k = event.key
        if k == pygame.K_SPACE:
            self.paused = not self.paused
            self.say("paused" if self.paused else "running")
        elif k == pygame.K_r:
            self.restart()
            self.say("restarted")
        elif k == pygame.K_n:
            from physics_llm.sim.generate import random_scene

            self.seed += 1
            self.restart(random_scene(self.seed))
            self.say(f"random scene seed {self.seed}: {self.scene.n} objects, stage {self.scene.tags.get('stage')}")
        elif k == pygame.K_m:
            if event.mod & pygame.KMOD_SHIFT:
                self._open_picker()
            else:
                i = self.model_list.index(self.model) if self.model in self.model_list else -1
                self.set_model(self.model_list[(i + 1) % len(self.model_list)])
        elif k == pygame.K_o:
            self.overlay = not self.overlay
        elif k == pygame.K_s:
            path = save_numbered(self.scene, self.cfg.scenes_dir)
            self.say(f"saved the scene to {path}")
        else:
            return False
        return True

    def _open_picker(self) -> None:
        import pygame

        r = self._right
        rect = pygame.Rect(r.x + 20, r.y + 20, r.width - 40, min(r.height - 40, 26 * len(self.model_list) + 12))
        self.picker = W.ListPicker(rect, row_h=26)
        self.picker.set_items(self.model_list, self.model_list.index(self.model))
        self.say("pick a model: click it, or Up/Down and Enter; Esc closes the list")

    def _picker_event(self, event) -> bool:
        import pygame

        if event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE:
            self.picker = None
            self.say("")
            return True
        used = self.picker.handle(event)
        if self.picker.picked is not None:
            spec = self.model_list[self.picker.picked]
            self.picker = None
            self.set_model(spec)
            return True
        if event.type == pygame.MOUSEBUTTONDOWN and not self.picker.rect.collidepoint(event.pos):
            self.picker = None
            return True
        return used or event.type == pygame.KEYDOWN  # the list is modal: keys do not reach the screen

    # ------------------------------------------------------------ drawing

    def _layout(self) -> None:
        import pygame

        b = self.body
        half = (b.width - 3 * PAD) // 2
        room_h = b.height - CAPTION_H - INFO_H - 3 * PAD
        scale = min(half / self.scene.width, room_h / self.scene.height)
        self.renderer = Renderer(self.scene, scale)
        pw, ph = self.renderer.size
        top = b.y + PAD + CAPTION_H
        self._left = pygame.Rect(b.x + PAD + (half - pw) // 2, top, pw, ph)
        self._right = pygame.Rect(b.x + 2 * PAD + half + (half - pw) // 2, top, pw, ph)
        self._info = pygame.Rect(b.x + PAD, top + ph + PAD, b.width - 2 * PAD, b.bottom - top - ph - 2 * PAD)

    def _model_button(self):
        import pygame

        label = f"model: {self.model}  ▾"
        w = min(self.theme.font.size(label)[0] + 20, self._right.width - 120)
        return pygame.Rect(self._right.x, self._right.y - CAPTION_H, w, CAPTION_H - 4)

    def _surface(self, key: str, stamp: tuple, make):
        """A panel surface, redrawn only when its stamp (frame, overlay) changes (a paused scene costs nothing)."""
        cached = self._surfaces.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, make())
            self._surfaces[key] = cached
        return cached[1]

    def _truth_image(self):
        r = self.renderer
        return to_surface(r.frame(self.truth[self.frame], color=TRUTH if self.overlay else None))

    def _pred_image(self):
        import pygame

        r, k = self.renderer, self.pred_frame
        pred, ok = self.rollout.frames[k], self.rollout.parsed[k]
        img = r.blank()
        if self.overlay:
            r.draw(img, self.truth[k], color=TRUTH_DIM)
            r.draw(img, pred, color=PRED, outline=True, width=2, select=ok)
        else:
            r.draw(img, pred, select=ok)
        r.draw(img, pred, color=UNPARSED, outline=True, select=~ok)
        surf = to_surface(np.asarray(img))
        if self.overlay:  # error lines: annotations, not shapes
            a = self.truth[k][:, :2].astype(np.float64) * r.scale
            b = np.clip(pred[:, :2].astype(np.float64) * r.scale, -1e4, 1e4)
            for p, q in zip(a.tolist(), b.tolist()):
                if p != q:
                    pygame.draw.line(surf, ERROR, p, q, 1)
        return surf

    def draw(self, surface) -> None:
        if self.renderer is None:
            self._layout()
        t, k, th = self.frame, self.pred_frame, self.theme
        W.text(surface, f"truth (Pymunk)   frame {t}", (self._left.x, self._left.y - CAPTION_H + 3), th.font)
        seed = f"seed {self.scene.seed}" if self.scene.seed is not None else "drawn scene"
        info = f"{self.scene.n} objects · {seed}"
        iw = th.small.size(info)[0]
        W.text(surface, info, (self._left.right - iw, self._left.y - CAPTION_H + 5), th.small, W.DIM)
        surface.blit(self._surface("truth", (t, self.overlay), self._truth_image), self._left)
        mb = self._model_button()
        W.Button(mb, f"model: {self.model}  ▾").draw(surface, th)
        label = f"frame {k}" if k >= 0 else ""
        label_x = self._right.right - th.font.size(label)[0]
        W.text(surface, label, (label_x, self._right.y - CAPTION_H + 3), th.font)
        if k >= 0:
            surface.blit(self._surface("pred", (k, self.overlay), self._pred_image), self._right)
        else:
            self._draw_waiting(surface)
        if self.overlay:
            self._draw_legend(surface, mb.right, label_x)
        if self.picker is not None:
            W.panel(surface, self.picker.rect.inflate(8, 8))
            self.picker.draw(surface, th)
        self._draw_info(surface)

    def _draw_waiting(self, surface) -> None:
        import pygame

        r = self.rollout
        pygame.draw.rect(surface, W.PANEL, self._right)
        if r.status == "failed":
            msg, color = r.error, W.BAD
        elif r.status == "loading":
            msg, color = f"loading {self.model} ...", W.DIM
        else:
            msg, color = "waiting for the true context frames ...", W.DIM
        box = self._right.inflate(-40, -40)
        W.lines(surface, W.wrap(msg, self.theme.font, box.width), box, self.theme.font, color)

    def _draw_legend(self, surface, left: int, right: int) -> None:
        """The overlay's colours, in the caption row between x = left and right (items that do not fit are left out)."""
        x, y = left + 14, self._right.y - CAPTION_H + 6
        for label, color in (("truth", TRUTH), ("prediction", PRED), ("error", ERROR), ("unparsed", UNPARSED)):
            w = self.theme.small.size("■ " + label)[0]
            if x + w > right - 10:
                break
            x = W.text(surface, "■ " + label, (x, y), self.theme.small, color).right + 10

    def _draw_info(self, surface) -> None:
        import pygame

        th, n, box = self.theme, self.numbers(), self._info
        W.panel(surface, box)

        def f(v, fmt):
            return "–" if v is None else fmt.format(v)

        state = "paused" if self.paused else ("model failed" if n["status"] == "failed" else n["status"])
        left = [f"frame {n['frame']}  (prediction at {max(n['pred_frame'], 0)})   {state}",
                f"position RMSE  {f(n['pos_rmse'], '{:.3f}')} px",
                f"parse rate  {f(None if n['parse_rate'] is None else 100 * n['parse_rate'], '{:.1f}')} %",
                f"model time  {f(None if n['sec_per_frame'] is None else 1e3 * n['sec_per_frame'], '{:.2f}')}"
                " ms/frame",
                f"energy  truth {f(n['energy_true'], '{:.4g}')}   prediction {f(n['energy_pred'], '{:.4g}')}"]
        col_w = min(420, box.width // 3)
        W.lines(surface, left, pygame.Rect(box.x + 12, box.y + 10, col_w - 12, box.height - 16), th.font, gap=6)
        plot_w = (box.width - col_w - 3 * 10) // 2
        r1 = pygame.Rect(box.x + col_w + 10, box.y + 8, plot_w, box.height - 16)
        r2 = pygame.Rect(r1.right + 10, r1.y, plot_w, r1.height)
        W.plot(surface, r1, "position RMSE (px) per frame", [(np.array(self.rmse), ERROR)], th)
        W.plot(surface, r2, "total energy: truth (green), prediction (blue)",
               [(np.array(self.e_true), TRUTH), (np.array(self.e_pred), PRED)], th, fmt="{:.3g}")
