"""Prompt length on real scenes: the object view stays bounded whatever N; the scene view grows with N."""

import numpy as np

from physics_llm.sim.generate import random_scene
from physics_llm.sim.ood import ood_scene
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate
from physics_llm.text import TextFormat, build_prompts, make_examples

# Measured on 5 default random scenes x 197 frames: median 233, max 334 characters
# (6 neighbour lines of at most ~35 characters plus ~90 for the object itself).
OBJECT_PROMPT_LIMIT = 400


def neighbour_lines(prompt):
    return sum(1 for line in prompt.splitlines() if line[:1] in ("c", "b"))


def test_object_prompts_stay_bounded_from_10_to_100_objects():
    lengths = {}
    for scene in (random_scene(11, stage=1), random_scene(12, stage=5), ood_scene("count_high", 3)):
        tr = simulate(scene, frames=60)
        prompts = [p for p, _ in make_examples(scene, tr.traj)]
        assert len(prompts) == 57 * scene.n
        assert all(neighbour_lines(p) <= 6 for p in prompts)
        lengths[scene.n] = max(len(p) for p in prompts)
    assert min(lengths) <= 15 and max(lengths) >= 51
    assert max(lengths.values()) <= OBJECT_PROMPT_LIMIT, lengths


def test_crowded_object_keeps_six_nearest_neighbours():
    # A 9 x 9 grid of circles 30 px apart (gaps of 10 px): the centre one has 20 others within 60 px.
    objs = [{"shape": "circle", "radius": 10, "material": "wood", "position": [280 + 30 * i, 180 + 30 * j]}
            for i in range(9) for j in range(9)]
    scene = Scene.from_dict({"objects": objs})
    prompt = build_prompts(scene, scene.initial_state()[None, None], TextFormat(context=1))[0][40]
    lines = prompt.splitlines()
    assert lines[0].startswith("o40 ") and neighbour_lines(prompt) == 6
    # nearest first: the 4 at a 10 px gap (offsets of 30 px = 300 units), then 2 of the 4 diagonals
    # (22.4 px), ties going to the lower index
    offsets = [tuple(int(v) for v in line.split()[2:4]) for line in lines[2:]]
    assert offsets[:4] == [(-300, 0), (0, -300), (0, 300), (300, 0)]
    assert offsets[4:] == [(-300, -300), (-300, 300)]


def test_scene_prompt_grows_with_the_number_of_objects():
    small, big = random_scene(11, stage=1), ood_scene("count_high", 3)
    fmt = TextFormat(view="scene")
    per = []
    for scene in (small, big):
        w = simulate(scene, frames=3).traj[None]
        per.append(len(build_prompts(scene, w, fmt)[0][0]) / scene.n)
    assert 60 < per[0] < 150 and 60 < per[1] < 150  # header line plus 3 frame lines per object
    assert np.isclose(per[0], per[1], rtol=0.25)
