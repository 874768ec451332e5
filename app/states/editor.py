"""Editor screen: draw a scene by mouse, check it with the scene validation, save it, run it.

Left-drag on empty space makes a body of the current shape and material (circle: centre
at the press, radius to the release; box: corner to corner; a click: a default size).
Press on a body to select it; drag it to move it; drag its round handle to rotate it and
its square handle to resize it (keys: r / shift+r rotate 15 degrees, + / - resize 10%,
arrows nudge). Right-drag from a body sets its velocity (velocity_per_px px/s per px).
The shape (c, b) and material (1-7) keys set what the next body will be; shift+1-7 gives
the selected body that material. Every edit, the world settings (gravity, walls) and
loading a preset, a file or the compare screen's scene included, can be undone (ctrl+z)
and redone (ctrl+shift+z or ctrl+y). Every edit goes through Scene.from_dict, so a body
that overlaps another or leaves the world is refused with the validation's message
(a refused move snaps back). Enter runs the scene on the compare screen at once.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from app import widgets as W
from app.scenefiles import append_jsonl, save_numbered
from app.states.base import Shared, State
from physics_llm.errors import SceneError, UserError
from physics_llm.render import MATERIAL_COLORS, Renderer, to_surface
from physics_llm.sim.materials import MATERIALS
from physics_llm.sim.scene import Scene, SceneObject, Walls

MATERIAL_NAMES = list(MATERIALS)  # keys 1-7 in this order
DEFAULT_RADIUS, DEFAULT_BOX = 15.0, 30.0  # a click without a drag
MIN_RADIUS, MIN_SIDE = 3.0, 4.0  # smaller shapes are hard to see and to hit at the default scale
CLICK_PX = 4  # screen px a press may move and still count as a click
HANDLE_PX = 7  # screen px: the radius of a handle and how close a press must be
ROTATE_STEP = math.radians(15)
SCALE_STEP = 1.1
SIDE_W, PAD, ROW = 320, 12, 32
HIGHLIGHT = (255, 255, 255)
VELOCITY = (250, 210, 90)
GRAVITIES = [981.0, 0.0, 490.5, 1962.0, -981.0]  # px/s^2 down (981: 1 g at 100 px per metre)
WALLS = [("e 0.5", Walls()), ("e 0.9", Walls(elasticity=0.9)), ("e 0.1", Walls(elasticity=0.1)), ("none", None)]


def presets() -> list[str]:
    """Where a new scene can start from: the 5 curriculum stages and the 8 OOD suites."""
    from physics_llm.sim.ood import OOD_SUITES

    return [f"stage {k}" for k in range(1, 6)] + [f"ood:{k}" for k in OOD_SUITES]


def preset_scene(name: str, seed: int) -> Scene:
    from physics_llm.sim.generate import random_scene
    from physics_llm.sim.ood import ood_scene

    if name.startswith("stage "):
        return random_scene(seed, stage=int(name.split()[1]))
    return ood_scene(name.partition(":")[2], seed)


def _r(v: float) -> float:
    return round(float(v), 1)  # 0.1 px keeps the JSON short; validation sees the rounded value


def _ra(v: float) -> float:
    """An angle rounded to 1e-4 rad and wrapped to (-pi, pi]."""
    a = math.atan2(math.sin(v), math.cos(v))
    return round(a, 4)


class EditorState(State):
    name = "editor"
    hints = ("drag: new body / move it  handles: rotate, resize  c/b 1-7: next body  shift+1-7: selected's "
             "material  right-drag: velocity  del  x clear  ctrl+z/y undo/redo  s a save  o open  p preset  "
             "enter run")

    def __init__(self, shared: Shared):
        super().__init__(shared)
        self.base = Scene(objects=[], tags={"source": "editor"})  # world settings: size, gravity, walls, dt
        self.objects: list[SceneObject] = []
        self.shape = "circle"
        self.material = "wood"
        self.selected: int | None = None
        self.drag: tuple | None = None  # (kind, index or press point, the scene before the drag)
        self.mouse = (0.0, 0.0)  # world xy under the mouse
        self.confirm_clear = False
        self.files: W.ListPicker | None = None  # the open-file list while it is open
        self._file_items: list[tuple[Path, int | None]] = []
        self._undo: list[tuple] = []
        self._redo: list[tuple] = []
        self.preset_seed = 0
        self._canvas_cache = None
        self._saved = self._snapshot()
        self._layout()

    # ------------------------------------------------------------ the scene and its history

    def scene(self) -> Scene:
        """The drawn scene, validated (SceneError if it has no objects)."""
        return Scene.from_dict(replace(self.base, objects=list(self.objects)).to_dict())

    def to_json(self) -> str:
        """The scene being drawn as JSON text (valid or not)."""
        return replace(self.base, objects=list(self.objects)).to_json()

    _snapshot = to_json

    @property
    def dirty(self) -> bool:
        """Objects drawn since the last save (s) or append (a): quitting asks first."""
        return bool(self.objects) and self._snapshot() != self._saved

    def _state(self) -> tuple:
        return (list(self.objects), self.base)

    def _restore(self, st: tuple) -> None:
        self.objects, self.base = list(st[0]), st[1]
        if self.selected is not None and self.selected >= len(self.objects):
            self.selected = None
        self._changed()

    def _commit(self, before: tuple, message: str) -> None:
        """One edit happened (the state before it is `before`): undoable from now on."""
        self._undo.append(before)
        self._redo.clear()
        self._changed()
        self.say(message)

    def undo(self) -> None:
        if self._travel(self._undo, self._redo, "undo"):
            self.say(f"undone ({len(self._undo)} more to undo, {len(self._redo)} to redo)")

    def redo(self) -> None:
        if self._travel(self._redo, self._undo, "redo"):
            self.say(f"redone ({len(self._redo)} more to redo)")

    def _travel(self, back: list, forth: list, what: str) -> bool:
        """Undo or redo: the newest state of `back` comes back, the current one goes on `forth`."""
        if not back:
            self.say(f"nothing to {what}")
            return False
        forth.append(self._state())
        self._restore(back.pop())
        return True

    def _check(self, objects: list[SceneObject], base: Scene | None = None) -> str | None:
        """None if these objects make a valid scene, else the validation's message."""
        try:
            Scene.from_dict(replace(base or self.base, objects=objects).to_dict())
        except SceneError as e:
            return str(e)
        return None

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
        problem = self._check(self.objects + [obj])
        if problem:
            self.say(f"refused: {problem}", error=True)
            return False
        before = self._state()
        self.objects.append(obj)
        self.selected = len(self.objects) - 1
        self._commit(before, f"added objects[{self.selected}]: {self._describe(obj)}")
        return True

    def change(self, i: int, obj: SceneObject, what: str, before: tuple | None = None) -> bool:
        """Replace objects[i] if the scene stays valid (else it stays as `before` had it, and says why)."""
        before = before or self._state()
        objects = list(before[0])
        objects[i] = obj
        problem = self._check(objects)
        if problem:
            self._restore(before)
            self.say(f"refused: {problem}", error=True)
            return False
        self.objects = objects
        self._commit(before, f"{what} objects[{i}]: {self._describe(obj)}")
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
                f"{math.degrees(o.angle):.0f}°, v ({o.velocity[0]:g}, {o.velocity[1]:g})")

    def _changed(self) -> None:
        self._canvas_cache = None

    def set_material(self, name: str) -> None:
        """The material of the next body (the selection keeps its own)."""
        self.material = name
        self.say(f"next body: {self.shape}, {name}")

    def material_of_selected(self, name: str) -> None:
        if self.selected is None:
            self.say("select a body first (click it), then shift+1-7", error=True)
            return
        self.change(self.selected, replace(self.objects[self.selected], material=name), "material of")

    def delete(self) -> None:
        if self.selected is None:
            self.say("nothing selected: click an object first", error=True)
            return
        before = self._state()
        i = self.selected
        o = self.objects.pop(i)
        self.selected = self.drag = None
        self._commit(before, f"deleted objects[{i}] ({o.shape}); ctrl+z brings it back")

    def clear(self) -> None:
        """Ask first (x again or y clears, any other key keeps the scene)."""
        if not self.objects:
            self.say("the scene is already empty")
            return
        self.confirm_clear = True
        self.say(f"clear all {len(self.objects)} objects? y or x: clear (ctrl+z undoes it), any other key: keep",
                 error=True)

    def clear_now(self) -> None:
        before = self._state()
        self.objects, self.selected, self.drag, self.confirm_clear = [], None, None, False
        self._commit(before, "cleared (ctrl+z undoes it)")

    def rotate(self, d: float) -> None:
        if self.selected is not None:
            o = self.objects[self.selected]
            self.change(self.selected, replace(o, angle=_ra(o.angle + d)), "rotated")

    def scale_selected(self, f: float) -> None:
        if self.selected is not None:
            self.change(self.selected, self._scaled(self.objects[self.selected], f), "resized")

    def nudge(self, dx: float, dy: float) -> None:
        if self.selected is not None:
            o = self.objects[self.selected]
            self.change(self.selected, replace(o, position=(_r(o.position[0] + dx), _r(o.position[1] + dy))), "moved")

    @staticmethod
    def _scaled(o: SceneObject, f: float) -> SceneObject:
        if o.shape == "circle":
            return replace(o, radius=_r(max(MIN_RADIUS, o.radius * f)))
        return replace(o, size=(_r(max(MIN_SIDE, o.size[0] * f)), _r(max(MIN_SIDE, o.size[1] * f))))

    def set_world(self, gravity: float | None = None, walls: str | None = None) -> None:
        """Gravity (px/s^2 down) or the walls (a WALLS label): an undoable edit."""
        before = self._state()
        base = self.base
        if gravity is not None:
            base = replace(base, gravity=(0.0, float(gravity)))
        if walls is not None:
            base = replace(base, walls=dict(WALLS)[walls])
        self.base = base
        g = self.base.gravity[1]
        self._commit(before, f"world: gravity {g:g} px/s², walls {self._walls_label()}")

    def _walls_label(self) -> str:
        for label, w in WALLS:
            if w == self.base.walls:
                return label
        w = self.base.walls
        return "none" if w is None else f"e {w.elasticity:g}"

    def load_scene(self, scene: Scene, what: str) -> None:
        """Edit `scene` (its world settings and objects); undoable."""
        before = self._state()
        self.base = replace(scene, objects=[], seed=None, tags={"source": "editor", "from": what})
        self.objects = [replace(o) for o in scene.objects]
        self.selected = None
        self._layout()
        self._commit(before, f"loaded {what}: {len(self.objects)} objects (ctrl+z goes back)")
        self._saved = self._snapshot()  # nothing of the user's own is unsaved until the next edit

    def new_from_preset(self) -> None:
        name = self.preset.value
        self.preset_seed += 1
        try:
            scene = preset_scene(name, self.preset_seed)
        except UserError as e:
            self.say(str(e), error=True)
            return
        self.load_scene(scene, f"{name} seed {self.preset_seed}")

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
        self.load_scene(scene, "the compare screen's scene")

    # ------------------------------------------------------------ scene files

    def scene_files(self) -> list[tuple[Path, int | None]]:
        """Scene files under scenes_dir: each .json, and each line of each .jsonl (path, line index)."""
        from physics_llm.sim.scene import load_scenes_jsonl

        out: list[tuple[Path, int | None]] = []
        root = Path(self.cfg.scenes_dir)
        for p in sorted(root.glob("*.json")) + sorted(root.glob("*/*.json")):
            out.append((p, None))
        for p in sorted(root.glob("*.jsonl")):
            try:
                n = len(load_scenes_jsonl(p))
            except UserError:
                continue
            out += [(p, k) for k in range(n)]
        return out

    def open_files(self) -> None:
        items = self.scene_files()
        if not items:
            self.say(f"no scene files in {self.cfg.scenes_dir}/ yet: save one (s) or append one (a), or drop a "
                     "scene file on the window", error=True)
            return
        root = Path(self.cfg.scenes_dir)
        self._show_files(items, root)
        self.say(f"open a scene from {root}/ (or drop any scene file on the window): click it, or Up/Down and "
                 "Enter; Esc closes the list")

    def _show_files(self, items: list[tuple[Path, int | None]], root: Path) -> None:
        """The open-file list of `items` (path, line of a .jsonl or None), named relative to root."""
        import pygame

        self._file_items = items
        c = self.canvas
        self.files = W.ListPicker(pygame.Rect(c.x + 20, c.y + 20, c.width - 40, min(c.height - 40,
                                                                                   26 * len(items) + 12)), row_h=26)
        self.files.set_items([f"{p.relative_to(root)}" + ("" if k is None else f"  #{k + 1}") for p, k in items], 0)

    def open_path(self, path: str | Path) -> None:
        """A scene file from anywhere (one dropped on the window): a scene JSON opens at once, a scenes
        JSONL lists its scenes (or opens its only one). A file that is not a scene says why."""
        from physics_llm.sim.scene import load_scenes_jsonl

        path = Path(path)
        if path.suffix.lower() != ".jsonl":
            self.open_file(path, None)
            return
        try:
            n = len(load_scenes_jsonl(path))
        except UserError as e:
            self.say(str(e), error=True)
            return
        if n == 1:
            self.open_file(path, 0)
            return
        self._show_files([(path, k) for k in range(n)], path.parent)
        self.say(f"{path.name} holds {n} scenes: click one, or Up/Down and Enter; Esc closes the list")

    def open_file(self, path: Path, line: int | None) -> None:
        from physics_llm.sim.scene import load_scene, load_scenes_jsonl

        try:
            scene = load_scene(path) if line is None else load_scenes_jsonl(path)[line]
        except UserError as e:
            self.say(str(e), error=True)
            return
        self.load_scene(scene, f"{path.name}" + ("" if line is None else f" #{line + 1}"))

    # ------------------------------------------------------------ events

    def to_world(self, pos) -> tuple[float, float]:
        return (pos[0] - self.canvas.x) / self.scale, (pos[1] - self.canvas.y) / self.scale

    def to_screen(self, p) -> tuple[int, int]:
        return int(round(self.canvas.x + p[0] * self.scale)), int(round(self.canvas.y + p[1] * self.scale))

    def handles(self, i: int) -> dict[str, tuple[float, float]]:
        """The selected body's handles in world px: "rotate" (round, beyond its top) and "resize" (square)."""
        o = self.objects[i]
        c, s = math.cos(o.angle), math.sin(o.angle)
        gap = 16 / self.scale
        if o.shape == "circle":
            top, corner = (0.0, -(o.radius + gap)), (o.radius * math.sqrt(0.5), o.radius * math.sqrt(0.5))
        else:
            top, corner = (0.0, -(o.size[1] / 2 + gap)), (o.size[0] / 2, o.size[1] / 2)

        def world(u, v):
            return o.position[0] + c * u - s * v, o.position[1] + s * u + c * v

        return {"rotate": world(*top), "resize": world(*corner)}

    def get_event(self, event) -> bool:
        import pygame

        if self.files is not None:
            return self._files_event(event)
        if event.type == pygame.MOUSEMOTION:
            self.mouse = self.to_world(event.pos)
            if self.drag is not None:
                self._drag_to(self.mouse)
                return True
            return False
        if event.type == pygame.MOUSEBUTTONDOWN:
            if self.confirm_clear:
                self.confirm_clear = False
                self.say("kept the scene")
            for widget, action in self._widgets():
                if widget.handle(event):
                    action()
                    return True
            if self.canvas.collidepoint(event.pos) or self._handle_at(event.pos):
                return self._press(event.button, self.to_world(event.pos), event.pos)
            return False
        if event.type == pygame.MOUSEBUTTONUP and self.drag is not None:
            self.mouse = self.to_world(event.pos)
            self._release(event.button, self.mouse)
            return True
        if event.type == pygame.KEYDOWN:
            return self._key(event)
        return False

    def _files_event(self, event) -> bool:
        return W.modal_list_event(self, "files", event, lambda i: self.open_file(*self._file_items[i]))

    def _handle_at(self, pos) -> str | None:
        if self.selected is None:
            return None
        for name, p in self.handles(self.selected).items():
            if math.dist(pos, self.to_screen(p)) <= HANDLE_PX + 2:
                return name
        return None

    def _press(self, button: int, p, pos) -> bool:
        before = self._state()
        handle = self._handle_at(pos) if button == 1 else None
        if handle is not None:
            self.drag = (handle, self.selected, before)
            return True
        i = self.hit(p)
        if button == 1:
            if i is not None:
                self.selected = i
                self._changed()
                self.drag = ("move", i, before, p)
                self.say(f"selected objects[{i}]: {self._describe(self.objects[i])}")
            else:
                if self.selected is not None:
                    self.selected = None
                    self._changed()
                self.drag = ("create", p, before)
            return True
        if button == 3:
            if i is None:
                self.say("right-drag from an object to set its velocity", error=True)
            else:
                self.selected = i
                self._changed()
                self.drag = ("velocity", i, before)
            return True
        return False

    def _dragged(self, i: int, p) -> SceneObject:
        """What objects[i] becomes for a move, rotate or resize drag to world point p (from the drag's start)."""
        kind, before = self.drag[0], self.drag[2]
        o = before[0][i]
        if kind == "move":
            a = self.drag[3]
            return replace(o, position=(_r(o.position[0] + p[0] - a[0]), _r(o.position[1] + p[1] - a[1])))
        dx, dy = p[0] - o.position[0], p[1] - o.position[1]
        if kind == "rotate":
            return replace(o, angle=_ra(math.atan2(dy, dx) + math.pi / 2))
        c, s = math.cos(o.angle), math.sin(o.angle)
        u, v = c * dx + s * dy, -s * dx + c * dy
        if o.shape == "circle":
            return replace(o, radius=_r(max(MIN_RADIUS, math.hypot(dx, dy))))
        return replace(o, size=(_r(max(MIN_SIDE, 2 * abs(u))), _r(max(MIN_SIDE, 2 * abs(v)))))

    def _drag_to(self, p) -> None:
        """Live feedback: a moved, rotated or resized body follows the mouse (validated on release)."""
        kind = self.drag[0]
        if kind in ("move", "rotate", "resize"):
            i = self.drag[1]
            self.objects[i] = self._dragged(i, p)
            self._changed()

    def _release(self, button: int, p) -> None:
        kind, before = self.drag[0], self.drag[2]
        if kind == "create" and button == 1:
            start = self.drag[1]
            self.drag = None
            self.add(self.candidate(start, p))
        elif kind in ("move", "rotate", "resize") and button == 1:
            i = self.drag[1]
            obj = self._dragged(i, p)
            self.drag = None
            if obj == before[0][i]:  # a click: the selection only
                self._restore(before)
                return
            self.change(i, obj, {"move": "moved", "rotate": "rotated", "resize": "resized"}[kind], before)
        elif kind == "velocity" and button == 3:
            i = self.drag[1]
            self.drag = None
            o = self.objects[i]
            k = self.cfg.velocity_per_px
            v = (_r((p[0] - o.position[0]) * k), _r((p[1] - o.position[1]) * k))
            if math.hypot(p[0] - o.position[0], p[1] - o.position[1]) * self.scale < CLICK_PX:
                v = (0.0, 0.0)
            self.change(i, replace(o, velocity=v), "velocity of", before)

    def _key(self, event) -> bool:
        import pygame

        key, mod = event.key, event.mod
        ctrl, shift = bool(mod & pygame.KMOD_CTRL), bool(mod & pygame.KMOD_SHIFT)
        if self.confirm_clear:
            self.confirm_clear = False
            if key in (pygame.K_y, pygame.K_x):
                self.clear_now()
            else:
                self.say("kept the scene")
            return True
        if key == pygame.K_ESCAPE and self.drag is not None:
            self._restore(self.drag[2])
            self.drag = None
            self.say("cancelled")
            return True
        if ctrl and key == pygame.K_z:
            self.redo() if shift else self.undo()
            return True
        if ctrl and key == pygame.K_y:
            self.redo()
            return True
        if pygame.K_1 <= key <= pygame.K_7:
            name = MATERIAL_NAMES[key - pygame.K_1]
            self.material_of_selected(name) if shift else self.set_material(name)
            return True
        step = 10.0 if shift else 1.0

        def grow():
            self.scale_selected(SCALE_STEP)

        def shrink():
            self.scale_selected(1 / SCALE_STEP)

        actions = {pygame.K_c: lambda: self._set_shape("circle"), pygame.K_b: lambda: self._set_shape("box"),
                   pygame.K_DELETE: self.delete, pygame.K_BACKSPACE: self.delete, pygame.K_x: self.clear,
                   pygame.K_s: self.save, pygame.K_a: self.append, pygame.K_RETURN: self.run,
                   pygame.K_KP_ENTER: self.run, pygame.K_l: self.load, pygame.K_o: self.open_files,
                   pygame.K_p: self.new_from_preset,
                   pygame.K_r: lambda: self.rotate(-ROTATE_STEP if shift else ROTATE_STEP),
                   pygame.K_EQUALS: grow, pygame.K_PLUS: grow, pygame.K_KP_PLUS: grow,
                   pygame.K_MINUS: shrink, pygame.K_KP_MINUS: shrink,
                   pygame.K_LEFT: lambda: self.nudge(-step, 0), pygame.K_RIGHT: lambda: self.nudge(step, 0),
                   pygame.K_UP: lambda: self.nudge(0, -step), pygame.K_DOWN: lambda: self.nudge(0, step)}
        if key in actions and not ctrl:
            actions[key]()
            return True
        return False

    def _set_shape(self, shape: str) -> None:
        self.shape = shape
        self.say(f"next body: {shape}, {self.material}")

    # ------------------------------------------------------------ drawing

    def _layout(self) -> None:
        import pygame

        b = self.body
        room_w, room_h = b.width - SIDE_W - 3 * PAD, b.height - 2 * PAD
        self.scale = min(room_w / self.base.width, room_h / self.base.height)
        w, h = int(round(self.base.width * self.scale)), int(round(self.base.height * self.scale))
        self.canvas = pygame.Rect(b.x + PAD + (room_w - w) // 2, b.y + PAD + (room_h - h) // 2, w, h)
        self.side = pygame.Rect(b.right - SIDE_W - PAD, b.y + PAD, SIDE_W, b.height - 2 * PAD)
        x, bw = self.side.x + 12, SIDE_W - 24
        half, third = (bw - 8) // 2, (bw - 16) // 3

        def cell(row_y, col, cols=3, span=1):
            cw = third if cols == 3 else half
            return pygame.Rect(x + col * (cw + 8), row_y, span * cw + (span - 1) * 8, 28)

        y = self.side.y + 56
        self._labels = [("next body: shape", y - 17)]
        self._shape_rects = {"circle": cell(y, 0, 2), "box": cell(y, 1, 2)}
        y += ROW + 18
        self._labels.append(("material (shift+1-7: the selected body's)", y - 17))
        self._material_rects = {name: cell(y + (k // 3) * ROW, k % 3) for k, name in enumerate(MATERIAL_NAMES)}
        y += 3 * ROW + 18
        self._labels.append(("world · start from a stage or an OOD suite", y - 17))
        g = self.base.gravity[1]
        self.gravity = W.Choice(cell(y, 0, 2), "gravity", [f"{v:g}" for v in GRAVITIES],
                                index=GRAVITIES.index(g) if g in GRAVITIES else 0)
        labels = [label for label, _ in WALLS]
        self.walls = W.Choice(cell(y, 1, 2), "walls", labels, index=labels.index(self._walls_label())
                              if self._walls_label() in labels else 0)
        y += ROW
        old = getattr(self, "preset", None)
        self.preset = W.Choice(cell(y, 0, 3, span=2), "from", presets(), index=old.index if old else 0)
        self._preset_button = cell(y, 2)
        y += ROW + 6
        actions = [("undo ^z", self.undo), ("redo ^y", self.redo), ("delete", self.delete),
                   ("clear (x)", self.clear), ("save (s)", self.save), ("append (a)", self.append),
                   ("run (enter)", self.run), ("compare's (l)", self.load), ("open (o)", self.open_files)]
        self._action_rects = [(cell(y + (k // 3) * ROW, k % 3), label, fn) for k, (label, fn) in enumerate(actions)]
        self._info_top = y + 3 * ROW + 4

    def resize(self) -> None:
        self.files = None  # a list laid out for the old size
        self._layout()
        self._changed()  # the canvas is drawn at the new scale

    def _cycle_gravity(self) -> None:
        self.set_world(gravity=float(self.gravity.value))

    def _cycle_walls(self) -> None:
        self.set_world(walls=self.walls.value)

    def _widgets(self) -> list[tuple[object, object]]:
        """(widget, action) for every control in the side panel."""
        out = [(W.Button(r, f"{name}  ({name[0]})", on=self.shape == name), (lambda s=name: self._set_shape(s)))
               for name, r in self._shape_rects.items()]
        out += [(W.Button(r, f"   {k + 1} {name}", on=self.material == name), (lambda m=name: self.set_material(m)))
                for k, (name, r) in enumerate(self._material_rects.items())]
        out += [(self.gravity, self._cycle_gravity), (self.walls, self._cycle_walls), (self.preset, lambda: None),
                (W.Button(self._preset_button, "new (p)"), self.new_from_preset)]
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

        th = self.theme
        surface.blit(self._canvas_surface(), self.canvas)
        clip = surface.get_clip()
        surface.set_clip(self.canvas.inflate(2 * HANDLE_PX + 4, 2 * HANDLE_PX + 4))  # arrows stay off the side panel
        k = self.cfg.velocity_per_px
        for o in self.objects:  # an arrow as long as the drag that set the velocity
            end = (o.position[0] + o.velocity[0] / k, o.position[1] + o.velocity[1] / k)
            self._arrow(surface, o.position, end, VELOCITY)
        if self.drag is not None and self.drag[0] == "velocity":
            self._arrow(surface, self.objects[self.drag[1]].position, self.mouse, HIGHLIGHT)
        if self.selected is not None and self.selected < len(self.objects):
            hs = self.handles(self.selected)
            centre = self.to_screen(self.objects[self.selected].position)
            rot = self.to_screen(hs["rotate"])
            pygame.draw.line(surface, HIGHLIGHT, centre, rot, 1)
            pygame.draw.circle(surface, HIGHLIGHT, rot, HANDLE_PX, 2)
            rs = self.to_screen(hs["resize"])
            pygame.draw.rect(surface, HIGHLIGHT, (rs[0] - HANDLE_PX + 2, rs[1] - HANDLE_PX + 2, 2 * HANDLE_PX - 4,
                                                  2 * HANDLE_PX - 4), 2)
        surface.set_clip(clip)
        W.panel(surface, self.side, "Scene editor", th)
        g = self.base.gravity[1]  # the world choices show the scene's settings (after an undo too)
        if g in GRAVITIES:
            self.gravity.index = GRAVITIES.index(g)
        walls = [label for label, _ in WALLS]
        if self._walls_label() in walls:
            self.walls.index = walls.index(self._walls_label())
        for label, y in self._labels:
            W.text(surface, label, (self.side.x + 12, y), th.small, W.DIM, SIDE_W - 24)
        for widget, _ in self._widgets():
            widget.draw(surface, th)
        for name, r in self._material_rects.items():
            pygame.draw.rect(surface, MATERIAL_COLORS[name], (r.x + 6, r.centery - 5, 10, 10), border_radius=2)
        sel = "none" if self.selected is None else f"objects[{self.selected}]"
        rows = [f"{len(self.objects)} objects   selected: {sel}   {'unsaved' if self.dirty else 'saved'}"]
        if self.selected is not None and self.selected < len(self.objects):
            rows.append(self._describe(self.objects[self.selected]))
        rows += [f"undo {len(self._undo)}  redo {len(self._redo)}   saves to {self.cfg.scenes_dir}/",
                 f"world {self.base.width:g} x {self.base.height:g} px, gravity {self.base.gravity[1]:g} px/s²"]
        box = pygame.Rect(self.side.x + 12, self._info_top, self.side.width - 24,
                          self.side.bottom - self._info_top - 8)
        W.lines(surface, rows, box, th.small, W.TEXT, gap=3)
        if self.files is not None:
            W.panel(surface, self.files.rect.inflate(8, 8))
            self.files.draw(surface, th)
