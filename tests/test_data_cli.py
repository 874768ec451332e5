"""`physics-llm data ...` as a user runs it: verify, info, export-jsonl, merge and the error cases."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from physics_llm.config import load_config
from physics_llm.data.config import DataConfig
from physics_llm.data.generate import generate_dataset
from physics_llm.data.store import open_dataset
from physics_llm.errors import UserError
from physics_llm.sim.scene import Scene

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "data" / "tiny.yaml"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "physics_llm.cli", "data", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "ds"
    generate_dataset(load_config(DataConfig, TINY), root, progress=False)
    return root


@pytest.fixture
def copy(dataset, tmp_path) -> Path:
    shutil.copytree(dataset, tmp_path / "ds")
    return tmp_path / "ds"


def test_verify_ok(dataset):
    r = cli("verify", dataset, "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    meta = json.loads((dataset / "metadata.json").read_text())
    assert r.stdout.strip().splitlines()[-1] == f"ok: {len(meta['shards'])} shards, 12 scenes"


def test_verify_detects_truncated_altered_and_missing_shards(copy):
    meta = json.loads((copy / "metadata.json").read_text())
    paths = [copy / s["path"] for s in meta["shards"]]
    paths[0].write_bytes(paths[0].read_bytes()[:-10])
    data = bytearray(paths[1].read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    paths[1].write_bytes(bytes(data))
    paths[2].unlink()
    r = cli("verify", copy, "--quiet")
    assert r.returncode == 1
    out = r.stdout
    assert f"{meta['shards'][0]['path']}: truncated" in out
    assert f"{meta['shards'][1]['path']}: altered" in out
    assert f"{meta['shards'][2]['path']}: missing" in out
    assert out.strip().splitlines()[-1].startswith(f"FAILED: 3 of {len(paths)} shards")


def test_info_lists_splits_and_size(dataset):
    r = cli("info", dataset)
    assert r.returncode == 0, r.stderr
    counts = json.loads((dataset / "metadata.json").read_text())["counts"]
    for split, n in counts.items():
        assert f"{split:5s} {n:8d} scenes" in r.stdout
    assert "KB per scene" in r.stdout and "stage=1" in r.stdout


def test_export_jsonl_parses_back_to_the_same_scenes(dataset, tmp_path):
    out = tmp_path / "t.jsonl"
    r = cli("export-jsonl", dataset, "--split", "test", "--limit", "3", "--out", out)
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    ds = open_dataset(dataset, split="test")
    assert len(lines) == min(3, len(ds))
    for i, line in enumerate(lines):
        rec = json.loads(line)
        scene, tr = ds[i]
        assert Scene.from_dict(rec["scene"]).to_dict() == scene.to_dict()
        assert rec["split"] == "test" and rec["seed"] == scene.seed
        frames = np.array(rec["frames"])
        assert frames.shape == tr.traj.shape
        assert np.abs(frames[..., :4] - tr.traj[..., :4]).max() <= 0.005 + 1e-3
        assert [sorted(c) for c in rec["contacts"]] == [np.flatnonzero(c).tolist() for c in tr.contacts]


def test_export_jsonl_with_model_text(dataset, tmp_path):
    out = tmp_path / "t.jsonl"
    r = cli("export-jsonl", dataset, "--split", "val", "--limit", "1", "--out", out, "--text")
    assert r.returncode == 0, r.stderr
    rec = json.loads(out.read_text().splitlines()[0])
    n, T = len(rec["scene"]["objects"]), len(rec["frames"])
    context = 3  # TextFormat() default: object view, one example per object and target frame
    assert len(rec["text"]) == n * (T - context)
    assert all(ex["prompt"] and ex["target"] for ex in rec["text"])


def test_merge_cli_reports_missing_parts(tmp_path):
    for part in ("0/2", "1/2"):
        r = cli("generate", "--config", TINY, "--out", tmp_path / part[0], "--shard", part, "--quiet")
        assert r.returncode == 0 and "part" in r.stdout, r.stderr
    half = cli("merge", "--out", tmp_path / "m", tmp_path / "0")
    assert half.returncode == 1 and "still missing" in half.stdout
    full = cli("merge", "--out", tmp_path / "m", tmp_path / "1")
    assert full.returncode == 0 and "complete" in full.stdout
    assert cli("verify", tmp_path / "m", "--quiet").returncode == 0


@pytest.mark.parametrize("args, words", [
    (["generate", "--config", TINY, "--out", "{tmp}/x", "--set", "colour=red"], ["colour", "unknown"]),
    (["generate", "--config", TINY, "--out", "{tmp}/x", "--shard", "3/2"], ["--shard", "0 <= I < N"]),
    (["generate", "--config", TINY, "--out", "{tmp}/x", "--shard", "half"], ["--shard", "I/N"]),
    (["generate", "--config", TINY, "--out", "{tmp}/file.txt"], ["is a file"]),
    (["generate", "--config", TINY, "--out", "{tmp}/x", "--set", "stage=9"], ["stage", "9"]),
    (["generate", "--config", "{tmp}/bad.yaml", "--out", "{tmp}/x"], ["shards", "unknown key"]),
    (["info", "{tmp}/nothing"], ["no such dataset"]),
    (["verify", "{tmp}/nothing"], ["no such dataset"]),
    (["export-jsonl", "{tmp}", "--out", "{tmp}/t.jsonl"], ["not a dataset"]),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    (tmp_path / "file.txt").write_text("not a directory")
    (tmp_path / "bad.yaml").write_text("scenes: 4\nshards: 2\n")
    r = cli(*[str(a).replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert all(w in r.stderr for w in words), r.stderr
    assert not (tmp_path / "x").exists()


def test_open_dataset_errors(tmp_path, dataset):
    with pytest.raises(UserError, match="no such dataset"):
        open_dataset(tmp_path / "missing")
    with pytest.raises(UserError, match="not a dataset"):
        open_dataset(tmp_path)
    with pytest.raises(UserError, match="split"):
        open_dataset(dataset, split="dev")
    ds = open_dataset(dataset)
    assert len(ds) == 12
    with pytest.raises(IndexError):
        ds[12]
