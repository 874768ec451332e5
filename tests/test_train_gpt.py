"""`physics-llm train gpt`: example sampling, the loss mask, a real tiny run, exact resume, bad input."""

import csv
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
from physics_llm.models.checkpoint import load_checkpoint
from physics_llm.text import DigitTokenizer, format_targets
from training.examples import ExampleSampler, collate, encode_example
from training.gpt_config import TrainGPTConfig

REPO = Path(__file__).resolve().parents[1]
TINY_DATA = REPO / "configs" / "data" / "tiny.yaml"
TINY = REPO / "configs" / "train" / "gpt_tiny.yaml"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "physics_llm.cli", "train", "gpt", "--quiet", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def log_rows(run: Path) -> list[dict]:
    with (run / "log.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "ds"
    generate_dataset(load_config(DataConfig, TINY_DATA), root, progress=False)
    return root


@pytest.fixture(scope="module")
def full_run(data, tmp_path_factory) -> Path:
    """gpt_tiny.yaml trained in one go (6 steps)."""
    run = tmp_path_factory.mktemp("runs") / "full"
    r = cli("--config", TINY, "--data", data, "--out", run)
    assert r.returncode == 0, r.stderr
    return run


def sampler(data, onset_weight: float) -> ExampleSampler:
    cfg = load_config(TrainGPTConfig, TINY)
    return ExampleSampler(open_dataset(data, "train"), cfg.text_format(), DigitTokenizer(), cfg.block_size,
                          onset_weight, onset_px_s=50.0)


def test_onsets_are_the_steps_whose_velocity_jumps(data):
    s = sampler(data, 10.0)
    assert 0 < len(s.onsets) < s.size
    flags = s.is_onset(np.arange(s.size))
    assert flags.sum() == len(s.onsets)
    trajs = [s.ds[k] for k in range(len(s.ds))]
    for g in range(s.size):  # every object-step, recomputed by hand from the raw trajectory
        k, t, obj = s.locate(g)
        scene, tr = trajs[k]
        assert 3 <= t < tr.traj.shape[0] and obj < scene.n
        dv = tr.traj[t, obj, 2:4].astype(np.float64) - tr.traj[t - 1, obj, 2:4] - np.array(scene.gravity) * scene.dt
        assert flags[g] == (np.hypot(*dv) > 50.0), (k, t, obj)
    assert s.locate(s.size - 1) == (len(s.ds) - 1, trajs[-1][1].traj.shape[0] - 1, trajs[-1][0].n - 1)


def test_sampler_is_deterministic_and_favours_onsets_by_the_weight(data):
    for weight, draws, tol in ((10.0, 20_000, 0.15), (1.0, 60_000, 0.25)):
        s = sampler(data, weight)
        ids = s.draw(np.random.default_rng(5), draws)
        assert np.array_equal(ids, s.draw(np.random.default_rng(5), draws))
        on = s.is_onset(ids)
        K = len(s.onsets)
        ratio = (on.sum() / K) / ((~on).sum() / (s.size - K))  # draws per onset / draws per other step
        assert abs(ratio / weight - 1) < tol, (weight, ratio)
    a, b = s.batch(3, 7, 8), s.batch(3, 7, 8)
    assert np.array_equal(a.idx, b.idx) and np.array_equal(a.targets, b.targets)
    assert not np.array_equal(s.batch(3, 8, 8).idx[:, :10], a.idx[:, :10])


def test_loss_mask_covers_exactly_the_target_tokens(data):
    tok = DigitTokenizer()
    prompt, target = "o0 c125\n1 2 3 4 5 6\n", "o0 0 -1 0 0 0 0\n"
    idx, tgt = encode_example(tok, prompt, target)
    n_prompt = len(prompt) + 1  # + bos
    assert idx == tok.encode(prompt + target, bos=True)  # input: everything but the final eos
    assert tgt[:n_prompt - 1] == [-1] * (n_prompt - 1)
    assert tgt[n_prompt - 1:] == tok.encode(target, eos=True)  # target characters and eos, nothing else
    b = collate([(idx, tgt), ([1, 5], [-1, 2])], tok.pad_id)
    assert b.idx.shape == (2, len(idx)) and b.tokens == len(idx) + 2
    assert (b.idx[1, 2:] == tok.pad_id).all() and (b.targets[1, 2:] == -1).all()
    # A real example: the loss positions spell the object's target line.
    s = sampler(data, 10.0)
    g = int(s.onsets[0])
    k, t, obj = s.locate(g)
    scene, tr = s.ds[k]
    idx, tgt = s.example(g)
    line = format_targets(scene, tr.traj[None, t - 3:t], tr.traj[None, t], s.fmt)[0][obj]
    assert tok.decode([x for x in tgt if x != -1]) == line and tgt[-1] == tok.eos_id


def test_train_gpt_cli_writes_config_log_and_checkpoint(full_run):
    cfg = load_config(TrainGPTConfig, full_run / "config.yaml")
    assert cfg == load_config(TrainGPTConfig, TINY)
    rows = log_rows(full_run)
    assert [int(r["step"]) for r in rows] == [0, 3, 6]
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    assert float(rows[-1]["tokens_per_s"]) > 0 and float(rows[-1]["parse_rate"]) == 1.0
    ck = load_checkpoint(full_run / "ckpt", with_train_state=True)
    assert ck.step == 6 and ck.fmt == cfg.text_format()
    assert (ck.gpt_cfg.n_layer, ck.gpt_cfg.n_embd) == (cfg.n_layer, cfg.n_embd)
    assert ck.train_state["sampler"]["next_step"] == 6


def test_resume_equals_an_uninterrupted_run(full_run, data, tmp_path):
    run = tmp_path / "split"
    r = cli("--config", TINY, "--data", data, "--out", run, "--steps", 4)  # stops between two evaluations
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(run / "ckpt").step == 4
    # The config comes from the run: here RUN/config.yaml as the code before config.keys_of wrote it.
    (run / "config.yaml").write_text((REPO / "tests/fixtures/old_run_config_gpt_tiny.yaml").read_text())
    r = cli("--data", data, "--out", run, "--resume")
    assert r.returncode == 0, r.stderr
    a = load_checkpoint(full_run / "ckpt").model.state_dict()
    b = load_checkpoint(run / "ckpt").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    keep = ("step", "lr", "train_loss", "val_loss", "pos_rmse", "vel_rmse")
    assert [{k: r[k] for k in keep} for r in log_rows(run)] == [{k: r[k] for k in keep} for r in log_rows(full_run)]


def test_bad_input_is_one_line_exit_2_and_keeps_the_run(full_run, data, tmp_path):
    no_train = tmp_path / "no_train"
    generate_dataset(load_config(DataConfig, TINY_DATA, ["split=[0, 0.5, 0.5]", "scenes=2", "frames=8"]),
                     no_train, progress=False)
    before = {p: p.read_bytes() for p in [full_run / "log.csv", full_run / "ckpt" / "model.safetensors"]}
    cases = [
        (["--data", tmp_path / "nowhere", "--out", tmp_path / "a"], "--data"),
        (["--data", no_train, "--out", tmp_path / "b"], "no train split"),
        (["--data", data, "--out", tmp_path / "c", "--set", "n_layers=2"], "n_layers"),
        (["--data", data, "--out", tmp_path / "d", "--resume"], "no checkpoint"),
        (["--data", data, "--out", full_run], "--resume"),
        (["--data", data, "--out", full_run, "--resume", "--set", "n_embd=64"], "n_embd"),
    ]
    for args, needle in cases:
        r = cli("--config", TINY, *args)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], (args, r.stderr)
    assert before == {p: p.read_bytes() for p in before}
    assert not any((tmp_path / d).exists() for d in "abcd")


