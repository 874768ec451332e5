"""The LoRA fine-tune: target-module check, training, curriculum, adapter round trip, `physics-llm train lora`.

Everything runs on the tiny in-process LFM2 of hf_tiny.py and tiny datasets of configs/data/tiny.yaml.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hf_tiny import build_tiny_lfm2

from physics_llm.config import load_config
from physics_llm.data.config import DataConfig
from physics_llm.data.generate import generate_dataset
from physics_llm.data.store import open_dataset
from physics_llm.errors import UserError
from physics_llm.models.hf_loading import HFTokens, load_adapter, load_base
from physics_llm.models.hf_predictor import HFPredictor
from physics_llm.text import TextFormat
from training.curriculum import Curriculum
from training.examples import ExampleSampler
from training.lora_config import LFM2_TARGETS, TrainLoRAConfig, apply_lora
from training.train_lora import batch_loss, train

ROOT = Path(__file__).parents[1]
TINY_DATA = ROOT / "configs/data/tiny.yaml"
TINY_LORA = ROOT / "configs/train/lora_tiny.yaml"


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_lfm2(tmp_path_factory.mktemp("lora") / "base")


def make_data(root, **sets):
    cfg = load_config(DataConfig, TINY_DATA, [f"{k}={v}" for k, v in sets.items()])
    generate_dataset(cfg, root, progress=False)
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """configs/data/tiny.yaml: 12 stage-1 scenes of 30 frames."""
    return make_data(tmp_path_factory.mktemp("lora") / "tiny")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """20 scenes of the default distribution: every scene's stage drawn from its seed."""
    return make_data(tmp_path_factory.mktemp("lora") / "mixed", stage="null", scenes=20, frames=8)


def tiny_cfg(base, **sets) -> TrainLoRAConfig:
    return load_config(TrainLoRAConfig, TINY_LORA, [f"{k}={v}" for k, v in sets.items()], extra={"base": str(base)})


def test_lfm2_targets_all_match_and_a_llama_list_fails_naming_the_missing(base):
    model, _ = load_base(str(base))
    peft_model = apply_lora(model, tiny_cfg(base))
    wrapped = {n.rsplit(".", 1)[-1] for n, m in peft_model.named_modules() if hasattr(m, "lora_A")}
    assert wrapped == set(LFM2_TARGETS)  # every family adapted: attention, short conv, feed-forward
    # Llama's names: q/k/v exist in LFM2, o_proj does not; peft alone would adapt q/k/v and say nothing.
    with pytest.raises(UserError, match=r"target_modules o_proj match no layer.*linear layers are .*out_proj.*w1"):
        apply_lora(load_base(str(base))[0], tiny_cfg(base, target_modules='["q_proj","k_proj","v_proj","o_proj"]'))
    with pytest.raises(UserError, match="target_modules down_proj, gate_proj match no layer"):
        apply_lora(load_base(str(base))[0], tiny_cfg(base, target_modules="[gate_proj,down_proj]"))


def test_lora_trains_on_a_repeated_batch_and_leaves_the_base_frozen(base, data):
    model, tok = load_base(str(base))
    cfg = tiny_cfg(base, lora_dropout=0.0)
    torch.manual_seed(0)
    model = apply_lora(model, cfg)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    sampler = ExampleSampler(open_dataset(data, "train"), TextFormat(), HFTokens(tok), 512, 10.0, 50.0)
    batch = sampler.batch(0, 0, 4)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(25):
        loss = batch_loss(model, batch, "cpu")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]  # measured: 4.6 -> 0.6
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if not p.requires_grad)


def counting_samplers(tok, drawn: list):
    """make(sub) for Curriculum: an ExampleSampler of `sub` that appends (its stage, examples drawn) to `drawn`."""

    class Counting(ExampleSampler):
        def examples(self, rng, k):
            drawn.append((self.ds.ds.scene(self.ds.indices[0]).tags["stage"], k))
            return super().examples(rng, k)

    return lambda sub: Counting(sub, TextFormat(), tok, 512, 10.0, 50.0)


