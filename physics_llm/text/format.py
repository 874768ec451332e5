"""TextFormat (which view, which encoding, how much context) and the pieces both views share.

Static properties are written the same way in both views, in the units of
text/units.py:
    circle        c<radius>            c125        radius 12.5 px
    box           b<width>,<height>    b300,200    30 x 20 px
    material      d<density> f<friction> e<elasticity>, in 0.01
    mass class    m<round(log2(mass))>              (object view neighbours)
    gravity       g<gx>,<gy>           g0,9810     in 0.1 px/s^2

ALPHABET is every character the formats may emit; the tokenizer's vocabulary is
built from it (all 26 lowercase letters, so a new field name needs no new vocab).
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

from physics_llm.errors import ConfigError
from physics_llm.sim.scene import Scene, SceneObject
from physics_llm.text.target import ENCODINGS, ORDERS, TWO_FRAMES
from physics_llm.text.units import GRAVITY_UNIT, MATERIAL_UNIT, POS_UNIT, fixed

VIEWS = ("object", "scene")
VERSIONS = (1, 2)
ALPHABET = string.digits + string.ascii_lowercase + " \n-,.:=>|"


@dataclass(frozen=True)
class TextFormat:
    """How states become text. The default trains fastest (docs/DESIGN.md "Measured facts").

    view:             "object" (one bounded prompt per object) or "scene" (one prompt per frame).
    encoding:         "residual" (next state minus free flight), "absolute", "walls" (next
                      state minus free flight with wall bounces, physics_llm/sim/prior.py), or
                      "rest" (as walls, and a body in lasting contact keeps its last velocity in
                      the rule; needs context >= 2), or "impulse" (as rest, plus an impulse for
                      every new body-body contact; context >= 2), or "touch" (as impulse,
                      the rest case only for bodies touching something after free flight).
    context:          C, past frames in the prompt (the last one is the frame before the target).
    neighbours:       object view: at most this many nearest neighbours.
    neighbour_radius: object view: px; a wall or a neighbour is listed when the gap to it is at
                      most this. The gap to a wall is exact (the object's extent at its angle);
                      the gap to another object is the centre distance minus both shapes'
                      half-widths along the line of centres: exact for two circles, never more
                      than the true surface distance for boxes (0.8 px less on average), so
                      every object whose surface is within the radius is listed (up to
                      `neighbours` of them, nearest first).
    """

    view: str = "object"
    encoding: str = "residual"
    context: int = 3
    neighbours: int = 6
    neighbour_radius: float = 60.0
    version: int = 1
    order: str = "state"
    gaps: bool = False

    def __post_init__(self):
        if self.version not in VERSIONS or isinstance(self.version, bool):
            raise ConfigError(f"text format version {self.version!r} is not known to this code (known: "
                              f"{', '.join(map(str, VERSIONS))}); update physics-llm or retrain the model")
        if self.order not in ORDERS:
            raise ConfigError(f"text order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        if not isinstance(self.gaps, bool):
            raise ConfigError(f"text gaps must be true or false, got {self.gaps!r}")
        if self.version == 1 and (self.order != "state" or self.gaps or self.encoding in ("walls",) + TWO_FRAMES):
            raise ConfigError("text order, gaps and the walls, rest, impulse and touch encodings are version 2 fields: set version: 2 "
                              "(version 1 is the original format: order state, gaps false, residual or absolute)")
        if self.view not in VIEWS:
            raise ConfigError(f"text view must be one of {', '.join(VIEWS)}, got {self.view!r}")
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"text encoding must be one of {', '.join(ENCODINGS)}, got {self.encoding!r}")
        if isinstance(self.context, bool) or not isinstance(self.context, int) or self.context < 1:
            raise ConfigError(f"text context must be a whole number >= 1, got {self.context!r}")
        if self.encoding in TWO_FRAMES and self.context < 2:
            raise ConfigError(f"text encoding {self.encoding} reads the last two context frames: set context >= 2 "
                              f"(got {self.context})")
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) or self.neighbours < 0:
            raise ConfigError(f"text neighbours must be a whole number >= 0, got {self.neighbours!r}")
        r = self.neighbour_radius
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r < 0:
            raise ConfigError(f"text neighbour_radius must be a number >= 0 (px), got {r!r}")

    def to_dict(self) -> dict:
        return {"view": self.view, "encoding": self.encoding, "context": self.context,
                "neighbours": self.neighbours, "neighbour_radius": self.neighbour_radius,
                "version": self.version, "order": self.order, "gaps": self.gaps}

    @classmethod
    def from_dict(cls, d: dict) -> "TextFormat":
        """A saved format; one without `version` is version 1 (checkpoints older than version 2)."""
        if not isinstance(d, dict):
            raise ConfigError(f"text format must be a mapping of its fields, got {d!r}")
        unknown = sorted(set(d) - set(cls().to_dict()))
        if unknown:
            raise ConfigError(f"text format has no field {unknown[0]!r} (fields: {', '.join(cls().to_dict())})")
        return cls(**d)


def shape_text(o: SceneObject) -> str:
    if o.shape == "circle":
        return f"c{fixed(o.radius, POS_UNIT)}"
    return f"b{fixed(o.size[0], POS_UNIT)},{fixed(o.size[1], POS_UNIT)}"


def material_text(o: SceneObject) -> str:
    m, u = o.mat, MATERIAL_UNIT
    return f"d{fixed(m.density, u)} f{fixed(m.friction, u)} e{fixed(m.elasticity, u)}"


def mass_class(o: SceneObject) -> int:
    """round(log2(mass)): enough to tell a pebble from a boulder in one or two digits."""
    return int(round(math.log2(o.mass)))


def gravity_text(scene: Scene) -> str:
    return f"g{fixed(scene.gravity[0], GRAVITY_UNIT)},{fixed(scene.gravity[1], GRAVITY_UNIT)}"