def test_rollout_validation_logs_beside_constvel_and_keeps_the_best_checkpoint(data, tmp_path):
    """eval_rollouts val scenes rolled out eval_horizon frames at every evaluation; best/ holds the
    checkpoint whose rollout was best (fewest escapes, then lowest position RMSE); v2 text, noise
    and a warm start from another run's checkpoint all train."""
    first = tmp_path / "first"
    r = cli("--config", TINY, "--data", data, "--out", first, "--set", "steps=2", "--set", "eval_every=1",
            "--set", "ckpt_every=2")
    assert r.returncode == 0, r.stderr
    run = tmp_path / "v2"
    r = cli("--config", TINY, "--data", data, "--out", run, "--set", "version=2", "--set", "order=vel_first",
            "--set", "gaps=true", "--set", "block_size=448", "--set", "noise_vel=5", "--set", "noise_pos=0.5",
            "--set", "eval_rollouts=2", "--set", "eval_horizon=5", "--set", f"init_from={first / 'ckpt'}")
    assert r.returncode == 0, r.stderr
    assert "warm start" in r.stderr
    rows = log_rows(run)
    assert all(float(row["constvel_roll_pos_rmse"]) > 0 for row in rows)
    assert all(0 <= float(row["roll_escaped_frac"]) <= 1 for row in rows)
    scored = [(float(row["roll_escaped_frac"]), float(row["roll_pos_rmse"]), int(row["step"]))
              for row in rows if int(row["step"]) > 0]
    best = load_checkpoint(run / "best")
    assert best.step == min(scored)[2]
    assert best.fmt.version == 2 and best.fmt.order == "vel_first" and best.fmt.gaps
    assert best.meta["chosen_by"]["roll_pos_rmse"] == pytest.approx(min(scored)[1])


