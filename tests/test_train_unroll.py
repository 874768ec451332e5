"""Pushforward training (training/examples.py Unroll): the model's own frames as the context."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from physics_llm.errors import ConfigError
from physics_llm.models.base import Prediction
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate, step_from
from physics_llm.text import DigitTokenizer, TextFormat, build_prompts, format_targets, parse_outputs
from training.examples import ExampleSampler, Unroll, encode_example
from training.gpt_config import TrainGPTConfig

REPO = Path(__file__).resolve().parents[1]
FMT = TextFormat(version=2, order="vel_first", gaps=True, encoding="touch")


def falling_pair():
    scene = Scene.from_dict({"frames": 12, "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [300, 500], "velocity": [40, 200]},
        {"shape": "box", "size": [30, 20], "material": "wood", "position": [500, 300], "angle": 0.4}]})
    return scene, simulate(scene)


class OneScene:  # the slice of data.store.Dataset the sampler reads
    def __init__(self, scene, tr, root):
        self.scene, self.tr, self.root, self.split = scene, tr, root, "train"

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return self.scene, self.tr


class ShiftedModel:
    """A stand-in for the model: the true next frame moved 3 px right (a model that is wrong)."""

    def __init__(self, traj):
        self.traj, self.calls = traj, []

    def __call__(self, items):
        out = []
        for scene, w, _ in items:
            self.calls.append(w.copy())
            t = next(k for k in range(len(self.traj)) if np.array_equal(self.traj[k], w[0, -1])) + 1
            nxt = self.traj[t].copy() if t < len(self.traj) else w[0, -1].copy()
            nxt[:, 0] += 3.0
            out.append(Prediction(states=nxt[None], parsed=np.ones((1, scene.n), bool), seconds=0.0))
        return out


@pytest.mark.parametrize("target", ["sim", "truth"])
def test_an_unrolled_example_shows_the_model_s_frame_and_the_target_is_physics_from_it(tmp_path, target):
    scene, tr = falling_pair()
    model = ShiftedModel(tr.traj)
    s = ExampleSampler(OneScene(scene, tr, tmp_path), FMT, DigitTokenizer(), 1024, 1.0, 50.0,
                       unroll=Unroll(steps=1, frac=1.0, target=target), predict_many=model)
    g = 3 * 2 + 1  # target frame 6 (context 3), object 1 (the box)
    got = s.unrolled_examples(np.random.default_rng(0), np.array([g]))
    assert list(got) == [0] and s.unrolled == 1
    assert np.array_equal(model.calls[0], tr.traj[None, 2:5])  # the true window one frame before
    own = np.concatenate([tr.traj[None, 3:5], (tr.traj[5] + np.array([3.0, 0, 0, 0, 0, 0], np.float32))[None, None]], 1)
    nxt = step_from(scene, own[0, -1]) if target == "sim" else tr.traj[6]
    want = encode_example(DigitTokenizer(), build_prompts(scene, own, FMT)[0][1], format_targets(scene, own, nxt[None], FMT)[0][1])
    assert got[0] == want
    clean = encode_example(DigitTokenizer(), *s.text(g))
    assert got[0][0] != clean[0]  # the prompt is the model's context, not the true one
    res = parse_outputs(scene, own, [[format_targets(scene, own, nxt[None], FMT)[0][1]] * 2], FMT)
    assert np.abs(res.states[0, 1, :4] - nxt[1, :4]).max() <= 0.05 + 1e-4  # the target decodes to it
    if target == "sim":
        assert np.abs(nxt[1, 0] - tr.traj[6, 1, 0]) > 2.0  # physics from the model's frame, not the truth


def test_unrolls_respect_frac_the_first_frames_and_a_model_that_leaves_the_world(tmp_path):
    scene, tr = falling_pair()
    ds = OneScene(scene, tr, tmp_path)
    none = ExampleSampler(ds, FMT, DigitTokenizer(), 1024, 1.0, 50.0, unroll=Unroll(steps=1, frac=0.0),
                          predict_many=ShiftedModel(tr.traj))
    assert none.unroll is None  # frac 0: off
    s = ExampleSampler(ds, FMT, DigitTokenizer(), 1024, 1.0, 50.0, unroll=Unroll(steps=2, frac=1.0),
                       predict_many=ShiftedModel(tr.traj))
    assert s.unrolled_examples(np.random.default_rng(0), np.array([0, 1])) == {}  # frame 3: no room for 2 frames

    def away(items):  # a model that throws every body out of the world
        return [Prediction(states=np.full((1, sc.n, 6), 5000.0, np.float32), parsed=np.ones((1, sc.n), bool),
                           seconds=0.0) for sc, _, _ in items]

    s = ExampleSampler(ds, FMT, DigitTokenizer(), 1024, 1.0, 50.0, unroll=Unroll(steps=1, frac=1.0), predict_many=away)
    assert s.unrolled_examples(np.random.default_rng(0), np.array([9])) == {} and s.unrolled == 0
    b1, b2 = s.batch(0, 3, 4), s.batch(0, 3, 4)  # out of the world: the true context, deterministic
    assert np.array_equal(b1.idx, b2.idx)


@pytest.mark.parametrize("key,value", [("unroll_steps", -1), ("unroll_steps", 9), ("unroll_steps", 1.5),
                                       ("unroll_steps", True), ("unroll_frac", 1.5), ("unroll_start", -3),
                                       ("unroll_target", "pymunk")])
def test_unroll_keys_out_of_range_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        TrainGPTConfig(**{key: value}).check()


def test_unrolls_with_data_workers_are_refused():
    with pytest.raises(ConfigError, match="data_workers"):
        TrainGPTConfig(unroll_steps=1, data_workers=2).check()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from physics_llm.config import load_config
    from physics_llm.data.config import DataConfig
    from physics_llm.data.generate import generate_dataset

    root = tmp_path_factory.mktemp("data") / "ds"
    generate_dataset(load_config(DataConfig, REPO / "configs/data/tiny.yaml"), root, progress=False)
    return root


def test_a_tiny_run_with_unrolls_trains_and_a_bad_key_is_one_line(data, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "physics_llm.cli", "train", "gpt", "--config",
                               REPO / "configs/train/gpt_tiny.yaml", "--data", data, *map(str, args)],
                              capture_output=True, text=True, cwd=REPO)

    r = cli("--out", tmp_path / "run", "--set", "unroll_steps=1", "--set", "unroll_frac=0.5", "--set", "unroll_start=2")
    assert r.returncode == 0, r.stderr
    assert "had a context the model made itself" in r.stderr
    assert (tmp_path / "run" / "ckpt" / "model.safetensors").exists()
    r = cli("--out", tmp_path / "bad", "--set", "unroll_steps=99")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "unroll_steps" in r.stderr, r.stderr
    assert not (tmp_path / "bad").exists()
