"""Beam search in GPT.generate_beam: greedy at one beam, the exact most likely target with enough."""

import itertools

import pytest
import torch

from physics_llm.models.gpt import GPT, GPTConfig

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CFG = GPTConfig(vocab_size=8, block_size=32, n_layer=2, n_head=2, n_embd=16)
EOS, PAD = 2, 0
A, B, C = 3, 4, 5  # the tokens a target may use


def tiny(seed: int) -> GPT:
    torch.manual_seed(seed)
    model = GPT(CFG).eval()
    with torch.no_grad():  # sharper than the 0.02-std init, so beams and greedy disagree
        for p in model.parameters():
            p.mul_(30.0)
    return model


class ThreeThenEos:
    """A stateful grammar: A, B or C three times, then EOS. Keeps per-row counts, as the decoders' rows do."""

    def __init__(self, rows: int):
        self.count = [0] * rows
        self.seen = [0] * rows

    def reorder(self, rows):
        self.count = [self.count[r] for r in rows]
        self.seen = [self.seen[r] for r in rows]

    def __call__(self, out):
        mask = torch.zeros(len(out), CFG.vocab_size, dtype=torch.bool)
        for r, toks in enumerate(out):
            self.count[r] += len(toks) - self.seen[r]
            self.seen[r] = len(toks)
            assert self.count[r] == len(toks)  # the state followed its beam
            if self.count[r] < 3:
                mask[r, [A, B, C]] = True
            else:
                mask[r, EOS] = True
        return mask


def logprobs(model, prompt, targets) -> dict:
    """target (tuple) -> its total log-probability after prompt, all targets in one forward."""
    ids = torch.tensor([prompt + t for t in targets])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids)[0], dim=-1)  # (K, T, V)
    at = torch.arange(len(targets[0])) + len(prompt) - 1
    picked = logp[:, at].gather(2, torch.tensor(targets)[:, :, None])[..., 0]  # (K, len)
    return {tuple(t): float(v) for t, v in zip(targets, picked.sum(1))}


PROMPTS = [[1, 6, 7, 3], [1, 4], [1, 7, 7, 7, 6, 5, 4]]


def test_one_beam_is_greedy_token_for_token():
    for seed in range(3):
        model = tiny(seed)
        greedy = model.generate(PROMPTS, 4, allowed=ThreeThenEos(len(PROMPTS)), eos_id=EOS, pad_id=PAD)
        assert model.generate_beam(PROMPTS, 4, 1, allowed=ThreeThenEos(len(PROMPTS)), eos_id=EOS,
                                   pad_id=PAD) == greedy


def test_enough_beams_find_the_most_likely_target_and_beat_greedy_somewhere():
    targets = [list(t) + [EOS] for t in itertools.product([A, B, C], repeat=3)]
    beat = 0
    for seed in range(4):
        model = tiny(seed)
        best = model.generate_beam(PROMPTS, 4, 27, allowed=ThreeThenEos(3 * 27), eos_id=EOS, pad_id=PAD)
        greedy = model.generate(PROMPTS, 4, allowed=ThreeThenEos(3), eos_id=EOS, pad_id=PAD)
        for p, got, g in zip(PROMPTS, best, greedy):
            scores = logprobs(model, p, targets)
            assert max(scores.values()) - scores[tuple(got)] < 1e-3  # 27 beams hold every 3-token prefix
            beat += scores[tuple(got)] > scores[tuple(g)] + 1e-3
        # a row decodes the same in a batch as alone
        assert model.generate_beam(PROMPTS[1:2], 4, 27, allowed=ThreeThenEos(27), eos_id=EOS, pad_id=PAD) == best[1:2]
    assert beat > 0  # the search is not greedy in disguise


# --- gpt:PATH?beams=K and a checkpoint's decoding.json ---------------------------------------------


def predictor_checkpoint(path):
    from physics_llm.models.checkpoint import save_checkpoint
    from physics_llm.text import DigitTokenizer, TextFormat

    cfg = GPTConfig(vocab_size=64, block_size=512, n_layer=1, n_head=2, n_embd=32)
    torch.manual_seed(0)
    save_checkpoint(path, GPT(cfg), cfg, TextFormat(version=2, order="vel_first", gaps=True), DigitTokenizer(),
                    step=1)
    return path


def test_beam_decoding_parses_is_deterministic_and_a_checkpoint_can_make_it_the_default(tmp_path):
    import json

    import numpy as np

    from physics_llm.models.registry import load_predictor
    from physics_llm.sim.generate import random_scene
    from physics_llm.sim.simulate import simulate

    ck = predictor_checkpoint(tmp_path / "ck")
    scene = random_scene(5, stage=1)
    w = simulate(scene, frames=6).traj[None, 2:5]
    greedy = load_predictor(f"gpt:{ck}").predict(scene, w)
    beam = load_predictor(f"gpt:{ck}?beams=3")
    b1, b2 = beam.predict(scene, w), load_predictor(f"gpt:{ck}?beams=3").predict(scene, w)
    assert beam.beams == 3 and b1.parsed.all()  # the grammar follows every beam
    assert np.array_equal(b1.states, b2.states)
    assert np.array_equal(load_predictor(f"gpt:{ck}?beams=1").predict(scene, w).states, greedy.states)
    (ck / "decoding.json").write_text(json.dumps({"beams": 3}))
    default = load_predictor(f"gpt:{ck}")
    assert default.beams == 3 and np.array_equal(default.predict(scene, w).states, b1.states)
    assert load_predictor(f"gpt:{ck}?beams=1").beams == 1  # the spec's options replace the file's
    assert load_predictor(f"gpt:{ck}?samples=2").beams == 1


@pytest.mark.parametrize("spec,content,match", [
    ("?beams=0", None, "beams must be a whole number 1..16"),
    ("?beams=x", None, "beams must be a whole number"),
    ("?beams=2&samples=2", None, "do not combine"),
    ("?width=2", None, "unknown option"),
    ("", '{"beam": 3}', "decoding.json: expected an object with samples and/or beams"),
    ("", "[[[", "decoding.json: expected an object"),
    ("", '{"beams": 99}', "beams must be a whole number 1..16"),
])
def test_bad_beam_options_are_one_line(tmp_path, spec, content, match):
    from physics_llm.errors import UserError
    from physics_llm.models.registry import load_predictor

    ck = predictor_checkpoint(tmp_path / "ck")
    if content is not None:
        (ck / "decoding.json").write_text(content)
    with pytest.raises(UserError, match=match) as e:
        load_predictor(f"gpt:{ck}{spec}")
    assert "\n" not in str(e.value)
