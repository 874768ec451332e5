"""Devices, micro-batches and torchrun (DDP, gloo on the CPU) for `physics-llm train gpt` and `train lora`.

The torchrun tests start 2 real processes (`torchrun --nproc_per_node=2 --no-python physics-llm train ...`)
and compare them with one process training on the same global batches; they are slow (-m slow).
The CUDA paths cannot run here: the tests check that asking for them fails with one line.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from physics_llm.config import load_config
from physics_llm.data.config import DataConfig
from physics_llm.data.generate import generate_dataset
from physics_llm.data.store import open_dataset
from physics_llm.errors import UserError
from physics_llm.models.checkpoint import load_checkpoint, save_checkpoint
from physics_llm.models.gpt import GPT, GPTConfig
from physics_llm.text import DigitTokenizer, TextFormat
from training import loop
from training.distributed import Runtime, check_world, pick_device
from training.examples import ExampleSampler, collate
from training.gpt_config import TrainGPTConfig

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the virtualenv's bin: physics-llm and torchrun beside python
TINY_DATA = REPO / "configs/data/tiny.yaml"
TINY = REPO / "configs/train/gpt_tiny.yaml"
TINY_LORA = REPO / "configs/train/lora_tiny.yaml"
# Per-step rows (eval_every 1) without the decoding of val frames; the global batch as 2 micro-batches.
STEPS = ["--set", "micro_batches=2", "--set", "eval_every=1", "--set", "eval_windows=0"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
NO_GPU = not torch.cuda.is_available()

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def one(*args):
    """`physics-llm ARGS` in one process."""
    return subprocess.run([str(BIN / "physics-llm"), *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env=ENV, timeout=600)


def torchrun(*args, n: int = 2):
    """`torchrun --nproc_per_node=n --no-python physics-llm ARGS` (a free port: --standalone)."""
    return subprocess.run([str(BIN / "torchrun"), "--standalone", f"--nproc_per_node={n}", "--no-python",
                           str(BIN / "physics-llm"), *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env=ENV, timeout=600)


def rows(run: Path) -> list[dict]:
    with (run / "log.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def weights(path: Path) -> dict:
    return load_checkpoint(path).model.state_dict()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp") / "ds"
    generate_dataset(load_config(DataConfig, TINY_DATA), root, progress=False)
    return root


# ---------------------------------------------------------------- fast: micro-batches, checks, devices


def test_micro_batches_weighted_by_tokens_give_the_global_batch_gradient(data):
    """loop.accumulate over 2 micro-batches (of different lengths) = one backward of both as one batch."""
    tok = DigitTokenizer()
    sampler = ExampleSampler(open_dataset(data, "train"), TextFormat(), tok, 384, 10.0, 50.0)
    parts = [sampler.batch(0, 5, 3, part) for part in (0, 1)]
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=32))

    def loss_of(b):
        return model(torch.from_numpy(b.idx), torch.from_numpy(b.targets))[1]

    counts = [int((b.targets != -1).sum()) for b in parts]
    loss = loop.accumulate(parts, counts, sum(counts), loss_of, model, Runtime())
    split = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    rows_ = [(list(b.idx[i][b.idx[i] != tok.pad_id]), list(b.targets[i][: (b.idx[i] != tok.pad_id).sum()]))
             for b in parts for i in range(len(b.idx))]
    whole = loss_of(collate(rows_, tok.pad_id))
    whole.backward()
    assert counts[0] != counts[1] and float(loss) == pytest.approx(float(whole.detach()), rel=1e-6)
    for n, p in model.named_parameters():
        assert torch.allclose(split[n], p.grad, rtol=1e-4, atol=1e-7), n


def test_micro_batches_are_pure_functions_of_seed_step_and_part(data):
    sampler = ExampleSampler(open_dataset(data, "train"), TextFormat(), DigitTokenizer(), 384, 10.0, 50.0)
    a, b = sampler.batch(0, 3, 4, 1), sampler.batch(0, 3, 4, 1)
    assert np.array_equal(a.idx, b.idx)
    assert not np.array_equal(sampler.batch(0, 3, 4, 0).idx[:, :20], a.idx[:, :20])
    whole = sampler.batch(0, 3, 8)  # part None: the single-process batch of earlier versions
    assert np.array_equal(whole.idx, sampler.batch(0, 3, 8, None).idx)
    assert [list(Runtime(rank=r, world=2).parts(4)) for r in (0, 1)] == [[0, 1], [2, 3]]


def test_world_checks_name_the_key_and_the_fix():
    cfg = load_config(TrainGPTConfig, TINY, ["micro_batches=2"])
    check_world(cfg, 2)
    with pytest.raises(UserError, match="micro_batches 2: .* cannot be shared by 4 processes; use --set micro_batches"):
        check_world(cfg, 4)
    with pytest.raises(UserError, match="--resume: the run was trained by 1 process and now 2 are started; resume "
                                        r"it with one process \(no torchrun"):
        check_world(cfg, 2, resumed_world=1)
    with pytest.raises(UserError, match="batch_size 8 must be a multiple of micro_batches 3"):
        load_config(TrainGPTConfig, TINY, ["micro_batches=3"])
    with pytest.raises(UserError, match="device must be auto, cpu or cuda"):
        load_config(TrainGPTConfig, TINY, ["device=tpu"])
    assert loop.saved_world({"optimizer": {}}) == 1  # a checkpoint from before torchrun


@pytest.mark.skipif(not NO_GPU, reason="a GPU is here")
def test_cuda_or_bfloat16_without_a_gpu_fail_before_anything_is_written(data, tmp_path):
    from training import train_gpt, train_lora
    from training.lora_config import TrainLoRAConfig

    with pytest.raises(UserError, match="device cuda: torch sees no GPU here.*--set device=cpu"):
        pick_device("cuda", "float32")
    with pytest.raises(UserError, match="dtype bfloat16 is for a GPU.*--set dtype=float32"):
        pick_device("auto", "bfloat16")
    assert pick_device("auto", "float32").type == "cpu"
    for sets in (["device=cuda"], ["dtype=bfloat16"]):
        with pytest.raises(UserError, match=sets[0].split("=")[0]):
            train_gpt.train(load_config(TrainGPTConfig, TINY, sets), data, tmp_path / "g", progress=False)
        with pytest.raises(UserError, match=sets[0].split("=")[0]):
            cfg = load_config(TrainLoRAConfig, TINY_LORA, sets, extra={"base": str(tmp_path / "no-base")})
            train_lora.train(cfg, data, tmp_path / "l", progress=False)
    assert not (tmp_path / "g").exists() and not (tmp_path / "l").exists()
    r = one("train", "gpt", "--config", TINY, "--data", data, "--out", tmp_path / "c", "--set", "device=cuda")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "device cuda" in r.stderr, r.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.skipif(not NO_GPU, reason="a GPU is here")
def test_a_checkpoint_loads_on_the_device_asked_for(tmp_path, monkeypatch):
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_embd=32)
    save_checkpoint(tmp_path / "ck", GPT(cfg), cfg, TextFormat(), DigitTokenizer(), step=1)
    assert load_checkpoint(tmp_path / "ck", device="auto").model.lm_head.weight.device.type == "cpu"
    with pytest.raises(UserError, match="device cuda: torch sees no GPU"):
        load_checkpoint(tmp_path / "ck", device="cuda")
    monkeypatch.setenv("PHYSICS_LLM_DEVICE", "gpu0")
    with pytest.raises(UserError, match="PHYSICS_LLM_DEVICE 'gpu0': use cpu, cuda, cuda:N or auto"):
        load_checkpoint(tmp_path / "ck")
    monkeypatch.setenv("PHYSICS_LLM_DEVICE", "cpu")
    assert load_checkpoint(tmp_path / "ck").step == 1


def test_tensorboard_events_or_one_line_naming_the_package(data, tmp_path):
    from training import train_gpt

    cfg = load_config(TrainGPTConfig, TINY, ["tensorboard=true", "steps=2", "eval_every=1", "eval_windows=0"])
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match=r"tensorboard: true needs the tensorboard package \(`pip install"):
            train_gpt.train(cfg, data, tmp_path / "tb", progress=False)
        assert not (tmp_path / "tb").exists()
        return
    train_gpt.train(cfg, data, tmp_path / "tb", progress=False)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*")) and (tmp_path / "tb/log.csv").is_file()


# ---------------------------------------------------------------- slow: 2 gloo processes through torchrun


@pytest.fixture(scope="module")
def gpt_runs(data, tmp_path_factory):
    """gpt_tiny.yaml (6 steps, global batch 8 as 2 micro-batches): one process, 2 processes, and 2
    processes stopped at step 3 then resumed under torchrun."""
    root = tmp_path_factory.mktemp("gpt_runs")
    args = ["train", "gpt", "--quiet", "--config", TINY, "--data", data, *STEPS]
    r = one(*args, "--out", root / "one")
    assert r.returncode == 0, r.stderr
    r = torchrun(*args, "--out", root / "two")
    assert r.returncode == 0, r.stderr
    r = torchrun(*args, "--out", root / "split", "--steps", 3)
    assert r.returncode == 0, r.stderr
    r = torchrun("train", "gpt", "--quiet", "--data", data, "--out", root / "split", "--resume")
    assert r.returncode == 0, r.stderr
    return root


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_and_write_one_run(gpt_runs):
    one_, two = rows(gpt_runs / "one"), rows(gpt_runs / "two")
    assert [r["step"] for r in two] == [str(s) for s in range(7)]  # rank 0 alone logged: one row per step
    for a, b in zip(one_[1:], two[1:]):  # every step's loss, measured: ~1e-8 relative
        assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-4), (a, b)
        assert float(b["val_loss"]) == pytest.approx(float(a["val_loss"]), rel=1e-4), (a, b)
    assert {p.name for p in (gpt_runs / "two").iterdir()} == {"config.yaml", "log.csv", "ckpt"}  # no temp dirs
    ck = load_checkpoint(gpt_runs / "two/ckpt", with_train_state=True)
    assert ck.step == 6 and ck.train_state["world_size"] == 2 and len(ck.train_state["rank_rng"]) == 2
    a, b = weights(gpt_runs / "one/ckpt"), weights(gpt_runs / "two/ckpt")
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a)


@pytest.mark.slow
def test_resume_under_torchrun_continues_bit_for_bit(gpt_runs):
    a, b = weights(gpt_runs / "two/ckpt"), weights(gpt_runs / "split/ckpt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    keep = ("step", "lr", "train_loss", "val_loss")
    assert [{k: r[k] for k in keep} for r in rows(gpt_runs / "split")] == \
           [{k: r[k] for k in keep} for r in rows(gpt_runs / "two")]


@pytest.mark.slow
def test_a_changed_world_or_an_unshared_batch_is_one_line_under_torchrun(gpt_runs, data, tmp_path):
    before = (gpt_runs / "one/ckpt/model.safetensors").read_bytes()
    r = torchrun("train", "gpt", "--quiet", "--data", data, "--out", gpt_runs / "one", "--resume", "--set", "steps=8")
    assert r.returncode != 0 and len(errors(r.stderr)) == 1, r.stderr  # torchrun adds its own failure report
    assert "--resume: the run was trained by 1 process and now 2 are started" in errors(r.stderr)[0]
    assert (gpt_runs / "one/ckpt/model.safetensors").read_bytes() == before
    r = torchrun("train", "gpt", "--quiet", "--config", TINY, "--data", data, "--out", tmp_path / "odd")
    assert r.returncode != 0 and len(errors(r.stderr)) == 1, r.stderr
    assert "micro_batches 1: " in errors(r.stderr)[0] and not (tmp_path / "odd").exists()


@pytest.mark.slow
def test_lora_under_torchrun_matches_one_process(data, tmp_path):
    from hf_tiny import build_tiny_lfm2

    base = build_tiny_lfm2(tmp_path / "base")
    args = ["train", "lora", "--quiet", "--config", TINY_LORA, "--base", base, "--data", data, *STEPS,
            "--set", "lora_dropout=0"]  # dropout masks differ between ranks by design
    r = one(*args, "--out", tmp_path / "one")
    assert r.returncode == 0, r.stderr
    r = torchrun(*args, "--out", tmp_path / "two")
    assert r.returncode == 0, r.stderr
    a, b = rows(tmp_path / "one"), rows(tmp_path / "two")
    assert [r["step"] for r in b] == ["0", "1", "2"]
    for x, y in zip(a[1:], b[1:]):
        assert float(y["train_loss"]) == pytest.approx(float(x["train_loss"]), rel=1e-4), (x, y)
    assert {p.name for p in (tmp_path / "two").iterdir()} == {"config.yaml", "log.csv", "adapter"}
    assert "hf:" in r.stdout and r.stdout.count("wrote") == 1  # rank 0 alone reports


@pytest.mark.slow
def test_compile_trains_like_eager(data, tmp_path):
    """torch.compile (inductor on the CPU: ~1 min to compile here) gives the eager losses."""
    r = one("train", "gpt", "--quiet", "--config", TINY, "--data", data, "--out", tmp_path / "c",
            "--set", "compile=true", "--set", "steps=3")
    assert r.returncode == 0, r.stderr
    r = one("train", "gpt", "--quiet", "--config", TINY, "--data", data, "--out", tmp_path / "e", "--set", "steps=3")
    assert r.returncode == 0, r.stderr
    for a, b in zip(rows(tmp_path / "c")[1:], rows(tmp_path / "e")[1:]):
        assert float(a["train_loss"]) == pytest.approx(float(b["train_loss"]), rel=1e-4)


@pytest.mark.slow
def test_data_workers_build_the_same_batches(data, tmp_path):
    for n in (0, 2):
        r = one("train", "gpt", "--quiet", "--config", TINY, "--data", data, "--out", tmp_path / f"w{n}",
                "--set", f"data_workers={n}", "--set", "micro_batches=2")
        assert r.returncode == 0, r.stderr
    a, b = weights(tmp_path / "w0/ckpt"), weights(tmp_path / "w2/ckpt")
    assert all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- benchmarks/gpu_smoke.py


def smoke_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_smoke", REPO / "benchmarks/gpu_smoke.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_lora_benchmark_model_has_lfm2_350m_s_published_shape():
    from transformers import Lfm2Config, Lfm2ForCausalLM

    smoke = smoke_module()
    with torch.device("meta"):  # shapes only, no memory
        model = Lfm2ForCausalLM(Lfm2Config(**smoke.LFM2_350M))
    assert sum(p.numel() for p in model.parameters()) == smoke.LFM2_350M_PARAMS == 354_483_968  # the model card's
    assert model.model.layers[0].feed_forward.w1.weight.shape == (4608, 1024)


@pytest.mark.skipif(not NO_GPU, reason="a GPU is here")
def test_gpu_smoke_without_a_gpu_says_so_and_exits_0():
    r = subprocess.run([sys.executable, REPO / "benchmarks/gpu_smoke.py"], capture_output=True, text=True, env=ENV,
                       timeout=300)
    assert r.returncode == 0 and "needs CUDA" in r.stdout and "nothing was run" in r.stdout, r.stdout + r.stderr


@pytest.mark.slow
def test_gpu_smoke_runs_every_case_on_tiny_cpu_shapes():
    r = subprocess.run([sys.executable, REPO / "benchmarks/gpu_smoke.py", "--cpu"], capture_output=True, text=True,
                       env=ENV, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("gpt_small", "gpt_base", "lora_lfm2_350m"):
        assert any(line.strip().startswith(f"{name}:") and "tokens/s" in line for line in r.stdout.splitlines()), r.stdout
