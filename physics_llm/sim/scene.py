"""The scene JSON (docs/DESIGN.md "Scene JSON"): dataclasses, load/save, validation.

Units: pixels, seconds, radians; screen coordinates (y down, gravity (0, 981)).
Object order is identity: object i is row i of every array and `o<i>` in text.
Every check names the field and the value ("objects[3].radius must be > 0, got -2").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physics_llm.errors import SceneError
from physics_llm.sim.materials import MATERIALS, Material

VERSION = 1
MAX_OBJECTS = 500  # beyond this a scene is almost surely a mistake (and text prompts explode)
OVERLAP_TOLERANCE = 0.05  # px of penetration still accepted (rounding of hand-made files)

SCENE_KEYS = {"version", "width", "height", "gravity", "dt", "frames", "substeps", "walls", "seed", "tags", "objects"}
OBJECT_KEYS = {"shape", "radius", "size", "material", "position", "velocity", "angle", "angular_velocity"}
WALL_KEYS = {"elasticity", "friction"}
MATERIAL_KEYS = {"density", "friction", "elasticity"}


@dataclass(frozen=True)
class Walls:
    elasticity: float = 0.5
    friction: float = 0.6


@dataclass
class SceneObject:
    shape: str  # "circle" | "box"
    material: str | Material
    position: tuple[float, float]
    velocity: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0
    angular_velocity: float = 0.0
    radius: float | None = None  # circles
    size: tuple[float, float] | None = None  # boxes: (width, height)

    @property
    def mat(self) -> Material:
        return MATERIALS[self.material] if isinstance(self.material, str) else self.material

    @property
    def area(self) -> float:
        if self.shape == "circle":
            return math.pi * self.radius**2
        return self.size[0] * self.size[1]

    @property
    def mass(self) -> float:
        return self.mat.density * self.area

    @property
    def moment(self) -> float:
        """Moment of inertia about the centre (what Pymunk derives from density)."""
        if self.shape == "circle":
            return 0.5 * self.mass * self.radius**2
        w, h = self.size
        return self.mass * (w * w + h * h) / 12.0

    @property
    def bound_radius(self) -> float:
        """Radius of the smallest circle around the shape (for overlap pre-checks)."""
        if self.shape == "circle":
            return self.radius
        return 0.5 * math.hypot(*self.size)

    def extent(self) -> tuple[float, float]:
        """Half-extent in x and y of the shape at its angle."""
        if self.shape == "circle":
            return self.radius, self.radius
        w, h = self.size
        c, s = abs(math.cos(self.angle)), abs(math.sin(self.angle))
        return 0.5 * (w * c + h * s), 0.5 * (w * s + h * c)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"shape": self.shape}
        if self.shape == "circle":
            d["radius"] = self.radius
        else:
            d["size"] = list(self.size)
        d["material"] = self.material if isinstance(self.material, str) else self.material.to_dict()
        d["position"] = list(self.position)
        d["velocity"] = list(self.velocity)
        d["angle"] = self.angle
        d["angular_velocity"] = self.angular_velocity
        return d


@dataclass
class Scene:
    objects: list[SceneObject]
    width: float = 800.0
    height: float = 600.0
    gravity: tuple[float, float] = (0.0, 981.0)
    dt: float = 1.0 / 60.0
    frames: int = 200
    substeps: int = 4
    walls: Walls | None = field(default_factory=Walls)
    seed: int | None = None
    tags: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.objects)

    def masses(self) -> np.ndarray:
        """(N,) float64 masses from materials and shapes."""
        return np.array([o.mass for o in self.objects], dtype=np.float64)

    def moments(self) -> np.ndarray:
        return np.array([o.moment for o in self.objects], dtype=np.float64)

    def initial_state(self) -> np.ndarray:
        """(N, 6) float32: x, y, vx, vy, angle, angular_velocity."""
        from physics_llm.sim.state import wrap_angle

        s = np.array(
            [[*o.position, *o.velocity, o.angle, o.angular_velocity] for o in self.objects], dtype=np.float64
        ).reshape(-1, 6)
        s[:, 4] = wrap_angle(s[:, 4])
        return s.astype(np.float32)

    def to_dict(self) -> dict:
        return {
            "version": VERSION,
            "width": self.width,
            "height": self.height,
            "gravity": list(self.gravity),
            "dt": self.dt,
            "frames": self.frames,
            "substeps": self.substeps,
            "walls": None if self.walls is None else {"elasticity": self.walls.elasticity, "friction": self.walls.friction},
            "seed": self.seed,
            "tags": self.tags,
            "objects": [o.to_dict() for o in self.objects],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: Any, *, check_geometry: bool = True) -> "Scene":
        scene = _parse_scene(d)
        if check_geometry:
            check_scene_geometry(scene)
        return scene

    @classmethod
    def from_json(cls, text: str, *, where: str = "scene") -> "Scene":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise SceneError(f"{where}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
        try:
            return cls.from_dict(d)
        except SceneError as e:
            raise SceneError(f"{where}: {e}") from None


# ---------------------------------------------------------------- parsing helpers


def _num(d: dict, key: str, path: str, *, default: Any = ..., lo: float | None = None, lo_open: bool = False,
         hi: float | None = None, integer: bool = False) -> Any:
    if key not in d:
        if default is ...:
            raise SceneError(f"{path}{key} is missing (add it to the scene file)")
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SceneError(f"{path}{key} must be a number, got {v!r}")
    if not math.isfinite(v):
        raise SceneError(f"{path}{key} must be a finite number, got {v!r}")
    if integer:
        if float(v) != int(v):
            raise SceneError(f"{path}{key} must be a whole number, got {v!r}")
        v = int(v)
    else:
        v = float(v)
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise SceneError(f"{path}{key} must be {'>' if lo_open else '>='} {lo:g}, got {v:g}")
    if hi is not None and v > hi:
        raise SceneError(f"{path}{key} must be <= {hi:g}, got {v:g}")
    return v


def _vec(d: dict, key: str, path: str, *, default: Any = ...) -> tuple[float, float]:
    if key not in d:
        if default is ...:
            raise SceneError(f"{path}{key} is missing (add it as [x, y])")
        return default
    v = d[key]
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise SceneError(f"{path}{key} must be a list of two numbers [x, y], got {v!r}")
    for i, c in enumerate(v):
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c):
            raise SceneError(f"{path}{key}[{i}] must be a finite number, got {c!r}")
    return float(v[0]), float(v[1])


def _unknown(d: dict, allowed: set[str], path: str) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise SceneError(f"{path}{extra[0]} is not a scene field (allowed: {', '.join(sorted(allowed))})")


def _parse_material(v: Any, path: str) -> str | Material:
    if isinstance(v, str):
        if v not in MATERIALS:
            raise SceneError(f"{path} unknown material {v!r} (use one of {', '.join(MATERIALS)} "
                             "or an object {{density, friction, elasticity}})")
        return v
    if isinstance(v, dict):
        _unknown(v, MATERIAL_KEYS, path + ".")
        return Material(
            density=_num(v, "density", path + ".", lo=0, lo_open=True),
            friction=_num(v, "friction", path + ".", lo=0),
            elasticity=_num(v, "elasticity", path + ".", lo=0, hi=1),
        )
    raise SceneError(f"{path} must be a material name or {{density, friction, elasticity}}, got {v!r}")


def _parse_object(o: Any, i: int) -> SceneObject:
    path = f"objects[{i}]."
    if not isinstance(o, dict):
        raise SceneError(f"objects[{i}] must be an object, got {o!r}")
    _unknown(o, OBJECT_KEYS, path)
    shape = o.get("shape")
    if shape not in ("circle", "box"):
        raise SceneError(f"{path}shape must be \"circle\" or \"box\", got {shape!r}")
    radius = size = None
    if shape == "circle":
        radius = _num(o, "radius", path, lo=0, lo_open=True)
        if "size" in o:
            raise SceneError(f"{path}size is for boxes; a circle has radius")
    else:
        size = _vec(o, "size", path)
        for k, c in enumerate(size):
            if c <= 0:
                raise SceneError(f"{path}size[{k}] must be > 0, got {c:g}")
        if "radius" in o:
            raise SceneError(f"{path}radius is for circles; a box has size [w, h]")
    if "material" not in o:
        raise SceneError(f"{path}material is missing (a name such as \"wood\" or {{density, friction, elasticity}})")
    return SceneObject(
        shape=shape,
        radius=radius,
        size=size,
        material=_parse_material(o["material"], path + "material"),
        position=_vec(o, "position", path),
        velocity=_vec(o, "velocity", path, default=(0.0, 0.0)),
        angle=_num(o, "angle", path, default=0.0),
        angular_velocity=_num(o, "angular_velocity", path, default=0.0),
    )


def _parse_scene(d: Any) -> Scene:
    if not isinstance(d, dict):
        raise SceneError(f"a scene must be a JSON object, got {type(d).__name__}")
    _unknown(d, SCENE_KEYS, "")
    version = d.get("version", VERSION)
    if version != VERSION:
        raise SceneError(f"version must be {VERSION}, got {version!r}")
    walls_raw = d.get("walls", {})
    walls = None
    if walls_raw is not None:
        if not isinstance(walls_raw, dict):
            raise SceneError(f"walls must be {{elasticity, friction}} or null, got {walls_raw!r}")
        _unknown(walls_raw, WALL_KEYS, "walls.")
        walls = Walls(
            elasticity=_num(walls_raw, "elasticity", "walls.", default=0.5, lo=0, hi=1),
            friction=_num(walls_raw, "friction", "walls.", default=0.6, lo=0),
        )
    seed = d.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SceneError(f"seed must be a whole number or null, got {seed!r}")
    tags = d.get("tags", {})
    if not isinstance(tags, dict):
        raise SceneError(f"tags must be an object, got {tags!r}")
    objs = d.get("objects")
    if not isinstance(objs, list):
        raise SceneError("objects is missing or not a list (add \"objects\": [...])")
    if not objs:
        raise SceneError("objects is empty (a scene needs at least one object)")
    if len(objs) > MAX_OBJECTS:
        raise SceneError(f"objects has {len(objs)} entries; at most {MAX_OBJECTS} are allowed")
    return Scene(
        objects=[_parse_object(o, i) for i, o in enumerate(objs)],
        width=_num(d, "width", "", default=800.0, lo=0, lo_open=True),
        height=_num(d, "height", "", default=600.0, lo=0, lo_open=True),
        gravity=_vec(d, "gravity", "", default=(0.0, 981.0)),
        dt=_num(d, "dt", "", default=1.0 / 60.0, lo=0, lo_open=True, hi=1.0),
        frames=_num(d, "frames", "", default=200, lo=2, hi=100_000, integer=True),
        substeps=_num(d, "substeps", "", default=4, lo=1, hi=100, integer=True),
        walls=walls,
        seed=seed,
        tags=tags,
    )


# ---------------------------------------------------------------- geometry


def check_scene_geometry(scene: Scene) -> None:
    """Every object inside the world and no two objects overlapping (beyond OVERLAP_TOLERANCE)."""
    for i, o in enumerate(scene.objects):
        ex, ey = o.extent()
        x, y = o.position
        if x - ex < -OVERLAP_TOLERANCE or x + ex > scene.width + OVERLAP_TOLERANCE or \
                y - ey < -OVERLAP_TOLERANCE or y + ey > scene.height + OVERLAP_TOLERANCE:
            raise SceneError(
                f"objects[{i}].position {list(o.position)} puts the {o.shape} outside the "
                f"{scene.width:g}x{scene.height:g} world (move it inside or make it smaller)")
    pairs = overlapping_pairs(scene)
    if pairs:
        i, j, depth = pairs[0]
        raise SceneError(f"objects[{i}] and objects[{j}] overlap by {depth:.2f} px "
                         f"(move one of them; {len(pairs)} overlapping pair(s) in all)")


def overlapping_pairs(scene: Scene, tolerance: float = OVERLAP_TOLERANCE) -> list[tuple[int, int, float]]:
    """(i, j, depth) for every pair of objects that penetrate by more than `tolerance` px."""
    import pymunk

    pos = np.array([o.position for o in scene.objects], dtype=np.float64)
    rad = np.array([o.bound_radius for o in scene.objects])
    d = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    cand = np.argwhere(np.triu(d < rad[:, None] + rad[None, :] - tolerance, k=1))
    if len(cand) == 0:
        return []
    from physics_llm.sim.simulate import make_shape

    shapes: dict[int, Any] = {}

    def shape(k: int):
        if k not in shapes:
            o = scene.objects[k]
            body = pymunk.Body(1.0, 1.0)
            body.position = o.position
            body.angle = o.angle
            shapes[k] = make_shape(body, o)
            shapes[k].cache_bb()
        return shapes[k]

    out = []
    for i, j in cand:
        if scene.objects[i].shape == "circle" and scene.objects[j].shape == "circle":
            depth = scene.objects[i].radius + scene.objects[j].radius - d[i, j]
        else:
            try:
                cs = shape(i).shapes_collide(shape(j))
            except AssertionError:
                # Pymunk 7 asserts on a contact set of 0 points, which means "not touching".
                continue
            depth = max((-p.distance for p in cs.points), default=0.0)
        if depth > tolerance:
            out.append((int(i), int(j), float(depth)))
    return out


# ---------------------------------------------------------------- files


def load_scene(path: str | Path) -> Scene:
    p = Path(path)
    if not p.exists():
        raise SceneError(f"{p}: no such scene file")
    return Scene.from_json(p.read_text(), where=str(p))


def save_scene(scene: Scene, path: str | Path) -> None:
    from physics_llm.io import atomic_write_text

    atomic_write_text(path, json.dumps(scene.to_dict(), indent=1) + "\n")


def load_scenes_jsonl(path: str | Path) -> list[Scene]:
    """A scenes file: one scene JSON per line (blank lines skipped). Errors name the line.

    Lines written by `physics-llm data export-jsonl` ({"scene": {...}, "frames": ...}) are read
    too: their "scene" is taken (the frames are its simulation, so nothing is lost).
    """
    p = Path(path)
    if not p.exists():
        raise SceneError(f"{p}: no such scenes file")
    scenes = []
    for k, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{p} line {k}"
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise SceneError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        if isinstance(d, dict) and "objects" not in d and isinstance(d.get("scene"), dict):
            d = d["scene"]
        try:
            scenes.append(Scene.from_dict(d))
        except SceneError as e:
            raise SceneError(f"{where}: {e}") from None
    if not scenes:
        raise SceneError(f"{p}: no scenes in the file (expected one scene JSON per line)")
    return scenes