def test_bad_init_from_is_one_line(data, tmp_path):
    r = cli("--config", TINY, "--data", data, "--out", tmp_path / "r", "--set", f"init_from={tmp_path / 'none'}")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no such checkpoint" in r.stderr


@pytest.mark.parametrize("name, params", [("gpt_small", 10.9e6), ("gpt_base", 99.7e6)])
def test_presets_have_their_size_and_a_block_that_holds_v2_examples(name, params, data):
    """configs/train/gpt_small.yaml (the original 6x6x384) and gpt_base.yaml (~100M) for GPUs."""
    from physics_llm.models.gpt import GPT, GPTConfig

    cfg = load_config(TrainGPTConfig, REPO / "configs" / "train" / f"{name}.yaml")
    with torch.device("meta"):  # the shapes only
        model = GPT(GPTConfig(vocab_size=DigitTokenizer().vocab_size, **cfg.model_kwargs()))
    assert model.num_params() == pytest.approx(params, rel=0.01)
    assert cfg.batch_size % cfg.micro_batches == 0 and cfg.micro_batches % 8 == 0  # 1, 2, 4 or 8 processes
    s = ExampleSampler(open_dataset(data, "train"), cfg.text_format(), DigitTokenizer(), cfg.block_size,
                       cfg.onset_weight, cfg.onset_px_s)
    longest = max(len(s.example(int(g))[0]) for g in s.draw(np.random.default_rng(0), 300))
    assert longest < cfg.block_size == 512


@pytest.mark.slow
def test_the_small_preset_trains_on_the_cpu(data, tmp_path):
    r = cli("--config", REPO / "configs/train/gpt_small.yaml", "--data", data, "--out", tmp_path / "s",
            "--set", "steps=2", "--set", "batch_size=8", "--set", "eval_examples=8", "--set", "eval_windows=1",
            "--set", "eval_rollouts=0", "--set", "data_workers=0", "--set", "threads=1")
    assert r.returncode == 0, r.stderr
    assert [int(row["step"]) for row in log_rows(tmp_path / "s")] == [0, 2]
