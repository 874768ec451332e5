"""The reference every speed target is a ratio of: pure Pymunk stepping of a scene.

Builds the same world as simulate() (World(scene)) and only calls space.step:
no state reads, no contact flags, no encoding.
"""

from physics_llm.sim.simulate import World


def pure_stepping(scene) -> None:
    world = World(scene)
    h = scene.dt / scene.substeps
    for _ in range(scene.frames - 1):
        for _ in range(scene.substeps):
            world.space.step(h)
