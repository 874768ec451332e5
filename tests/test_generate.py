"""Random and OOD scene generators: determinism, ranges, validity."""

import numpy as np
import pytest

from physics_llm.errors import UserError
from physics_llm.sim.generate import STAGES, random_scene
from physics_llm.sim.materials import DENSITY_RANGE, ELASTICITY_RANGE, FRICTION_RANGE, MATERIALS
from physics_llm.sim.ood import OOD_SUITES, ood_scene
from physics_llm.sim.scene import Scene


@pytest.mark.parametrize("make", [lambda s: random_scene(s), lambda s: random_scene(s, stage=5)]
                         + [lambda s, f=f: f(s) for f in OOD_SUITES.values()])
def test_same_seed_same_scene_and_valid(make):
    a, b = make(123), make(123)
    assert a.to_json() == b.to_json()
    assert make(124).to_json() != a.to_json()
    Scene.from_dict(a.to_dict())  # inside the world, no overlaps, every field valid


def test_stages_follow_the_curriculum():
    for stage, p in STAGES.items():
        for seed in range(5):
            s = random_scene(seed, stage=stage)
            assert p.n_objects[0] <= s.n <= p.n_objects[1]
            speeds = [np.hypot(*o.velocity) for o in s.objects]
            assert max(speeds) <= p.speed[1] + 0.01
            assert s.tags["stage"] == stage
    assert all(o.shape == "circle" for o in random_scene(3, stage=1).objects)
    assert random_scene(3, stage=5).n >= 40


def test_default_distribution_covers_counts_shapes_materials():
    scenes = [random_scene(seed) for seed in range(60)]
    counts = [s.n for s in scenes]
    assert min(counts) <= 14 and max(counts) >= 45 and all(10 <= c <= 50 for c in counts)
    shapes = {o.shape for s in scenes for o in s.objects}
    mats = {o.material for s in scenes for o in s.objects}
    assert shapes == {"circle", "box"} and mats == set(MATERIALS)
    assert {s.tags["stage"] for s in scenes} == {1, 2, 3, 4, 5}


def test_ood_suites_leave_the_training_range():
    for seed in range(3):
        assert 1 <= ood_scene("count_low", seed).n <= 9
        assert 51 <= ood_scene("count_high", seed).n <= 100
        assert ood_scene("zero_gravity", seed).gravity == (0.0, 0.0)
        assert ood_scene("low_gravity", seed).gravity[1] == pytest.approx(981 / 6, rel=0.01)
        assert ood_scene("high_gravity", seed).gravity[1] == pytest.approx(2.5 * 981)
        for o in ood_scene("extreme_mass", seed).objects:
            assert o.mat.density < DENSITY_RANGE[0] / 5 or o.mat.density > DENSITY_RANGE[1] * 5
        for o in ood_scene("extreme_friction", seed).objects:
            assert o.mat.friction < FRICTION_RANGE[0] / 5 or o.mat.friction > FRICTION_RANGE[1] * 1.5
        for o in ood_scene("extreme_elasticity", seed).objects:
            assert ELASTICITY_RANGE[1] < o.mat.elasticity < 1.0
    assert len(OOD_SUITES) == 8


def test_unknown_ood_suite_is_a_user_error():
    with pytest.raises(UserError, match="unknown OOD suite 'moon'.*zero_gravity"):
        ood_scene("moon", 1)
