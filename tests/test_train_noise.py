"""Context noise for training (training/examples.py Noise): perturbed prompt, true target."""

import numpy as np
import pytest

from physics_llm.errors import ConfigError
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate
from physics_llm.text import TextFormat, build_prompts, format_targets, parse_outputs
from training.examples import Noise
from training.gpt_config import TrainGPTConfig


def falling_pair():
    scene = Scene.from_dict({"frames": 12, "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [300, 500], "velocity": [40, 200]},
        {"shape": "box", "size": [30, 20], "material": "wood", "position": [500, 300], "angle": 0.4}]})
    return scene, simulate(scene).traj


def test_noise_perturbs_the_context_as_a_random_walk_and_leaves_the_input_alone():
    scene, traj = falling_pair()
    window = traj[None, 2:5].copy()  # (1, 3, 2, 6)
    keep = window.copy()
    noisy = Noise(vel=20.0, pos=1.0, frac=1.0).apply(np.random.default_rng(3), window, scene.dt)
    assert np.array_equal(window, keep)  # the cached trajectory is never changed in place
    d = noisy.astype(np.float64) - window
    assert np.abs(d[..., 2:4]).max() > 0 and np.array_equal(d[..., 4:], np.zeros_like(d[..., 4:]))
    # positions: one shift plus the velocity noise integrated frame by frame
    vel_noise = d[..., 2:4]
    step = np.diff(d[..., 0:2], axis=1)
    assert np.allclose(step, vel_noise[:, 1:] * scene.dt, atol=1e-3)


def test_noise_off_or_not_drawn_returns_the_window_and_draws_the_same_stream():
    scene, traj = falling_pair()
    window = traj[None, 2:5]
    a, b = np.random.default_rng(0), np.random.default_rng(0)
    assert Noise(vel=20.0, pos=1.0, frac=0.0).apply(a, window, scene.dt) is window
    Noise(vel=20.0, pos=1.0, frac=1.0).apply(b, window, scene.dt)
    assert a.random() == b.random()  # the same count of draws either way: batches stay (seed, step) functions
    assert not Noise(vel=0.0, pos=0.0, frac=1.0).active


def test_the_target_of_a_noisy_window_is_still_the_true_next_state():
    """The prompt shows the perturbed context; the residual target decodes (from that context) to
    the true next state, so the model learns to correct the noise."""
    scene, traj = falling_pair()
    fmt = TextFormat(version=2, order="vel_first", gaps=True)
    window = traj[None, 2:5]
    noisy = Noise(vel=30.0, pos=2.0, frac=1.0).apply(np.random.default_rng(1), window, scene.dt)
    assert build_prompts(scene, noisy, fmt) != build_prompts(scene, window, fmt)
    target = format_targets(scene, noisy, traj[None, 5], fmt)
    assert target != format_targets(scene, window, traj[None, 5], fmt)
    res = parse_outputs(scene, noisy, target, fmt)
    assert res.parsed.all()
    assert np.abs(res.states[0, :, :4] - traj[5, :, :4]).max() <= 0.05 + 1e-4


def test_sim_targets_are_pymunk_from_the_perturbed_context_and_keep_free_flight_zero(tmp_path):
    """noise_target sim: the target decodes (from the noisy context) to Pymunk stepped from the
    noisy last frame, not to the true next state; in free flight that is an all-zero residual."""
    from physics_llm.sim.simulate import simulate as run, step_from
    from physics_llm.text import DigitTokenizer
    from training.examples import ExampleSampler

    scene, traj = falling_pair()

    class OneScene:  # the slice of data.store.Dataset the sampler reads
        root, split = tmp_path, "train"

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return scene, run(scene)

    ds = OneScene()
    fmt = TextFormat(version=2, order="vel_first", gaps=True)  # residual: free flight is all zeros
    noise = Noise(vel=30.0, pos=2.0, frac=1.0, target="sim")
    sim = ExampleSampler(ds, fmt, DigitTokenizer(), 1024, 1.0, 50.0, noise=noise)
    truth = ExampleSampler(ds, fmt, DigitTokenizer(), 1024, 1.0, 50.0, noise=Noise(vel=30.0, pos=2.0, frac=1.0))
    g = 2 * 2 + 1  # target frame 5 (context 3), object 1 (the box)
    s_prompt, s_target = sim.text(g, np.random.default_rng(4))
    t_prompt, t_target = truth.text(g, np.random.default_rng(4))
    assert s_prompt == t_prompt  # the same perturbed context either way
    assert s_target != t_target
    assert s_target.split()[1:] == ["0"] * 6  # "o1" then six zero residuals: free flight from the noisy state
    noisy = noise.apply(np.random.default_rng(4), traj[None, 2:5], scene.dt)
    res = parse_outputs(scene, noisy, [[s_target] * 2], fmt)
    want = step_from(scene, noisy[0, -1])
    assert np.abs(res.states[0, 1, :4] - want[1, :4]).max() <= 0.05 + 1e-4
    assert np.abs(res.states[0, 1, :2] - traj[5, 1, :2]).max() > 0.1  # not the true next state


def test_sampler_examples_with_noise_are_a_pure_function_of_the_seed(tmp_path):
    from pathlib import Path

    from physics_llm.config import load_config
    from physics_llm.data.config import DataConfig
    from physics_llm.data.generate import generate_dataset
    from physics_llm.data.store import open_dataset
    from physics_llm.text import DigitTokenizer
    from training.examples import ExampleSampler

    cfg = load_config(DataConfig, Path(__file__).parents[1] / "configs" / "data" / "tiny.yaml")
    generate_dataset(cfg, tmp_path / "ds", progress=False)
    ds = open_dataset(tmp_path / "ds", "train")
    fmt = TextFormat(version=2, order="vel_first", gaps=True)
    noisy = ExampleSampler(ds, fmt, DigitTokenizer(), 512, 10.0, 50.0, noise=Noise(vel=5.0, pos=0.5, frac=1.0))
    clean = ExampleSampler(ds, fmt, DigitTokenizer(), 512, 10.0, 50.0)
    a, b = noisy.batch(0, 7, 8), noisy.batch(0, 7, 8)
    assert np.array_equal(a.idx, b.idx)
    c = clean.batch(0, 7, 8)
    assert a.idx.shape != c.idx.shape or not np.array_equal(a.idx, c.idx)  # the noise shows in the prompts


@pytest.mark.parametrize("key,value", [("noise_vel", -1.0), ("noise_pos", 1e9), ("noise_frac", 1.5),
                                       ("noise_vel", True), ("noise_target", "pymunk")])
def test_noise_keys_out_of_range_are_refused_naming_the_key(key, value):
    cfg = TrainGPTConfig(**{key: value})
    with pytest.raises(ConfigError, match=key):
        cfg.check()
