"""The Predictor contract, checked on every kind in the registry (as Gymnasium checks every registered
environment): each case below is loaded through `load_predictor(spec)` and must give

- states (B, N, 6) float32, all finite, angles in (-pi, pi]; parsed (B, N) bool; seconds >= 0;
- the constant-velocity fill wherever parsed is False;
- the same bytes for the same input, from the same predictor and from a freshly loaded one;
- the same answer when the windows carry more frames than `context`, and (all but the sampling
  case, STOCHASTIC) from predict_many beside another item as from predict;
- a raw output with NaN or inf replaced by the fill and counted as unparsed, the other objects
  untouched.

The models are real and tiny, built in-process (nothing is downloaded): GPTs just initialised in
two text formats, one asked for the mean of 2 samples, the shipped gpt-contact checkpoint, and a
tiny LFM2 (tests/hf_tiny.py) alone and with a LoRA adapter.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from physics_llm.models.base import constvel
from physics_llm.models.baselines import BASELINES
from physics_llm.models.registry import KINDS, load_predictor
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate
from physics_llm.text import TextFormat

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "assets" / "checkpoints" / "gpt-contact"

# case -> spec; {name} is a model built by the `models` fixture.
CASES = {
    **{f"baseline:{b}": f"baseline:{b}" for b in BASELINES},
    "oracle": "oracle",
    "gpt-object-residual": "gpt:{gpt_object}",
    "gpt-scene-absolute": "gpt:{gpt_scene}",
    "gpt-samples-2": "gpt:{gpt_object}?samples=2",
    "gpt-contact (shipped)": f"gpt:{SHIPPED}",
    "hf-base": "hf:{hf_base}",
    "hf-adapter": "hf:{hf_base}@{hf_adapter}",
}
SLOW = {"hf-base", "hf-adapter"}  # half a minute on a loaded 2-core machine: `make test-all`
# The mean of K samples draws from one generator seeded per call, so the same windows batched with
# others (predict_many) draw other samples: equal for the same call, not across batchings.
STOCHASTIC = {"gpt-samples-2"}

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def case_params():
    return [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in CASES]


def tiny_gpt(path: Path, fmt: TextFormat, seed: int, block_size: int = 384) -> Path:
    """A just-initialised 1-layer GPT checkpoint (the sizes of configs/train/gpt_tiny.yaml)."""
    import torch

    from physics_llm.models.checkpoint import save_checkpoint
    from physics_llm.models.gpt import GPT, GPTConfig
    from physics_llm.text import DigitTokenizer

    tok = DigitTokenizer()
    cfg = GPTConfig(vocab_size=64, block_size=block_size, n_layer=1, n_head=2, n_embd=32)
    torch.manual_seed(seed)
    save_checkpoint(path, GPT(cfg), cfg, fmt, tok, step=0)
    return path


def lora_adapter(base: Path, path: Path, fmt: TextFormat) -> Path:
    """A LoRA adapter on `base` with non-zero B matrices (a fresh one changes nothing), saved with `fmt`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Lfm2ForCausalLM

    torch.manual_seed(1)
    model = get_peft_model(Lfm2ForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "w1", "in_proj"]))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    model.save_pretrained(path)
    (path / "text_format.json").write_text(json.dumps(fmt.to_dict()))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """The model directories the CASES name, built on first use."""
    d = tmp_path_factory.mktemp("contract")

    class Lazy(dict):
        def __missing__(self, key):
            if key == "gpt_object":
                made = tiny_gpt(d / key, TextFormat(), seed=0)
            elif key == "gpt_scene":
                fmt = TextFormat(view="scene", encoding="absolute", context=2)
                made = tiny_gpt(d / key, fmt, seed=1, block_size=512)  # the 3-body prompt and target: ~400
            elif key == "hf_base":
                from hf_tiny import build_tiny_lfm2

                made = build_tiny_lfm2(d / key)
            elif key == "hf_adapter":
                made = lora_adapter(self["hf_base"], d / key, TextFormat(view="object", context=2))
            else:
                raise KeyError(key)
            self[key] = made
            return made
    return Lazy()


def spec_of(case: str, models) -> str:
    return CASES[case].format_map(models)


