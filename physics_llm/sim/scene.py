"""The scene JSON (docs/DESIGN.md "Scene JSON"): dataclasses, load/save, validation.

Units: pixels, seconds, radians; screen coordinates (y down, gravity (0, 981)).
Object order is identity: object i is row i of every array and `o<i>` in text.
Every check names the field and the value ("objects[3].radius must be > 0, got -2").

Bounds (far beyond anything the generators and OOD suites make, shown in brackets; a value
outside them is refused, because Pymunk turns it into inf/NaN or runs without end):

    width, height        (0, 100000] px                       [800 x 600]
    radius, box sides    >= 0.1 px (and inside the world)     [3-50 px]
    velocity             |vx|, |vy| <= 100000 px/s            [<= 800]
    angle                |angle| <= 1000000 rad               [<= pi]
    angular_velocity     |w| <= 1000 rad/s                    [<= 6]
    gravity              |gx|, |gy| <= 100000 px/s^2          [<= 2453]
    density              1e-6 .. 1e6 per px^2                 [0.005-300]
    friction             0 .. 100 (objects and walls)         [0-3]
    elasticity           0 .. 1                               [0-0.99]
    dt                   1e-6 .. 1 s                          [1/60]
    frames               2 .. 100000; objects x frames <= 5000000 (the arrays' memory) and
                         objects x frames x substeps <= 100000000 (the stepping time)  [200]
    substeps             1 .. 100                             [4]
    objects              1 .. 500                             [1-100]
    seed                 null or 0 .. 2**64 - 1
    tags                 an object of at most 65536 bytes as JSON
    a scene file         at most 16 MiB; a scenes JSONL file at most 100000 scenes

Simulation (simulate.py) checks the frame limits again for an explicit frame count and
fails with a UserError if a trajectory still turns non-finite.
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
# Bounds (module docstring); documented in README "Formats".
MAX_WORLD = 100_000.0  # px, width and height
MIN_SIZE = 0.1  # px, radius and box sides
MAX_SPEED = 100_000.0  # px/s, each velocity component
MAX_ANGLE = 1_000_000.0  # rad
MAX_SPIN = 1_000.0  # rad/s
MAX_GRAVITY = 100_000.0  # px/s^2, each component
DENSITY_RANGE = (1e-6, 1e6)
MAX_FRICTION = 100.0
MIN_DT = 1e-6  # s
MAX_FRAMES = 100_000
MAX_SUBSTEPS = 100
MAX_OBJECT_FRAMES = 5_000_000  # objects x frames: 120 MB of float32 states (and twice that while stepping)
MAX_BODY_STEPS = 100_000_000  # objects x frames x substeps: about 2-3 minutes of stepping
MAX_SEED = 2**64 - 1
MAX_TAGS_BYTES = 65_536
MAX_SCENE_FILE_BYTES = 16 << 20
MAX_SCENES_IN_FILE = 100_000
MAX_JSONL_LINE_BYTES = 256 << 20  # an export-jsonl line carries the frames too

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
            "walls": (None if self.walls is None
                      else {"elasticity": self.walls.elasticity, "friction": self.walls.friction}),
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
        d = _json(text, where)
        try:
            return cls.from_dict(d)
        except SceneError as e:
            raise SceneError(f"{where}: {e}") from None


# ---------------------------------------------------------------- parsing helpers


def _number(v: Any, what: str) -> float:
    """v as a finite float, or a SceneError naming `what`."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SceneError(f"{what} must be a number, got {_short(v)}")
    try:
        f = float(v)
    except OverflowError:  # a JSON integer too large for a float
        raise SceneError(f"{what} must be a finite number, got an integer of {len(str(v))} digits") from None
    if not math.isfinite(f):
        raise SceneError(f"{what} must be a finite number, got {v!r}")
    return f


