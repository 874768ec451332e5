"""Editor screen: draw a scene by mouse, check it with the scene validation, save it, run it.

Left-drag on empty space makes a circle (centre at the press, radius to the
release) or a box (corner to corner); a click without a drag makes a default-size
one. Left-click an object to select it; right-drag from an object sets its
velocity (velocity_per_px px/s per px of drag). Every new object goes through
Scene.from_dict, so one that overlaps another or leaves the world is refused
with the validation's message.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from app import widgets as W
from app.scenefiles import append_jsonl, save_numbered
from app.states.base import Shared, State
from physics_llm.errors import SceneError
from physics_llm.render import MATERIAL_COLORS, Renderer, to_surface
from physics_llm.sim.materials import MATERIALS
from physics_llm.sim.scene import Scene, SceneObject

MATERIAL_NAMES = list(MATERIALS)  # keys 1-7 in this order
DEFAULT_RADIUS, DEFAULT_BOX = 15.0, 30.0  # a click without a drag
MIN_RADIUS, MIN_SIDE = 3.0, 4.0  # smaller shapes are hard to see and to hit at the default scale
CLICK_PX = 4  # screen px a press may move and still count as a click
SIDE_W, PAD = 300, 12
HIGHLIGHT = (255, 255, 255)
VELOCITY = (250, 210, 90)


def _r(v: float) -> float:
    return round(float(v), 1)  # 0.1 px keeps the JSON short; validation sees the rounded value


class EditorState(State):
    name = "editor"
    hints = ("drag: new object  c/b shape  1-7 material  right-drag: velocity  del delete  x clear  "
             "s save  a append  enter run  l load")

    def __init__(self, shared: Shared):
        super().__init__(shared)
        self.base = Scene(objects=[], tags={"source": "editor"})  # world settings: size, gravity, walls, dt
        self.objects: list[SceneObject] = []
        self.shape = "circle"
        self.material = "wood"
        self.selected: int | None = None
        self.drag: tuple | None = None  # ("create", world xy of the press) or ("velocity", object index)
        self.mouse = (0.0, 0.0)  # world xy under the mouse
        self._canvas_cache = None
        self._saved = self._snapshot()
        self._layout()

    # ------------------------------------------------------------ the scene

    def scene(self) -> Scene:
        """The drawn scene, validated (SceneError if it has no objects)."""
        return Scene.from_dict(replace(self.base, objects=list(self.objects)).to_dict())

    def _snapshot(self) -> str:
        """The scene being drawn as JSON text (what `dirty` compares with the last save)."""
        return replace(self.base, objects=list(self.objects)).to_json()

    @property
    def dirty(self) -> bool:
        """Objects drawn since the last save (s) or append (a): quitting asks first."""
        return bool(self.objects) and self._snapshot() != self._saved

    def candidate(self, a: tuple[float, float], b: tuple[float, float]) -> SceneObject:
        """The object a drag from world point a to b makes (a click: a == b, default size)."""
        dx, dy = b[0] - a[0], b[1] - a[1]
        click = math.hypot(dx, dy) * self.scale < CLICK_PX
        if self.shape == "circle":
            r = DEFAULT_RADIUS if click else max(MIN_RADIUS, math.hypot(dx, dy))
            return SceneObject(shape="circle", radius=_r(r), material=self.material, position=(_r(a[0]), _r(a[1])))
        if click:
            return SceneObject(shape="box", size=(DEFAULT_BOX, DEFAULT_BOX), material=self.material,
                               position=(_r(a[0]), _r(a[1])))
        w, h = max(MIN_SIDE, abs(dx)), max(MIN_SIDE, abs(dy))
        return SceneObject(shape="box", size=(_r(w), _r(h)), material=self.material,
                           position=(_r(a[0] + dx / 2), _r(a[1] + dy / 2)))

    def add(self, obj: SceneObject) -> bool:
        """Append obj if the scene stays valid; otherwise say why (the validation's message)."""
        try:
            Scene.from_dict(replace(self.base, objects=self.objects + [obj]).to_dict())
        except SceneError as e:
            self.say(f"refused: {e}", error=True)
            return False
        self.objects.append(obj)
        self.selected = len(self.objects) - 1
        self._changed()
        self.say(f"added objects[{self.selected}]: {self._describe(obj)}")
        return True

    def hit(self, p: tuple[float, float]) -> int | None:
        """The topmost object containing world point p, or None."""
        for i in range(len(self.objects) - 1, -1, -1):
            o = self.objects[i]
            dx, dy = p[0] - o.position[0], p[1] - o.position[1]
            if o.shape == "circle":
                if dx * dx + dy * dy <= o.radius ** 2:
                    return i
            else:  # into the box's frame (rotate by -angle)
                c, s = math.cos(o.angle), math.sin(o.angle)
                u, v = c * dx + s * dy, -s * dx + c * dy
                if abs(u) <= o.size[0] / 2 and abs(v) <= o.size[1] / 2:
                    return i
        return None

    def _describe(self, o: SceneObject) -> str:
        size = f"r {o.radius:g}" if o.shape == "circle" else f"{o.size[0]:g}x{o.size[1]:g}"
        name = o.material if isinstance(o.material, str) else "custom"
        return (f"{o.shape} {size} {name} at ({o.position[0]:g}, {o.position[1]:g}), "
                f"v ({o.velocity[0]:g}, {o.velocity[1]:g})")

    def _changed(self) -> None:
        self._canvas_cache = None

    def set_material(self, name: str) -> None:
        self.material = name
        if self.selected is not None:  # also recolours the selected object (materials never overlap)
            self.objects[self.selected] = replace(self.objects[self.selected], material=name)
            self._changed()
        self.say(f"material {name}")

    def delete(self) -> None:
        if self.selected is None:
            self.say("nothing selected: click an object first", error=True)
            return
        o = self.objects.pop(self.selected)
        self.say(f"deleted objects[{self.selected}] ({o.shape})")
        self.selected = self.drag = None
        self._changed()

    def clear(self) -> None:
        self.objects, self.selected, self.drag = [], None, None
        self._changed()
        self.say("cleared")

    def _valid_scene(self) -> Scene | None:
        try:
            return self.scene()
        except SceneError as e:
            self.say(f"cannot use this scene: {e}", error=True)
            return None

    def save(self) -> None:
        scene = self._valid_scene()
        if scene is not None:
            self.say(f"saved {save_numbered(scene, self.cfg.scenes_dir)}")
            self._saved = self._snapshot()

    def append(self) -> None:
        scene = self._valid_scene()
        if scene is not None:
            path, n = append_jsonl(scene, self.cfg.scenes_dir)
            self._saved = self._snapshot()
            self.say(f"appended to {path} ({n} scenes; `physics-llm eval --scenes {path}`)")

    def run(self) -> None:
        scene = self._valid_scene()
        if scene is not None:
            self.persist["scene"] = scene
            self.go("compare")

    def load(self) -> None:
        """Take the compare screen's scene (its world settings and objects) to edit."""
        scene = self.persist.get("scene")
        if scene is None:
            self.say("no scene on the compare screen yet", error=True)
            return
        self.base = replace(scene, objects=[], seed=None, tags={"source": "editor"})
        self.objects = [replace(o) for o in scene.objects]
        self.selected = None
        self._saved = self._snapshot()
        self._layout()
        self._changed()
        self.say(f"loaded the compare screen's scene: {len(self.objects)} objects")

    # ------------------------------------------------------------ events

    def to_world(self, pos) -> tuple[float, float]:
        return (pos[0] - self.canvas.x) / self.scale, (pos[1] - self.canvas.y) / self.scale

    def to_screen(self, p) -> tuple[int, int]:
        return int(round(self.canvas.x + p[0] * self.scale)), int(round(self.canvas.y + p[1] * self.scale))

    def get_event(self, event) -> bool:
        import pygame

        if event.type == pygame.MOUSEMOTION:
            self.mouse = self.to_world(event.pos)
            return self.drag is not None
        if event.type == pygame.MOUSEBUTTONDOWN:
            for button, action in self._buttons():
                if button.handle(event):
                    action()
                    return True
            if self.canvas.collidepoint(event.pos):
                return self._press(event.button, self.to_world(event.pos))
            return False
        if event.type == pygame.MOUSEBUTTONUP and self.drag is not None:
            self.mouse = self.to_world(event.pos)
            self._release(event.button, self.mouse)
            return True
        if event.type == pygame.KEYDOWN:
            return self._key(event.key)
        return False

    def _press(self, button: int, p) -> bool:
        i = self.hit(p)
        if button == 1:
            if i is not None:
                self.selected = i
                self._changed()
                self.say(f"selected objects[{i}]: {self._describe(self.objects[i])}")
            else:
                self.drag = ("create", p)
            return True
        if button == 3:
            if i is None:
                self.say("right-drag from an object to set its velocity", error=True)
            else:
                self.selected = i
                self._changed()
                self.drag = ("velocity", i)
            return True
        return False

    def _release(self, button: int, p) -> None:
        kind = self.drag[0]
        if kind == "create" and button == 1:
            start = self.drag[1]
            self.drag = None
            self.add(self.candidate(start, p))
        elif kind == "velocity" and button == 3:
            i = self.drag[1]
            self.drag = None
            o = self.objects[i]
            k = self.cfg.velocity_per_px
            v = (_r((p[0] - o.position[0]) * k), _r((p[1] - o.position[1]) * k))
            if math.hypot(p[0] - o.position[0], p[1] - o.position[1]) * self.scale < CLICK_PX:
                v = (0.0, 0.0)
            self.objects[i] = replace(o, velocity=v)
            self.say(f"objects[{i}] velocity ({v[0]:g}, {v[1]:g}) px/s")

    def _key(self, key) -> bool:
        import pygame

        if pygame.K_1 <= key <= pygame.K_7:
            self.set_material(MATERIAL_NAMES[key - pygame.K_1])
            return True
        actions = {pygame.K_c: lambda: self._set_shape("circle"), pygame.K_b: lambda: self._set_shape("box"),
                   pygame.K_DELETE: self.delete, pygame.K_BACKSPACE: self.delete, pygame.K_x: self.clear,
                   pygame.K_s: self.save, pygame.K_a: self.append, pygame.K_RETURN: self.run,
                   pygame.K_KP_ENTER: self.run, pygame.K_l: self.load}
        if key in actions:
            actions[key]()
            return True
        return False

    def _set_shape(self, shape: str) -> None:
        self.shape = shape
        self.say(f"shape {shape}")

    # ------------------------------------------------------------ drawing

    def _layout(self) -> None:
        import pygame

        b = self.body
        room_w, room_h = b.width - SIDE_W - 3 * PAD, b.height - 2 * PAD
        self.scale = min(room_w / self.base.width, room_h / self.base.height)
        w, h = int(round(self.base.width * self.scale)), int(round(self.base.height * self.scale))
        self.canvas = pygame.Rect(b.x + PAD + (room_w - w) // 2, b.y + PAD + (room_h - h) // 2, w, h)
        self.side = pygame.Rect(b.right - SIDE_W - PAD, b.y + PAD, SIDE_W, b.height - 2 * PAD)
        x, y, bw = self.side.x + 12, self.side.y + 60, SIDE_W - 24
        half = (bw - 8) // 2
        self._shape_rects = {"circle": pygame.Rect(x, y, half, 28), "box": pygame.Rect(x + half + 8, y, half, 28)}
        y += 64
        self._material_rects = {}
        for k, name in enumerate(MATERIAL_NAMES):
            self._material_rects[name] = pygame.Rect(x + (k % 2) * (half + 8), y + (k // 2) * 32, half, 28)
        y += 4 * 32 + 12
        labels = [("delete (del)", self.delete), ("clear (x)", self.clear), ("save JSON (s)", self.save),
                  ("append .jsonl (a)", self.append), ("run (enter)", self.run), ("load compare (l)", self.load)]
        self._action_rects = [(pygame.Rect(x + (k % 2) * (half + 8), y + (k // 2) * 34, half, 28), label, fn)
                              for k, (label, fn) in enumerate(labels)]
        self._info_top = y + 3 * 34 + 8

    def _buttons(self) -> list[tuple[W.Button, object]]:
        out = [(W.Button(r, f"{name} ({name[0]})", on=self.shape == name), (lambda s=name: self._set_shape(s)))
               for name, r in self._shape_rects.items()]
        out += [(W.Button(r, f"{k + 1} {name}", on=self.material == name), (lambda m=name: self.set_material(m)))
                for k, (name, r) in enumerate(self._material_rects.items())]
        out += [(W.Button(r, label), fn) for r, label, fn in self._action_rects]
        return out

    def _canvas(self):
        """The objects drawn by the renderer, selection outlined, as a PIL image (cached until they change)."""
        if self._canvas_cache is None:
            scene = replace(self.base, objects=list(self.objects))
            r = Renderer(scene, self.scale)
            img = r.blank()
            r.draw(img, scene.initial_state())
            if self.selected is not None:
                sel = np.arange(len(self.objects)) == self.selected
                r.draw(img, scene.initial_state(), color=HIGHLIGHT, outline=True, width=2, select=sel)
            self._canvas_cache = img
        return self._canvas_cache

    def _canvas_surface(self):
        """The canvas, plus the outline of the object the current drag would make."""
        img = self._canvas()
        if self.drag is not None and self.drag[0] == "create":
            scene = replace(self.base, objects=[self.candidate(self.drag[1], self.mouse)])
            img = img.copy()
            Renderer(scene, self.scale).draw(img, scene.initial_state(), color=HIGHLIGHT, outline=True, width=2)
        return to_surface(np.asarray(img))

    def _arrow(self, surface, a, b, color) -> None:
        import pygame

        pa, pb = self.to_screen(a), self.to_screen(b)
        if math.dist(pa, pb) < 2:
            return
        pygame.draw.line(surface, color, pa, pb, 2)
        ang = math.atan2(pb[1] - pa[1], pb[0] - pa[0])
        for side in (-0.5, 0.5):
            tip = (pb[0] - 9 * math.cos(ang + side), pb[1] - 9 * math.sin(ang + side))
            pygame.draw.line(surface, color, pb, tip, 2)

    def draw(self, surface) -> None:
        import pygame

        surface.blit(self._canvas_surface(), self.canvas)
        k = self.cfg.velocity_per_px
        for o in self.objects:  # an arrow as long as the drag that set the velocity
            end = (o.position[0] + o.velocity[0] / k, o.position[1] + o.velocity[1] / k)
            self._arrow(surface, o.position, end, VELOCITY)
        if self.drag is not None and self.drag[0] == "velocity":
            self._arrow(surface, self.objects[self.drag[1]].position, self.mouse, HIGHLIGHT)
        W.panel(surface, self.side, "Scene editor", self.theme)
        th = self.theme
        W.text(surface, "shape", (self._shape_rects["circle"].x, self._shape_rects["circle"].y - 18), th.small, W.DIM)
        first = self._material_rects[MATERIAL_NAMES[0]]
        W.text(surface, "material", (first.x, first.y - 18), th.small, W.DIM)
        for button, _ in self._buttons():
            button.draw(surface, th)
        for name, r in self._material_rects.items():
            pygame.draw.rect(surface, MATERIAL_COLORS[name], (r.x + 6, r.centery - 5, 10, 10), border_radius=2)
        sel = "none" if self.selected is None else f"objects[{self.selected}]"
        rows = [f"{len(self.objects)} objects   selected: {sel}"]
        if self.selected is not None:
            rows.append(self._describe(self.objects[self.selected]))
        rows += ["", "left-drag on empty space: new object", "left-click an object: select it",
                 "right-drag from an object: velocity", f"saves to {self.cfg.scenes_dir}/",
                 f"world {self.base.width:g} x {self.base.height:g} px, gravity {self.base.gravity[1]:g} px/s²"]
        box = pygame.Rect(self.side.x + 12, self._info_top, self.side.width - 24, self.side.bottom - self._info_top - 8)
        W.lines(surface, rows, box, th.small, W.TEXT, gap=4)
