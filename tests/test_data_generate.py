"""Dataset generation: determinism across runs and workers, splits, accuracy, resume after a kill, parts + merge."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from physics_llm.config import load_config
from physics_llm.data.config import DataConfig
from physics_llm.data.generate import generate_dataset
from physics_llm.data.merge import merge_datasets
from physics_llm.data.metadata import load_metadata
from physics_llm.data.plan import plan_shards, scene_seed, split_of_seed
from physics_llm.data.store import open_dataset
from physics_llm.sim.simulate import simulate
from physics_llm.sim.state import wrap_angle

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "data" / "tiny.yaml"


def tiny(**sets) -> DataConfig:
    return load_config(DataConfig, TINY, [f"{k}={v}" for k, v in sets.items()])


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "physics_llm.cli", "data", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, **kw)


def test_same_config_same_bytes_for_any_worker_count(tmp_path):
    cfg = tiny()
    for name, workers in (("a", 1), ("b", 1), ("c", 2)):
        generate_dataset(cfg, tmp_path / name, workers=workers, progress=False)
    a = files(tmp_path / "a")
    assert len(a) == 1 + len(plan_shards(cfg))  # metadata + every shard
    assert files(tmp_path / "b") == a
    assert files(tmp_path / "c") == a


def test_splits_disjoint_complete_and_stable():
    cfg = tiny(scenes=300, split=[0.8, 0.1, 0.1], shard_size=7)
    tasks = plan_shards(cfg)
    seen = [i for t in tasks for i in t.indices]
    assert sorted(seen) == list(range(300))  # every scene in exactly one shard, so one split
    for t in tasks:
        assert len(t.indices) <= 7 and list(t.indices) == sorted(t.indices)
        assert all(split_of_seed(scene_seed(cfg.seed, i), cfg.split) == t.split for i in t.indices)
    counts = {s: sum(len(t.indices) for t in tasks if t.split == s) for s in ("train", "val", "test")}
    assert 210 <= counts["train"] <= 270 and counts["val"] >= 15 and counts["test"] >= 15
    # A scene keeps its split whatever the dataset size: the split is a function of its seed.
    small = {i: t.split for t in plan_shards(tiny(scenes=40, split=[0.8, 0.1, 0.1])) for i in t.indices}
    big = {i: t.split for t in tasks for i in t.indices}
    assert all(big[i] == s for i, s in small.items())
    assert len({scene_seed(0, i) for i in range(1000)}) == 1000


def test_stored_values_within_tolerance_of_simulate(tmp_path):
    generate_dataset(tiny(stage=4), tmp_path / "ds", progress=False)  # boxes, spin, 50-500 px/s
    ds = open_dataset(tmp_path / "ds", split="train")
    assert ds.splits == ["train", "val", "test"] and len(ds) == ds.metadata["counts"]["train"]
    for i in range(len(ds)):
        scene, tr = ds[i]
        assert scene.to_dict() == ds.scene(i).to_dict()
        truth = simulate(scene)
        assert tr.traj.dtype == np.float32 and tr.traj.shape == truth.traj.shape == (30, scene.n, 6)
        err = np.abs(tr.traj.astype(np.float64) - truth.traj)
        err[..., 4] = np.abs(wrap_angle(tr.traj[..., 4].astype(np.float64) - truth.traj[..., 4]))
        assert err[..., :4].max() <= 0.01, "px / px/s"
        assert err[..., 4:].max() <= 1e-4, "rad / rad/s"
        assert np.all(np.abs(tr.traj[..., 4]) <= np.float32(np.pi))
        assert (tr.contacts == truth.contacts).all()


def test_resume_after_real_kill_gives_identical_bytes(tmp_path):
    # stage 5 (40-50 fast objects, 120 frames): about 0.4 s for 10 shards, time to kill mid-run
    sets = ["--set", "stage=5", "--set", "frames=120", "--set", "scenes=20"]
    ref = cli("generate", "--config", TINY, "--out", tmp_path / "ref", "--quiet", *sets)
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "physics_llm.cli", "data", "generate", "--config", str(TINY),
                             "--out", str(out), "--quiet", *sets], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while proc.poll() is None and time.monotonic() < deadline and not _finished_shards(out):
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)  # right after the first shard is recorded: mid-run, mid-shard
    proc.wait()
    meta = load_metadata(out)
    done = sum(1 for s in meta["shards"] if s["sha256"])
    assert not meta["complete"] and 1 <= done < len(meta["shards"]), "the kill missed the run"
    again = cli("generate", "--config", TINY, "--out", out, "--quiet", *sets)
    assert again.returncode == 0, again.stderr
    assert f"{done} finished shard(s) kept" in again.stdout
    assert files(out) == files(tmp_path / "ref")


def _finished_shards(root: Path) -> int:
    try:
        return sum(1 for s in json.loads((root / "metadata.json").read_text())["shards"] if s["sha256"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def test_parts_merged_equal_single_run(tmp_path):
    cfg = tiny()
    generate_dataset(cfg, tmp_path / "single", progress=False)
    for i in range(3):
        generate_dataset(cfg, tmp_path / f"p{i}", part=(i, 3), progress=False)
    p0 = load_metadata(tmp_path / "p0")
    assert not p0["complete"]
    assert [k for k, s in enumerate(p0["shards"]) if s["sha256"]] == list(range(0, len(p0["shards"]), 3))
    with pytest.raises(Exception, match="incomplete"):
        open_dataset(tmp_path / "p0")
    s = merge_datasets(tmp_path / "merged", [tmp_path / "p2", tmp_path / "p0", tmp_path / "p1"])
    assert s["complete"] and s["missing"] == 0
    assert files(tmp_path / "merged") == files(tmp_path / "single")
    # merging into one of the parts works too
    assert merge_datasets(tmp_path / "p0", [tmp_path / "p1", tmp_path / "p2"])["complete"]
    assert files(tmp_path / "p0") == files(tmp_path / "single")


def test_rerun_keeps_finished_shards_and_refuses_another_config(tmp_path):
    out = tmp_path / "ds"
    first = cli("generate", "--config", TINY, "--out", out, "--quiet")
    assert first.returncode == 0, first.stderr
    before = files(out)
    again = cli("generate", "--config", TINY, "--out", out, "--quiet")
    assert again.returncode == 0 and "generated 0 scenes" in again.stdout
    assert files(out) == before
    other = cli("generate", "--config", TINY, "--out", out, "--set", "seed=8", "--quiet")
    assert other.returncode == 2
    assert other.stderr.strip().count("\n") == 0 and "seed" in other.stderr and "another config" in other.stderr
    assert files(out) == before