def test_curriculum_membership_order_replay_and_determinism(base, mixed):
    ds = open_dataset(mixed, "train")
    stages = [ds.scene(i).tags["stage"] for i in range(len(ds))]
    tok = HFTokens(load_base(str(base))[1])
    drawn = []  # (stage of the sampler, examples drawn)
    counting = counting_samplers(tok, drawn)

    def make(sub):
        assert all(stages[i] == stages[sub.indices[0]] for i in sub.indices)  # one stage per sampler
        return counting(sub)

    cur = Curriculum(ds, [2, 2, 2, 2, 2], 0.25, make)
    present = sorted(set(stages))
    assert [s.number for s in cur.stages] == present and len(present) >= 3
    assert sorted(i for s in cur.stages for i in s.sampler.ds.indices) == list(range(len(ds)))  # each scene once
    assert cur.total == 2 * len(present) and not cur.skipped
    assert [cur.stage_at(k).number for k in range(cur.total)] == [s for s in present for _ in range(2)]
    drawn.clear()
    cur.batch(0, 0, 8, tok.pad_id)
    assert drawn == [(present[0], 8)]  # the first stage: no replay
    drawn.clear()
    b = cur.batch(0, cur.total - 1, 8, tok.pad_id)
    assert drawn[0] == (present[-1], 6)  # the last stage: 8 - round(0.25 * 8) of its own
    assert sum(k for _, k in drawn[1:]) == 2 and all(s < present[-1] for s, _ in drawn[1:])
    again = cur.batch(0, cur.total - 1, 8, tok.pad_id)
    assert np.array_equal(b.idx, again.idx) and np.array_equal(b.targets, again.targets)


def test_curriculum_skips_absent_stages_and_refuses_untagged_scenes(base, data, tmp_path):
    tok = HFTokens(load_base(str(base))[1])

    def make(sub):
        return ExampleSampler(sub, TextFormat(), tok, 512, 10.0, 50.0)

    cur = Curriculum(open_dataset(data, "train"), [3, 2, 2, 2, 2], 0.25, make)  # tiny.yaml: stage 1 only
    assert [s.number for s in cur.stages] == [1] and cur.skipped == [2, 3, 4, 5] and cur.total == 3
    ood = make_data(tmp_path / "ood", stage="null", ood="count_low", scenes=4, split="[1.0,0.0,0.0]")
    with pytest.raises(UserError, match=r"scene 0: tags.stage is None, the curriculum needs 1-5"):
        Curriculum(open_dataset(ood, "train"), [1, 1, 1, 1, 1], 0.0, make)


def test_adapter_round_trip_gives_identical_logits(base, data, tmp_path):
    cfg = tiny_cfg(base, eval_windows=0, eval_examples=0)
    train(cfg, data, tmp_path / "run", stop=2, progress=False)
    trained = load_adapter(load_base(str(base))[0], str(tmp_path / "run/adapter"), str(base))
    again = load_adapter(load_base(str(base))[0], str(tmp_path / "run/adapter"), str(base))
    plain, tok = load_base(str(base))
    ids = torch.tensor([tok.encode("o3 c125 d110 f90 e80 m11 g0,9810\n4108 920 -350 1233 0 0\n")])
    with torch.no_grad():
        a, b, c = (m(input_ids=ids).logits for m in (trained, again, plain))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)  # two steps of training moved the adapter away from the identity
    merged = HFPredictor.load(f"{base}@{tmp_path / 'run/adapter'}").model  # what the predictor runs
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, a, atol=1e-5)


def test_resume_continues_exactly(base, data, tmp_path):
    cfg = tiny_cfg(base, eval_windows=0, eval_examples=4, ckpt_every=100)
    train(cfg, data, tmp_path / "whole", progress=False)  # stage 1 only: 2 steps
    train(cfg, data, tmp_path / "split", stop=1, progress=False)
    train(cfg, data, tmp_path / "split", resume=True, progress=False)
    from safetensors.torch import load_file

    w1 = load_file(tmp_path / "whole/adapter/adapter_model.safetensors")
    w2 = load_file(tmp_path / "split/adapter/adapter_model.safetensors")
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)
    rows = list(csv.DictReader(open(tmp_path / "split/log.csv")))
    assert [r["step"] for r in rows] == ["0", "2"]
    with pytest.raises(UserError, match="already"):
        train(cfg, data, tmp_path / "split", resume=True, progress=False)