def _short(v: Any, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[:limit] + "..."


def _num(d: dict, key: str, path: str, *, default: Any = ..., lo: float | None = None, lo_open: bool = False,
         hi: float | None = None, integer: bool = False) -> Any:
    if key not in d:
        if default is ...:
            raise SceneError(f"{path}{key} is missing (add it to the scene file)")
        return default
    v = d[key]
    f = _number(v, f"{path}{key}")
    if integer:
        if f != int(f):
            raise SceneError(f"{path}{key} must be a whole number, got {_short(v)}")
        v = int(f)
    else:
        v = f
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise SceneError(f"{path}{key} must be {'>' if lo_open else '>='} {lo:g}, got {v:g}")
    if hi is not None and v > hi:
        raise SceneError(f"{path}{key} must be <= {hi:g}, got {v:g}")
    return v


def _bounded(v: float, name: str, lo: float, hi: float, why: str) -> float:
    if not lo <= v <= hi:
        raise SceneError(f"{name} must be within [{lo:g}, {hi:g}] ({why}), got {v:g}")
    return v


def _vec(d: dict, key: str, path: str, *, default: Any = ..., limit: float | None = None,
         why: str = "") -> tuple[float, float]:
    if key not in d:
        if default is ...:
            raise SceneError(f"{path}{key} is missing (add it as [x, y])")
        return default
    v = d[key]
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise SceneError(f"{path}{key} must be a list of two numbers [x, y], got {_short(v)}")
    out = tuple(_number(c, f"{path}{key}[{i}]") for i, c in enumerate(v))
    if limit is not None:
        for i, c in enumerate(out):
            _bounded(c, f"{path}{key}[{i}]", -limit, limit, why)
    return out  # type: ignore[return-value]


def _unknown(d: dict, allowed: set[str], path: str) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        name = extra[0] if len(extra[0]) <= 80 else extra[0][:80] + "..."
        raise SceneError(f"{path}{name} is not a scene field (allowed: {', '.join(sorted(allowed))})")


def _parse_material(v: Any, path: str) -> str | Material:
    if isinstance(v, str):
        if v not in MATERIALS:
            raise SceneError(f"{path} unknown material {_short(v)} (use one of {', '.join(MATERIALS)} "
                             "or an object {{density, friction, elasticity}})")
        return v
    if isinstance(v, dict):
        _unknown(v, MATERIAL_KEYS, path + ".")
        density = _num(v, "density", path + ".", lo=0, lo_open=True)
        _bounded(density, f"{path}.density", *DENSITY_RANGE, "mass per px^2; the materials span 0.24-7.8")
        return Material(
            density=density,
            friction=_num(v, "friction", path + ".", lo=0, hi=MAX_FRICTION),
            elasticity=_num(v, "elasticity", path + ".", lo=0, hi=1),
        )
    raise SceneError(f"{path} must be a material name or {{density, friction, elasticity}}, got {_short(v)}")


def _parse_object(o: Any, i: int) -> SceneObject:
    path = f"objects[{i}]."
    if not isinstance(o, dict):
        raise SceneError(f"objects[{i}] must be an object, got {_short(o)}")
    _unknown(o, OBJECT_KEYS, path)
    shape = o.get("shape")
    if shape not in ("circle", "box"):
        raise SceneError(f"{path}shape must be \"circle\" or \"box\", got {_short(shape)}")
    radius = size = None
    if shape == "circle":
        radius = _num(o, "radius", path, lo=0, lo_open=True)
        _min_size(radius, f"{path}radius")
        if "size" in o:
            raise SceneError(f"{path}size is for boxes; a circle has radius")
    else:
        size = _vec(o, "size", path)
        for k, c in enumerate(size):
            if c <= 0:
                raise SceneError(f"{path}size[{k}] must be > 0, got {c:g}")
            _min_size(c, f"{path}size[{k}]")
        if "radius" in o:
            raise SceneError(f"{path}radius is for circles; a box has size [w, h]")
    if "material" not in o:
        raise SceneError(f"{path}material is missing (a name such as \"wood\" or {{density, friction, elasticity}})")
    return SceneObject(
        shape=shape,
        radius=radius,
        size=size,
        material=_parse_material(o["material"], path + "material"),
        position=_vec(o, "position", path, limit=2 * MAX_WORLD, why="px"),
        velocity=_vec(o, "velocity", path, default=(0.0, 0.0), limit=MAX_SPEED,
                      why="px/s; faster bodies cross the world in a frame and blow up the solver"),
        angle=_bounded(_num(o, "angle", path, default=0.0), f"{path}angle", -MAX_ANGLE, MAX_ANGLE, "rad"),
        angular_velocity=_bounded(_num(o, "angular_velocity", path, default=0.0), f"{path}angular_velocity",
                                  -MAX_SPIN, MAX_SPIN, "rad/s"),
    )


def _min_size(v: float, name: str) -> None:
    if v < MIN_SIZE:
        raise SceneError(f"{name} must be at least {MIN_SIZE:g} px (smaller shapes are not simulated reliably), "
                         f"got {v:g}")


def _parse_scene(d: Any) -> Scene:
    if not isinstance(d, dict):
        raise SceneError(f"a scene must be a JSON object, got {type(d).__name__}")
    _unknown(d, SCENE_KEYS, "")
    version = d.get("version", VERSION)
    if version != VERSION:
        raise SceneError(f"version must be {VERSION}, got {_short(version)}")
    walls_raw = d.get("walls", {})
    walls = None
    if walls_raw is not None:
        if not isinstance(walls_raw, dict):
            raise SceneError(f"walls must be {{elasticity, friction}} or null, got {_short(walls_raw)}")
        _unknown(walls_raw, WALL_KEYS, "walls.")
        walls = Walls(
            elasticity=_num(walls_raw, "elasticity", "walls.", default=0.5, lo=0, hi=1),
            friction=_num(walls_raw, "friction", "walls.", default=0.6, lo=0, hi=MAX_FRICTION),
        )
    seed = d.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise SceneError(f"seed must be null or a whole number 0..2**64-1, got {_short(seed)}")
    tags = d.get("tags", {})
    if not isinstance(tags, dict):
        raise SceneError(f"tags must be an object, got {_short(tags)}")
    try:
        tag_bytes = len(json.dumps(tags, allow_nan=False))
    except (ValueError, TypeError, RecursionError):
        raise SceneError("tags must hold plain JSON values (no NaN, not nested too deeply)") from None
    if tag_bytes > MAX_TAGS_BYTES:
        raise SceneError(f"tags takes {tag_bytes} bytes as JSON; at most {MAX_TAGS_BYTES} are allowed "
                         "(keep tags to short labels)")
    objs = d.get("objects")
    if not isinstance(objs, list):
        raise SceneError("objects is missing or not a list (add \"objects\": [...])")
    if not objs:
        raise SceneError("objects is empty (a scene needs at least one object)")
    if len(objs) > MAX_OBJECTS:
        raise SceneError(f"objects has {len(objs)} entries; at most {MAX_OBJECTS} are allowed")
    frames = _num(d, "frames", "", default=200, lo=2, hi=MAX_FRAMES, integer=True)
    substeps = _num(d, "substeps", "", default=4, lo=1, hi=MAX_SUBSTEPS, integer=True)
    check_work(len(objs), frames, substeps, "frames")
    return Scene(
        objects=[_parse_object(o, i) for i, o in enumerate(objs)],
        width=_num(d, "width", "", default=800.0, lo=0, lo_open=True, hi=MAX_WORLD),
        height=_num(d, "height", "", default=600.0, lo=0, lo_open=True, hi=MAX_WORLD),
        gravity=_vec(d, "gravity", "", default=(0.0, 981.0), limit=MAX_GRAVITY, why="px/s^2; 981 is 1 g"),
        dt=_num(d, "dt", "", default=1.0 / 60.0, lo=MIN_DT, hi=1.0),
        frames=frames,
        substeps=substeps,
        walls=walls,
        seed=seed,
        tags=tags,
    )


def check_work(n: int, frames: int, substeps: int, what: str = "frames") -> None:
    """SceneError unless n objects x `frames` frames x substeps fit the documented limits (before any work)."""
    if frames > MAX_FRAMES:
        raise SceneError(f"{what} must be <= {MAX_FRAMES}, got {frames}")
    if n * frames > MAX_OBJECT_FRAMES:
        raise SceneError(f"{what} {frames} x {n} objects is {n * frames} object-frames; at most "
                         f"{MAX_OBJECT_FRAMES} are allowed (use fewer frames or objects)")
    if n * frames * substeps > MAX_BODY_STEPS:
        raise SceneError(f"{what} {frames} x {n} objects x {substeps} substeps is {n * frames * substeps} body "
                         f"steps; at most {MAX_BODY_STEPS} are allowed (use fewer frames, objects or substeps)")


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
    """(i, j, depth) for every pair i < j of objects that penetrate by more than `tolerance` px.

    Depths are physics_llm/sim/geometry.py's exact minimum translation distances (circle-circle,
    box-circle, box-box by separating axes), computed in float64 from the scene's own values: they do
    not depend on the objects' order, and a shape inside another (a box inside a circle, two boxes at
    the same place) has a depth > 0 like any other overlap."""
    from physics_llm.sim import geometry

    s = np.array([[[*o.position, *o.velocity, o.angle, o.angular_velocity] for o in scene.objects]],
                 dtype=np.float64)
    _, i, j, depth = geometry.pair_depths(scene, s)
    keep = depth > tolerance
    return [(int(a), int(b), float(d)) for a, b, d in zip(i[keep], j[keep], depth[keep])]


# ---------------------------------------------------------------- files


def load_scene(path: str | Path) -> Scene:
    from physics_llm.io import read_text

    p = Path(path)
    return Scene.from_json(read_text(p, "scene file", MAX_SCENE_FILE_BYTES, SceneError), where=str(p))


def save_scene(scene: Scene, path: str | Path) -> None:
    from physics_llm.io import atomic_write_text

    atomic_write_text(path, json.dumps(scene.to_dict(), indent=1) + "\n")


def _json(text: str | bytes, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SceneError(f"{where}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise SceneError(f"{where}: JSON nested too deeply (a scene is at most a few levels deep)") from None
    except ValueError as e:  # an integer of more than 4300 digits, ...
        raise SceneError(f"{where}: not valid JSON ({str(e)[:100]})") from None


def load_scenes_jsonl(path: str | Path) -> list[Scene]:
    """A scenes file: one scene JSON per line (blank lines skipped). Errors name the line.

    Lines written by `physics-llm data export-jsonl` ({"scene": {...}, "frames": ...}) are read
    too: their "scene" is taken (the frames are its simulation, so nothing is lost). At most
    MAX_SCENES_IN_FILE scenes, each line at most MAX_JSONL_LINE_BYTES.
    """
    from physics_llm.io import check_input_file

    p = Path(path)
    check_input_file(p, "scenes file", error=SceneError)  # missing, a directory, a device
    scenes = []
    try:
        f = open(p, "rb")
    except OSError as e:
        raise SceneError(f"{p}: cannot read the scenes file ({e.strerror})") from None
    with f:
        k = 0
        while True:
            raw = f.readline(MAX_JSONL_LINE_BYTES + 1)
            if not raw:
                break
            k += 1
            where = f"{p} line {k}"
            if len(raw) > MAX_JSONL_LINE_BYTES:
                raise SceneError(f"{where}: longer than {MAX_JSONL_LINE_BYTES} bytes (one scene per line)")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise SceneError(f"{where}: not text (byte {e.start} is not UTF-8); give a JSONL file of "
                                 "scenes") from None
            if not line.strip():
                continue
            if len(scenes) >= MAX_SCENES_IN_FILE:
                raise SceneError(f"{p}: more than {MAX_SCENES_IN_FILE} scenes; split the file")
            d = _json(line, where)
            if isinstance(d, dict) and "objects" not in d and isinstance(d.get("scene"), dict):
                d = d["scene"]
            try:
                scenes.append(Scene.from_dict(d))
            except SceneError as e:
                raise SceneError(f"{where}: {e}") from None
    if not scenes:
        raise SceneError(f"{p}: no scenes in the file (expected one scene JSON per line)")
    return scenes
