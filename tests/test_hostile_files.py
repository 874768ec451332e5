"""Hostile files (issue 7): a planted train_state.pt never runs code, writers never follow a
symlink planted beside --out, shard paths never leave the dataset, and nothing is written
into a dataset directory. Every case runs the real CLI as a subprocess on real files."""

import builtins
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hf_tiny import build_tiny_lfm2

ROOT = Path(__file__).parents[1]
TINY_DATA = ROOT / "configs/data/tiny.yaml"
TINY_GPT = ROOT / "configs/train/gpt_tiny.yaml"
TINY_LORA = ROOT / "configs/train/lora_tiny.yaml"


def cli(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "physics_llm.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def one_error_line(r, *needles) -> str:
    """The run failed with exit 2 and exactly one stderr line `error: ...` naming every needle."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "ds"
    r = cli("data", "generate", "--config", TINY_DATA, "--out", root)
    assert r.returncode == 0, r.stderr
    return root


# ---------------------------------------------------------------- 1. code execution


class RunsCode:
    """Unpickling this object creates `marker`: what a planted train_state.pt would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


def plant(path: Path, marker: Path, kind: str) -> None:
    import torch

    state = {"optimizer": {"state": {}, "param_groups": []}, "torch_rng": torch.get_rng_state(),
             "acc": RunsCode(marker)}
    if kind == "torch":
        torch.save(state, path)
    else:  # a raw pickle, not torch's zip format
        path.write_bytes(pickle.dumps(state))


def payload_runs(path: Path, marker: Path) -> bool:
    """Control: the planted file really runs code when unpickled the unsafe way."""
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=False)
    except RuntimeError:  # a raw pickle: torch unpickles it (running the code), then finds no magic number
        pass
    ran = marker.exists()
    marker.unlink(missing_ok=True)
    return ran


@pytest.fixture(scope="module")
def gpt_run(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("hostile") / "gpt"
    r = cli("train", "gpt", "--quiet", "--config", TINY_GPT, "--data", data, "--out", run, "--steps", 3)
    assert r.returncode == 0, r.stderr
    return run


@pytest.mark.parametrize("kind", ["torch", "pickle"])
def test_train_gpt_resume_refuses_a_train_state_that_would_run_code(kind, gpt_run, data, tmp_path):
    state = gpt_run / "ckpt" / "train_state.pt"
    good = state.read_bytes()
    marker = tmp_path / "pwned"
    try:
        plant(state, marker, kind)
        assert payload_runs(state, marker)
        r = cli("train", "gpt", "--quiet", "--data", data, "--out", gpt_run, "--resume")
        one_error_line(r, "train_state.pt", "refused")
        assert not marker.exists()
    finally:
        state.write_bytes(good)


def test_train_gpt_resume_refuses_a_truncated_train_state(gpt_run, data):
    state = gpt_run / "ckpt" / "train_state.pt"
    good = state.read_bytes()
    try:
        state.write_bytes(good[:len(good) // 2])
        r = cli("train", "gpt", "--quiet", "--data", data, "--out", gpt_run, "--resume")
        one_error_line(r, "train_state.pt")
    finally:
        state.write_bytes(good)


def test_train_gpt_resume_of_a_genuine_train_state_still_works(gpt_run, data):
    r = cli("train", "gpt", "--quiet", "--data", data, "--out", gpt_run, "--resume", "--steps", 4)
    assert r.returncode == 0, r.stderr
    from physics_llm.models.checkpoint import load_checkpoint

    assert load_checkpoint(gpt_run / "ckpt", with_train_state=True).train_state["sampler"]["next_step"] == 4


def test_train_lora_resume_refuses_a_train_state_that_would_run_code(data, tmp_path):
    base = build_tiny_lfm2(tmp_path / "base")
    run = tmp_path / "lora"
    r = cli("train", "lora", "--quiet", "--config", TINY_LORA, "--base", base, "--data", data, "--out", run,
            "--steps", 1)
    assert r.returncode == 0, r.stderr
    state = run / "adapter" / "train_state.pt"
    good = state.read_bytes()
    marker = tmp_path / "pwned"
    plant(state, marker, "torch")
    assert payload_runs(state, marker)
    r = cli("train", "lora", "--quiet", "--data", data, "--out", run, "--resume")
    one_error_line(r, "train_state.pt", "refused")
    assert not marker.exists()
    state.write_bytes(good)  # the genuine state resumes
    r = cli("train", "lora", "--quiet", "--data", data, "--out", run, "--resume")
    assert r.returncode == 0, r.stderr
