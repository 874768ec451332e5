"""Scene view (the original system's layout): one long prompt per frame, every object in it.

    scene w8000 h6000 g0,9810 dt16667 s4 walls e50 f60     world (walls none: no walls)
    o0 c125 d110 f90 e80                                   static properties, one line each
    o1 b300,200 d60 f50 e40
    frame                                                  C context frames, oldest first,
    o0 4120 880 -350 1200 0 0                              each line as a target line
    o1 2000 5000 0 0 1571 0
    frame
    ...
    next

The target is one `o<i>` line per object (text/target.py), in object order.
Sizes, gaps and state numbers use text/units.py; dt is in microseconds.
Length grows with N: about 30 characters per object per frame.
"""

from __future__ import annotations

import numpy as np

from physics_llm.sim.scene import Scene
from physics_llm.text.format import TextFormat, gravity_text, material_text, shape_text
from physics_llm.text.target import encode, format_line, to_written
from physics_llm.text.units import DT_UNIT, MATERIAL_UNIT, POS_UNIT, fixed, quantize


def header(scene: Scene) -> str:
    if scene.walls is None:
        walls = "walls none"
    else:
        walls = f"walls e{fixed(scene.walls.elasticity, MATERIAL_UNIT)} f{fixed(scene.walls.friction, MATERIAL_UNIT)}"
    lines = [f"scene w{fixed(scene.width, POS_UNIT)} h{fixed(scene.height, POS_UNIT)} {gravity_text(scene)} "
             f"dt{fixed(scene.dt, DT_UNIT)} s{scene.substeps} {walls}"]
    lines += [f"o{i} {shape_text(o)} {material_text(o)}" for i, o in enumerate(scene.objects)]
    return "\n".join(lines) + "\n"


def prompts(scene: Scene, windows: np.ndarray, fmt: TextFormat) -> list[list[str]]:
    """windows (B, C, N, 6), C == fmt.context -> B lists of one prompt."""
    head = header(scene)
    q = quantize(windows)  # (B, C, N, 6)
    out = []
    for b in range(q.shape[0]):
        parts = [head]
        for c in range(q.shape[1]):
            parts.append("frame\n")
            parts.extend(format_line(i, q[b, c, i]) + "\n" for i in range(q.shape[2]))
        parts.append("next\n")
        out.append(["".join(parts)])
    return out


def targets(scene: Scene, windows: np.ndarray, next_states: np.ndarray, fmt: TextFormat) -> list[list[str]]:
    """windows (B, C, N, 6), next_states (B, N, 6) -> B lists of one target (N lines)."""
    ints = to_written(encode(scene, windows, next_states, fmt.encoding), fmt.order)  # (B, N, 6)
    return [["".join(format_line(i, ints[b, i]) + "\n" for i in range(ints.shape[1]))] for b in range(ints.shape[0])]