def cli(*args):
    """The real CLI; one torch thread: a tiny model's ops are too small to share (2 threads: 5x slower here)."""
    return subprocess.run([sys.executable, "-m", "physics_llm.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_train_lora_cli_writes_a_run_that_resumes_and_evaluates(base, data, tmp_path):
    run = tmp_path / "run"
    r = cli("train", "lora", "--config", TINY_LORA, "--base", base, "--data", data, "--out", run, "--quiet")
    assert r.returncode == 0, r.stderr
    assert f"hf:{base}@{run / 'adapter'}" in r.stdout
    assert {p.name for p in run.iterdir()} == {"config.yaml", "log.csv", "adapter"}
    assert (run / "adapter/text_format.json").is_file() and (run / "adapter/train_state.pt").is_file()
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [r["step"] for r in rows] == ["0", "2"] and float(rows[-1]["parse_rate"]) == 1.0
    r = cli("train", "lora", "--data", data, "--out", run, "--resume", "--quiet", "--set", "stage_steps=[3,0,0,0,0]")
    assert r.returncode == 0, r.stderr
    assert [r["step"] for r in csv.DictReader(open(run / "log.csv"))] == ["0", "2", "3"]
    r = cli("eval", "--model", f"hf:{base}@{run / 'adapter'}", "--data", data, "--suite", "in_dist",
            "--scenes-per-suite", "1", "--windows", "1", "--horizon", "2", "--gifs", "0", "--no-baselines",
            "--out", tmp_path / "report")
    assert r.returncode == 0, r.stderr
    rows = [row for row in csv.DictReader(open(tmp_path / "report/metrics.csv")) if row["metric"] == "parse_rate"]
    assert rows and all(row["model"] == f"hf:{base}@{run / 'adapter'}" and float(row["value"]) == 1.0 for row in rows)


@pytest.mark.parametrize("case, message", [
    ("base", "'no-such-org/no-such-model': no such directory, and not in the Hugging Face cache"),
    ("key", "--set bogus: unknown key"),
    ("data", "no such directory"),
    ("resume", "--resume: no checkpoint at"),
])
def test_train_lora_cli_errors(case, message, base, data, tmp_path):
    args = ["train", "lora", "--config", TINY_LORA, "--base", base, "--data", data, "--out", tmp_path / "run"]
    if case == "base":
        args[5] = "no-such-org/no-such-model"
    elif case == "key":
        args += ["--set", "bogus=1"]
    elif case == "data":
        args[7] = tmp_path / "nothing"
    else:
        args.append("--resume")
    r = cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], r.stderr
    assert not (tmp_path / "run/adapter").exists()


def test_gradient_checkpointing_trains_the_same_adapter(base, data, tmp_path):
    """gradient_checkpointing recomputes activations in the backward pass: the same weights, less memory."""
    from safetensors.torch import load_file

    for gc in (False, True):
        cfg = tiny_cfg(base, eval_windows=0, eval_examples=4, lora_dropout=0.0, gradient_checkpointing=str(gc).lower())
        train(cfg, data, tmp_path / f"gc{gc}", progress=False)
    a = load_file(tmp_path / "gcFalse/adapter/adapter_model.safetensors")
    b = load_file(tmp_path / "gcTrue/adapter/adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-7) for k in a)
    rows = [list(csv.DictReader(open(tmp_path / f"gc{gc}/log.csv")))[-1] for gc in (False, True)]
    assert float(rows[1]["train_loss"]) == pytest.approx(float(rows[0]["train_loss"]), rel=1e-5)


def test_replay_is_the_global_batch_s_share_however_small_the_micro_batches(base, mixed):
    """16 examples as 16 micro-batches of 1 still replay round(0.25 * 16) = 4 of them (the first 4)."""
    ds = open_dataset(mixed, "train")
    tok = HFTokens(load_base(str(base))[1])
    drawn = []  # (stage of the sampler, examples drawn)
    cur = Curriculum(ds, [2, 2, 2, 2, 2], 0.25, counting_samplers(tok, drawn))
    last = cur.stages[-1].number
    replayed = []
    for part in range(16):
        drawn.clear()
        assert cur.batch(0, cur.total - 1, 1, tok.pad_id, part, 16).idx.shape[0] == 1
        replayed.append(sum(k for stage, k in drawn if stage != last))
    assert replayed == [1] * 4 + [0] * 12
