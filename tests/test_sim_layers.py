"""sim is the ground floor: what imports what (docs/DESIGN.md "Layout").

Each check runs in a fresh interpreter (conftest.py modules_after), so modules other tests loaded
do not hide an import.
"""

import numpy as np

from physics_llm.config import load_config
from physics_llm.data.config import DataConfig
from physics_llm.data.generate import generate_dataset
from physics_llm.data.store import open_dataset


def test_scene_state_and_physics_need_neither_pymunk_nor_the_simulator(modules_after):
    mods = modules_after("import physics_llm.sim.scene, physics_llm.sim.state, physics_llm.sim.physics, "
                         "physics_llm.sim.geometry, physics_llm.sim.prior, physics_llm.sim.generate, "
                         "physics_llm.sim.ood")
    assert "pymunk" not in mods and "physics_llm.sim.simulate" not in mods
    assert "physics_llm.sim.shapes" not in mods


def test_the_simulator_and_the_shapes_do_not_import_each_other_back(modules_after):
    assert "physics_llm.sim.simulate" not in modules_after("import physics_llm.sim.shapes")
    assert {"pymunk", "physics_llm.sim.shapes"} <= modules_after("import physics_llm.sim.simulate")


def test_reading_a_dataset_does_not_load_pymunk(tmp_path, modules_after):
    root = tmp_path / "ds"
    generate_dataset(load_config(DataConfig, sets=["scenes=2", "frames=5", "split=[1.0, 0.0, 0.0]"]), root,
                     progress=False)
    scene, tr = open_dataset(root, "train")[0]
    code = (f"from physics_llm.data.store import open_dataset\n"
            f"scene, tr = open_dataset({str(root)!r}, 'train')[0]\n"
            f"assert tr.traj.shape == {tr.traj.shape} and float(tr.traj.sum()) == {float(tr.traj.sum())!r}")
    mods = modules_after(code)
    assert "pymunk" not in mods and "physics_llm.sim.simulate" not in mods
    assert tr.traj.dtype == np.float32 and scene.frames == 5


def test_onset_mask_is_physics_and_eval_uses_the_same_one(modules_after):
    from physics_llm.eval import metrics
    from physics_llm.sim import physics

    assert metrics.onset_mask is physics.onset_mask
    assert "physics_llm.eval.metrics" not in modules_after("import physics_llm.sim.physics")
