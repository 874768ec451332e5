"""Checkpoints (round trip, errors, kill-safety) and the `gpt:` predictor on real scenes and in the eval CLI."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from physics_llm.errors import UserError
from physics_llm.models.checkpoint import convert_weights, load_checkpoint, save_checkpoint
from physics_llm.models.gpt import GPT, GPTConfig
from physics_llm.models.gpt_predictor import GPTPredictor
from physics_llm.models.registry import load_predictor
from physics_llm.sim.generate import random_scene
from physics_llm.sim.simulate import simulate
from physics_llm.text import DigitTokenizer, TextFormat

ROOT = Path(__file__).parents[1]
TOK = DigitTokenizer()
TINY = GPTConfig(vocab_size=64, block_size=384, n_layer=1, n_head=2, n_embd=32)
DEAD_PID = 2**30  # above Linux's pid_max (at most 2**22): no such process


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_checkpoint(path, seed=0, step=7, fmt=TextFormat(), **kw):
    torch.manual_seed(seed)
    model = GPT(TINY)
    save_checkpoint(path, model, TINY, fmt, TOK, step=step, **kw)
    return model


def test_save_load_round_trip_gives_identical_logits(tmp_path):
    fmt = TextFormat(context=2, neighbours=4)
    opt_state = {"optimizer": {"lr": 3e-4, "m": torch.arange(5.0)}, "torch_rng": torch.get_rng_state(), "acc": {}}
    model = tiny_checkpoint(tmp_path / "ck", fmt=fmt, train_state=opt_state, meta={"loss": 1.5})
    ck = load_checkpoint(tmp_path / "ck", with_train_state=True)
    idx = torch.tensor([TOK.encode("o1 c125 d110\n4108 920", bos=True)])
    model.eval()
    assert torch.equal(ck.model(idx)[0], model(idx)[0])
    assert ck.gpt_cfg == TINY and ck.fmt == fmt and ck.tokenizer.vocab == TOK.vocab
    assert ck.step == 7 and ck.meta == {"loss": 1.5} and not ck.model.training
    assert torch.equal(ck.train_state["optimizer"]["m"], torch.arange(5.0))
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "gpt_config.json", "meta.json", "model.safetensors", "text_format.json", "tokenizer.json", "train_state.pt"]
    assert load_checkpoint(tmp_path / "ck").train_state is None
    assert list(tmp_path.iterdir()) == [tmp_path / "ck"]  # no tmp or old directory left


def test_weights_are_safetensors_same_bytes_each_save_and_old_model_pt_checkpoints_still_load(tmp_path):
    model = tiny_checkpoint(tmp_path / "a", seed=3).eval()
    tiny_checkpoint(tmp_path / "b", seed=3)
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()
    idx = torch.tensor([TOK.encode("o0 c80", bos=True)])
    # A checkpoint from before safetensors: model.pt, a torch state_dict (tied embedding stored twice).
    old = tmp_path / "old"
    shutil.copytree(tmp_path / "a", old)
    (old / "model.safetensors").unlink()
    torch.save(model.state_dict(), old / "model.pt")
    assert torch.equal(load_checkpoint(old).model(idx)[0], model(idx)[0])
    convert_weights(old)
    assert sorted(p.name for p in old.iterdir() if p.name.startswith("model")) == ["model.safetensors"]
    assert (old / "model.safetensors").read_bytes() == (tmp_path / "a/model.safetensors").read_bytes()
    ck = load_checkpoint(old)
    assert torch.equal(ck.model(idx)[0], model(idx)[0])
    assert ck.model.transformer.wte.weight is ck.model.lm_head.weight  # still tied after loading
    (old / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
    with pytest.raises(UserError, match=r"old: model.safetensors does not fit gpt_config.json"):
        load_checkpoint(old)


def test_load_errors_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(UserError, match=r"no checkpoint at .*nowhere .*physics-llm train gpt"):
        load_checkpoint(tmp_path / "nowhere")
    tiny_checkpoint(tmp_path / "ck")
    (tmp_path / "ck" / "tokenizer.json").unlink()
    with pytest.raises(UserError, match=r"ck is missing tokenizer.json"):
        load_checkpoint(tmp_path / "ck")
    tiny_checkpoint(tmp_path / "ck2")
    with pytest.raises(UserError, match="missing train_state.pt"):
        load_checkpoint(tmp_path / "ck2", with_train_state=True)
    cfg = json.loads((tmp_path / "ck2" / "gpt_config.json").read_text())
    (tmp_path / "ck2" / "gpt_config.json").write_text(json.dumps({**cfg, "n_embd": 64}))
    with pytest.raises(UserError, match=r"ck2: model.safetensors does not fit gpt_config.json"):
        load_checkpoint(tmp_path / "ck2")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a checkpoint directory"):
        load_checkpoint(tmp_path / "file")


def test_a_killed_save_leaves_the_old_checkpoint_loadable(tmp_path):
    path = tmp_path / "ck"
    old = tiny_checkpoint(path, seed=0, step=1).eval()
    idx = torch.tensor([TOK.encode("o0 c80", bos=True)])
    # Killed while writing: a half-written tmp directory next to the old checkpoint.
    tmp = tmp_path / f"ck.tmp-{DEAD_PID}"
    tmp.mkdir()
    (tmp / "model.pt").write_bytes(b"\x80\x02truncated")
    ck = load_checkpoint(path)
    assert ck.step == 1 and torch.equal(ck.model(idx)[0], old(idx)[0])
    # Killed between the two renames: only the old copy exists, and load falls back to it.
    path.rename(tmp_path / f"ck.old-{DEAD_PID}")
    assert load_checkpoint(path).step == 1
    # The next save completes, and clears what the dead process left.
    new = tiny_checkpoint(path, seed=1, step=2).eval()
    ck = load_checkpoint(path)
    assert ck.step == 2 and torch.equal(ck.model(idx)[0], new(idx)[0])
    assert not torch.equal(new(idx)[0], old(idx)[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def scene_windows(seed=11, frames=10, targets=(4, 8)):
    scene = random_scene(seed)
    traj = simulate(scene, frames=frames).traj
    t = np.array(targets)
    return scene, traj[t[:, None] + np.arange(-3, 0)], t


def test_gpt_predictor_through_the_registry_on_a_simulated_scene(tmp_path):
    tiny_checkpoint(tmp_path / "ck")
    p = load_predictor(f"gpt:{tmp_path / 'ck'}")
    assert isinstance(p, GPTPredictor) and p.name == f"gpt:{tmp_path / 'ck'}" and p.context == 3
    scene, windows, t = scene_windows()
    pred = p.predict(scene, windows, t)
    assert pred.states.shape == (2, scene.n, 6) and pred.states.dtype == np.float32
    assert np.isfinite(pred.states).all() and pred.parsed.shape == (2, scene.n)
    assert pred.parsed.all()  # constrained decoding: every object's line is well-formed and in range
    assert pred.seconds > 0
    # Batching changes nothing: small chunks, and two scenes decoded together, give the same states
    # (in float64, so no near-tie of float32 rounding can flip a greedy choice).
    p.model.double()
    pred = p.predict(scene, windows, t)
    p.batch_size = 7
    assert np.array_equal(p.predict(scene, windows, t).states, pred.states)
    scene2, windows2, t2 = scene_windows(seed=12, targets=(5,))
    both = p.predict_many([(scene2, windows2, t2), (scene, windows, t)])
    assert np.array_equal(both[1].states, pred.states)
    assert np.array_equal(both[0].states, p.predict(scene2, windows2, t2).states)


def test_scene_view_prompts_too_long_for_the_block_are_unparsed_not_errors(tmp_path, capsys):
    tiny_checkpoint(tmp_path / "ck", fmt=TextFormat(view="scene"))
    p = GPTPredictor.load(tmp_path / "ck")
    scene, windows, t = scene_windows()  # N >= 10 objects: the scene-view prompt is > 384 tokens
    pred = p.predict(scene, windows, t)
    assert not pred.parsed.any() and p.too_long == 2
    assert np.isfinite(pred.states).all()  # constvel fill
    assert "block_size 384" in capsys.readouterr().err


def test_gpt_spec_needs_a_path():
    with pytest.raises(UserError, match="gpt:PATH"):
        load_predictor("gpt:")


def test_eval_cli_accepts_a_gpt_checkpoint(tmp_path):
    tiny_checkpoint(tmp_path / "ck")
    out = tmp_path / "report"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "physics_llm.cli", "eval", "--model", f"gpt:{tmp_path / 'ck'}",
                        "--scenes-per-suite", "1", "--windows", "2", "--horizon", "3", "--gifs", "0",
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    with open(out / "metrics.csv") as f:
        rows = [x for x in csv.DictReader(f) if x["model"] == f"gpt:{tmp_path / 'ck'}"]
    value = {(x["mode"], x["horizon"], x["metric"]): float(x["value"]) for x in rows}
    assert value[("single", "1", "parse_rate")] == 1.0
    assert np.isfinite(value[("single", "1", "pos_rmse")])
    assert any(k[0] == "rollout" for k in value)
