"""Random scenes: 5 curriculum stages and the default distribution (10-50 objects).

Every scene is a pure function of (params, seed): numpy's PCG64 seeded with the
seed, values rounded to 0.01 so the JSON is short and exact. Placement rejects
any candidate whose bounding circle overlaps another's, so scenes never start
overlapping whatever the shapes' angles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from physics_llm.errors import UserError
from physics_llm.sim.materials import MATERIALS, Material
from physics_llm.sim.scene import Scene, SceneObject, Walls

SIMPLE_MATERIALS = ("wood", "rubber", "stone")


@dataclass(frozen=True)
class GenParams:
    """What a random scene may contain. Sizes in px, speeds in px/s, spin in rad/s."""

    n_objects: tuple[int, int] = (10, 50)  # inclusive
    box_fraction: float = 0.5
    materials: tuple[str, ...] = tuple(MATERIALS)
    radius: tuple[float, float] = (8.0, 28.0)
    box_side: tuple[float, float] = (14.0, 50.0)
    speed: tuple[float, float] = (0.0, 400.0)
    spin: float = 3.0  # |angular velocity| <= spin
    gravity: tuple[float, float] = (0.0, 981.0)
    walls: Walls = Walls()
    margin: float = 2.0  # px kept free between objects and from the walls
    width: float = 800.0
    height: float = 600.0
    frames: int = 200
    substeps: int = 4


# Curriculum: stage 1 is few, slow, simple objects; stage 5 is 40-50 fast mixed ones.
STAGES: dict[int, GenParams] = {
    1: GenParams(n_objects=(10, 15), box_fraction=0.0, materials=SIMPLE_MATERIALS, speed=(0.0, 100.0), spin=0.0),
    2: GenParams(n_objects=(10, 25), box_fraction=0.3, materials=SIMPLE_MATERIALS, speed=(0.0, 200.0), spin=1.0),
    3: GenParams(n_objects=(15, 35), box_fraction=0.5, speed=(0.0, 300.0), spin=2.0),
    4: GenParams(n_objects=(25, 45), box_fraction=0.5, speed=(50.0, 500.0), spin=4.0),
    5: GenParams(n_objects=(40, 50), box_fraction=0.5, speed=(100.0, 800.0), spin=6.0),
}


def stage_of_seed(seed: int) -> int:
    """The default distribution draws its stage from the seed: 1-5 equally often."""
    return int(np.random.default_rng([int(seed), 1]).integers(1, 6))


def random_scene(seed: int, stage: int | None = None, params: GenParams | None = None,
                 tags: dict | None = None) -> Scene:
    """A random scene. With neither stage nor params: the default distribution (a stage per seed)."""
    if params is None:
        if stage is None:
            stage = stage_of_seed(seed)
        if stage not in STAGES:
            raise UserError(f"--stage must be one of 1-5, got {stage}")
        params = STAGES[stage]
    rng = np.random.default_rng(int(seed))
    scene_tags = {"stage": stage, "ood": None}
    scene_tags.update(tags or {})
    n = int(rng.integers(params.n_objects[0], params.n_objects[1] + 1))
    objects = place_objects(rng, n, params)
    return Scene(objects=objects, width=params.width, height=params.height, gravity=params.gravity,
                 frames=params.frames, substeps=params.substeps, walls=params.walls, seed=int(seed), tags=scene_tags)


def _r2(v: float) -> float:
    return round(float(v), 2)


def random_object(rng: np.random.Generator, p: GenParams, scale: float = 1.0) -> SceneObject:
    """One object at the origin: shape, size, material, velocity, angle (position set by the caller)."""
    is_box = rng.random() < p.box_fraction
    mat: str | Material = p.materials[int(rng.integers(len(p.materials)))]
    speed = rng.uniform(*p.speed)
    heading = rng.uniform(-math.pi, math.pi)
    common = dict(material=mat, position=(0.0, 0.0),
                  velocity=(_r2(speed * math.cos(heading)), _r2(speed * math.sin(heading))),
                  angular_velocity=_r2(rng.uniform(-p.spin, p.spin)) if p.spin > 0 else 0.0)
    if is_box:
        w, h = (max(4.0, _r2(rng.uniform(*p.box_side) * scale)) for _ in range(2))
        return SceneObject(shape="box", size=(w, h), angle=_r2(rng.uniform(-math.pi, math.pi)), **common)
    return SceneObject(shape="circle", radius=max(3.0, _r2(rng.uniform(*p.radius) * scale)), **common)


def place_objects(rng: np.random.Generator, n: int, p: GenParams) -> list[SceneObject]:
    """n objects at random non-overlapping positions inside the world.

    Objects that find no free spot after 100 tries are redrawn smaller, so crowded
    scenes (count_high) still fill up; the sequence of draws stays seed-determined.
    """
    objects: list[SceneObject] = []
    centres = np.empty((n, 2))
    radii = np.empty(n)
    for k in range(n):
        scale = 1.0
        while True:
            o = random_object(rng, p, scale)
            r = o.bound_radius + p.margin
            lo_x, hi_x = r, p.width - r
            lo_y, hi_y = r, p.height - r
            xs = rng.uniform(lo_x, hi_x, size=100)
            ys = rng.uniform(lo_y, hi_y, size=100)
            cand = np.stack([np.round(xs, 2), np.round(ys, 2)], axis=1)  # (100, 2)
            if k:
                d = np.sqrt(((cand[:, None, :] - centres[None, :k]) ** 2).sum(-1))  # (100, k)
                free = (d >= radii[None, :k] + r).all(axis=1)
            else:
                free = np.ones(len(cand), dtype=bool)
            if free.any():
                j = int(np.argmax(free))
                o = replace(o, position=(float(cand[j, 0]), float(cand[j, 1])))
                centres[k], radii[k] = cand[j], o.bound_radius
                objects.append(o)
                break
            scale *= 0.8
            if scale < 0.05:
                raise UserError(f"could not place {n} objects in a {p.width:g}x{p.height:g} world; "
                                "ask for fewer or smaller objects")
    return objects
