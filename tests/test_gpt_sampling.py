"""Decoding for the expected value: `gpt:PATH?samples=K` (mean of K sampled targets)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from physics_llm.errors import UserError
from physics_llm.models.checkpoint import save_checkpoint
from physics_llm.models.gpt import GPT, GPTConfig
from physics_llm.models.gpt_predictor import GPTPredictor, parse_options
from physics_llm.models.registry import load_predictor
from physics_llm.models.text_predictor import mean_of_samples
from physics_llm.sim.generate import random_scene
from physics_llm.sim.simulate import simulate
from physics_llm.text import DigitTokenizer, TextFormat

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def checkpoint(path):
    tok = DigitTokenizer()
    cfg = GPTConfig(vocab_size=64, block_size=512, n_layer=1, n_head=2, n_embd=32)
    torch.manual_seed(0)
    save_checkpoint(path, GPT(cfg), cfg, TextFormat(version=2, order="vel_first", gaps=True), tok, step=1)
    return path


def test_mean_of_samples_by_hand():
    nan = np.nan
    a = np.array([[[1, 2, 3, 4, 3.1, 0], [nan] * 6]], dtype=np.float32)
    b = np.array([[[3, 4, 5, 6, -3.1, 2], [nan] * 6]], dtype=np.float32)
    states, parsed = mean_of_samples([(a, np.array([[True, False]])), (b, np.array([[True, False]]))])
    assert parsed.tolist() == [[True, False]]
    assert np.allclose(states[0, 0, [0, 1, 2, 3, 5]], [2, 3, 4, 5, 1])
    assert abs(abs(states[0, 0, 4]) - np.pi) < 1e-3  # the circular mean of 3.1 and -3.1 is pi, not 0
    assert np.isnan(states[0, 1]).all()
    one, p1 = mean_of_samples([(a, np.array([[True, False]])), (b, np.array([[False, False]]))])
    assert np.allclose(one[0, 0], a[0, 0])  # an unparsed sample does not count


def test_sampled_decoding_is_deterministic_parses_and_differs_from_greedy(tmp_path):
    ck = checkpoint(tmp_path / "ck")
    scene = random_scene(5, stage=1)
    w = simulate(scene, frames=6).traj[None, 2:5]
    greedy = load_predictor(f"gpt:{ck}").predict(scene, w)
    s1 = load_predictor(f"gpt:{ck}?samples=3").predict(scene, w)
    s2 = load_predictor(f"gpt:{ck}?samples=3").predict(scene, w)
    assert s1.parsed.all() and greedy.parsed.all()  # the grammar holds for every sample
    assert np.array_equal(s1.states, s2.states)
    assert not np.array_equal(s1.states, greedy.states)


def test_bad_options_are_refused():
    assert parse_options("a/b") == ("a/b", {})
    assert parse_options("a/b?samples=4") == ("a/b", {"samples": 4})
    for bad in ("a?temperature=2", "a?samples=x", "a?samples"):
        with pytest.raises(UserError, match="samples"):
            parse_options(bad)
    with pytest.raises(UserError, match="1..64"):
        GPTPredictor(None, TextFormat(), DigitTokenizer(), samples=0)


def test_eval_cli_refuses_a_bad_option_with_one_line(tmp_path):
    ck = checkpoint(tmp_path / "ck")
    r = subprocess.run([sys.executable, "-m", "physics_llm.cli", "eval", "--model", f"gpt:{ck}?samples=lots",
                        "--scenes-per-suite", "1", "--out", str(tmp_path / "r")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "samples" in r.stderr


def test_a_prompt_too_long_for_the_block_loses_its_farthest_neighbours_and_still_parses(tmp_path):
    tok = DigitTokenizer()
    cfg = GPTConfig(vocab_size=64, block_size=200, n_layer=1, n_head=2, n_embd=32)
    torch.manual_seed(0)
    fmt = TextFormat(version=2, order="vel_first", gaps=True)
    save_checkpoint(tmp_path / "ck", GPT(cfg), cfg, fmt, tok, step=1)
    scene = random_scene(11)
    w = simulate(scene, frames=6).traj[None, 2:5]
    from physics_llm.text import build_prompts

    prompts = build_prompts(scene, w, fmt)[0]
    assert max(len(p) for p in prompts) + 45 > 200  # some prompts do not fit as they are
    p = load_predictor(f"gpt:{tmp_path / 'ck'}")
    out = p.predict(scene, w)
    assert out.parsed.all() and p.trimmed > 0 and p.too_long == 0
    long = max(prompts, key=len)
    short = p.fit(long, 150)
    assert len(short) + 1 <= 150 and long.startswith(short) and short.count("\n") >= 4
