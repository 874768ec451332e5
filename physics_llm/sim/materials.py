"""Named materials. Density is mass per square pixel (Pymunk: mass = density * area).

Pymunk combines a pair's elasticity and friction by multiplying the two shapes'
values, so a rubber ball on a rubber floor bounces with 0.8 * 0.8.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Material:
    density: float
    friction: float
    elasticity: float

    def to_dict(self) -> dict:
        return asdict(self)


MATERIALS: dict[str, Material] = {
    "rubber": Material(density=1.1, friction=0.9, elasticity=0.8),
    "wood": Material(density=0.6, friction=0.5, elasticity=0.4),
    "steel": Material(density=7.8, friction=0.4, elasticity=0.3),
    "ice": Material(density=0.9, friction=0.03, elasticity=0.1),
    "stone": Material(density=2.5, friction=0.7, elasticity=0.2),
    "cork": Material(density=0.24, friction=0.6, elasticity=0.5),
    "plastic": Material(density=1.0, friction=0.35, elasticity=0.6),
}

# The training distribution's range of each property; OOD suites go outside it.
DENSITY_RANGE = (min(m.density for m in MATERIALS.values()), max(m.density for m in MATERIALS.values()))
FRICTION_RANGE = (min(m.friction for m in MATERIALS.values()), max(m.friction for m in MATERIALS.values()))
ELASTICITY_RANGE = (min(m.elasticity for m in MATERIALS.values()), max(m.elasticity for m in MATERIALS.values()))
