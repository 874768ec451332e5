"""Pymunk shapes of scene objects: the one place a SceneObject becomes a pymunk.Shape.

Used by simulate.py to build a World (density, friction and elasticity are set there)
and by the tests that cross-check geometry.py against Pymunk's own queries.
"""

from __future__ import annotations

import pymunk

from physics_llm.sim.scene import SceneObject


def make_shape(body: pymunk.Body, o: SceneObject) -> pymunk.Shape:
    """A circle of o.radius or a box of o.size on `body`, in its body frame (centred, unrotated)."""
    if o.shape == "circle":
        return pymunk.Circle(body, o.radius)
    return pymunk.Poly.create_box(body, o.size)