@pytest.fixture(scope="module")
def scene_and_traj():
    """Three bodies (circle, rotating box, explicit material) about to hit the floor, a wall and each other."""
    scene = Scene.from_dict({"frames": 12, "objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [30, 560], "velocity": [-300, 200]},
        {"shape": "box", "size": [30, 16], "material": "wood", "position": [200, 300], "velocity": [40, -20],
         "angle": 3.1, "angular_velocity": 4.0},
        {"shape": "circle", "radius": 8, "material": {"density": 2.0, "friction": 0.3, "elasticity": 0.8},
         "position": [232, 300], "velocity": [-60, 0]}]})
    return scene, simulate(scene).traj


def windows_for(traj: np.ndarray, context: int, starts=(1, 6), extra: int = 0):
    """(B, context + extra, N, 6) windows ending at frames start + context - 1, and their target frames."""
    w = np.stack([traj[s - extra:s + context] for s in starts])
    return w, np.array([s + context for s in starts], dtype=np.int64)


def test_every_registered_kind_and_baseline_has_a_case():
    kinds = {spec.partition(":")[0] for spec in CASES.values()}
    assert kinds == set(KINDS), "a predictor kind in models/registry.py needs a case here"
    assert {f"baseline:{b}" for b in BASELINES} <= set(CASES)


@pytest.mark.parametrize("case", case_params())
def test_predictor_contract(case, models, scene_and_traj):
    scene, traj = scene_and_traj
    spec = spec_of(case, models)
    p = load_predictor(spec)
    assert p.name == spec and p.context >= 1
    windows, target = windows_for(traj, p.context)
    B, N = windows.shape[0], scene.n

    pred = p.predict(scene, windows, target)
    assert pred.states.shape == (B, N, 6) and pred.states.dtype == np.float32
    assert pred.parsed.shape == (B, N) and pred.parsed.dtype == bool
    assert np.isfinite(pred.seconds) and pred.seconds >= 0
    assert np.isfinite(pred.states).all()
    angle = pred.states[..., 4]
    assert ((angle > -np.pi) & (angle <= np.float32(np.pi))).all()
    fill = constvel(windows[:, -1], scene.dt).astype(np.float32)
    assert np.array_equal(pred.states[~pred.parsed], fill[~pred.parsed]), "unparsed objects get the fill"

    again = p.predict(scene, windows, target)
    fresh = load_predictor(spec).predict(scene, windows, target)
    for other in (again, fresh):
        assert other.states.tobytes() == pred.states.tobytes() and np.array_equal(other.parsed, pred.parsed)

    longer, _ = windows_for(traj, p.context, extra=1)
    more = p.predict(scene, longer, target)
    assert more.states.tobytes() == pred.states.tobytes() and np.array_equal(more.parsed, pred.parsed)

    one, _ = windows_for(traj, p.context, starts=(3,))
    many = p.predict_many([(scene, windows, target), (scene, one, np.array([3 + p.context]))])
    alone = p.predict(scene, one, np.array([3 + p.context]))
    assert [m.states.shape for m in many] == [(B, N, 6), (1, N, 6)]
    if case in STOCHASTIC:
        assert all(np.isfinite(m.states).all() for m in many)
        return
    assert many[0].states.tobytes() == pred.states.tobytes() and np.array_equal(many[0].parsed, pred.parsed)
    assert many[1].states.tobytes() == alone.states.tobytes() and np.array_equal(many[1].parsed, alone.parsed)


@pytest.mark.parametrize("case", case_params())
def test_non_finite_raw_output_is_the_fill_and_unparsed(case, models, scene_and_traj, monkeypatch):
    scene, traj = scene_and_traj
    p = load_predictor(spec_of(case, models))
    windows, target = windows_for(traj, p.context)
    clean = p.predict(scene, windows, target)
    raw = p._predict  # what every kind implements; predict() sanitises what it returns

    def broken(*args, **kwargs):
        states, parsed = raw(*args, **kwargs)
        states, parsed = np.array(states, dtype=np.float64), np.array(parsed, dtype=bool)
        states[:, 0, 0] = np.nan
        states[:, 1, 3] = np.inf
        states[:, 1, 4] = -np.inf
        parsed[:, :2] = True  # the model claims them
        return states, parsed

    monkeypatch.setattr(p, "_predict", broken)
    pred = p.predict(scene, windows, target)
    fill = constvel(windows[:, -1], scene.dt).astype(np.float32)
    assert np.isfinite(pred.states).all()
    assert not pred.parsed[:, :2].any() and np.array_equal(pred.states[:, :2], fill[:, :2])
    assert np.array_equal(pred.parsed[:, 2:], clean.parsed[:, 2:])  # the others as without the damage
    assert pred.states[:, 2:].tobytes() == clean.states[:, 2:].tobytes()
