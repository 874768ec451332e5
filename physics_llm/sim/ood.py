"""The 8 out-of-distribution suites of the original system, registered by name.

Each is a function seed -> Scene, deterministic in its seed, built from the
default generator with one thing pushed outside the training distribution
(materials.DENSITY_RANGE etc. give that range).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from physics_llm.errors import UserError
from physics_llm.sim.generate import GenParams, random_scene
from physics_llm.sim.materials import MATERIALS, Material
from physics_llm.sim.scene import Scene, Walls

G = 981.0  # px/s^2: the default gravity (1 g at 100 px per metre)
BASE = GenParams(n_objects=(10, 50), speed=(0.0, 400.0))


def _materials(seed: int, k: int, make: Callable[[np.random.Generator], Material]) -> tuple[Material, ...]:
    """k explicit materials drawn from their own stream of the seed."""
    rng = np.random.default_rng([int(seed), 7])
    return tuple(make(rng) for _ in range(k))


def _two_sided(rng: np.random.Generator, low: tuple[float, float], high: tuple[float, float]) -> float:
    lo, hi = low if rng.random() < 0.5 else high
    return round(float(rng.uniform(lo, hi)), 4)


def count_low(seed: int) -> Scene:
    return random_scene(seed, params=replace(BASE, n_objects=(1, 9)), tags={"ood": "count_low"})


def count_high(seed: int) -> Scene:
    return random_scene(seed, params=replace(BASE, n_objects=(51, 100)), tags={"ood": "count_high"})


def extreme_mass(seed: int) -> Scene:
    # Training densities span 0.24-7.8. A scene here is all far lighter (0.005-0.024) or all far
    # heavier (78-300): mixing both in one scene (mass ratios of 10^4) makes Pymunk's solver crush
    # the light bodies into the walls, which would test the solver, not the model.
    side = (0.005, 0.024) if np.random.default_rng([int(seed), 8]).random() < 0.5 else (78.0, 300.0)

    def make(rng):
        base = MATERIALS[list(MATERIALS)[int(rng.integers(len(MATERIALS)))]]
        return Material(density=round(float(rng.uniform(*side)), 4), friction=base.friction,
                        elasticity=base.elasticity)
    return random_scene(seed, params=replace(BASE, materials=_materials(seed, 8, make)), tags={"ood": "extreme_mass"})


def extreme_friction(seed: int) -> Scene:
    # Training friction spans 0.03-0.9: here frictionless or far stickier.
    def make(rng):
        base = MATERIALS[list(MATERIALS)[int(rng.integers(len(MATERIALS)))]]
        return Material(density=base.density, friction=_two_sided(rng, (0.0, 0.005), (1.5, 3.0)),
                        elasticity=base.elasticity)
    return random_scene(seed, params=replace(BASE, materials=_materials(seed, 8, make)),
                        tags={"ood": "extreme_friction"})


def extreme_elasticity(seed: int) -> Scene:
    # Training elasticity spans 0.1-0.8; here 0.9-0.99 (never >= 1: Pymunk would gain energy)
    # on objects and walls alike, so bounces barely lose energy.
    def make(rng):
        base = MATERIALS[list(MATERIALS)[int(rng.integers(len(MATERIALS)))]]
        return Material(density=base.density, friction=base.friction,
                        elasticity=round(float(rng.uniform(0.9, 0.99)), 4))
    return random_scene(seed, params=replace(BASE, materials=_materials(seed, 8, make), walls=Walls(0.95, 0.6)),
                        tags={"ood": "extreme_elasticity"})


def zero_gravity(seed: int) -> Scene:
    return random_scene(seed, params=replace(BASE, gravity=(0.0, 0.0)), tags={"ood": "zero_gravity"})


def low_gravity(seed: int) -> Scene:
    return random_scene(seed, params=replace(BASE, gravity=(0.0, round(G / 6, 2))), tags={"ood": "low_gravity"})


def high_gravity(seed: int) -> Scene:
    return random_scene(seed, params=replace(BASE, gravity=(0.0, 2.5 * G)), tags={"ood": "high_gravity"})


OOD_SUITES: dict[str, Callable[[int], Scene]] = {
    "count_low": count_low,
    "count_high": count_high,
    "extreme_mass": extreme_mass,
    "extreme_friction": extreme_friction,
    "extreme_elasticity": extreme_elasticity,
    "zero_gravity": zero_gravity,
    "low_gravity": low_gravity,
    "high_gravity": high_gravity,
}


def ood_scene(kind: str, seed: int) -> Scene:
    if kind not in OOD_SUITES:
        raise UserError(f"unknown OOD suite {kind!r} (use one of {', '.join(OOD_SUITES)})")
    return OOD_SUITES[kind](seed)
