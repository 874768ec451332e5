"""Silent garbage (issue 7 finding 4): a damaged shard, a permuted tokenizer or a scene of absurd
values is refused with one line, never read as data. Real datasets made by `data generate`,
real checkpoints, the real CLI as a subprocess where the exit code matters."""

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from test_hostile_files import TINY_DATA, TINY_GPT, cli, one_error_line
from test_hostile_files import data  # noqa: F401  the shared dataset fixture (made once a session)

from physics_llm.data.shard import MAGIC, crc32, read_header
from physics_llm.data.store import open_dataset
from physics_llm.errors import SceneError, SimulationError, UserError

ROOT = Path(__file__).parents[1]
SHIPPED = ROOT / "assets/checkpoints/gpt-small"


def copy(data: Path, tmp_path: Path) -> Path:
    ds = tmp_path / "ds"
    shutil.copytree(data, ds)
    return ds


def everything(ds_root: Path, split: str | None = None) -> list:
    """Every scene and trajectory of the split, as plain values to compare."""
    ds = open_dataset(ds_root, split)
    try:
        return [(s.to_json(), tr.traj.tobytes(), tr.contacts.tobytes()) for s, tr in ds]
    finally:
        ds.close()


def header_of(path: Path):
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        return read_header(fd, str(path))
    finally:
        os.close(fd)


def flip(path: Path, bit: int) -> None:
    b = bytearray(path.read_bytes())
    b[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(b))


def test_every_flipped_bit_of_a_shard_is_refused_not_decoded(data, tmp_path):
    """Every bit of the prefix, 400 drawn over the header and 600 over the blobs: each flip is refused by
    the reader with a line pointing to `data verify`; none decodes to a scene (silent garbage)."""
    ds = copy(data, tmp_path)
    shard = ds / "test/shard-00000.shard"
    good = shard.read_bytes()
    h = header_of(shard)
    assert h.version == 2 and all(r.scene_crc32 is not None and r.traj_crc32 is not None for r in h.rows)
    rng = np.random.default_rng(0)
    bits = list(range(16 * 8)) + sorted(rng.choice(np.arange(16 * 8, h.data_start * 8), 400, replace=False).tolist()
                                        + rng.choice(np.arange(h.data_start * 8, len(good) * 8), 600,
                                                     replace=False).tolist())
    for bit in bits:
        shard.write_bytes(good)
        flip(shard, int(bit))
        with pytest.raises(UserError, match="data verify"):
            everything(ds, "test")
    shard.write_bytes(good)
    assert everything(ds, "test") == everything(data, "test")


@pytest.mark.parametrize("command", ["eval", "export", "train"])
def test_a_damaged_blob_is_one_line_pointing_to_verify(command, data, tmp_path):
    ds = copy(data, tmp_path)
    split = "train" if command == "train" else "test"
    for shard in sorted((ds / split).iterdir()):  # the first trajectory blob of every shard of the split
        h = header_of(shard)
        flip(shard, (h.data_start + h.rows[0].traj_offset + h.rows[0].traj_length // 2) * 8 + 3)
    out = tmp_path / "out"
    args = {"eval": ("eval", "--model", "baseline:constvel", "--data", ds, "--split", "test", "--suite", "in_dist",
                     "--scenes-per-suite", 1, "--windows", 1, "--horizon", 2, "--gifs", 0, "--no-baselines",
                     "--out", out),
            "export": ("data", "export-jsonl", ds, "--split", "test", "--out", out / "t.jsonl"),
            "train": ("train", "gpt", "--quiet", "--config", TINY_GPT, "--data", ds, "--out", out, "--steps", 1)}
    r = cli(*args[command])
    needles = (f"{split}/shard-00000.shard", "CRC-32", f"physics-llm data verify {ds}")
    if command == "train":  # `train gpt` prints "indexing N scenes" to stderr first (training/, even with --quiet)
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 2 and last.startswith("error: ") and "Traceback" not in r.stderr, r.stderr
        assert all(n in last for n in needles), last
    else:
        one_error_line(r, *needles)
    assert not (out / "t.jsonl").exists() and not (out / "metrics.csv").exists()
    r = cli("data", "verify", ds, "--quiet")
    assert r.returncode == 1 and f"problem: {split}/shard-00000.shard" in r.stdout, r.stdout
    r = cli("data", "generate", "--config", TINY_DATA, "--out", ds, "--quiet")  # remakes the damaged shards
    assert r.returncode == 0, r.stderr
    assert everything(ds) == everything(data)


def test_swapped_and_resized_shards_are_refused(data, tmp_path):
    ds = copy(data, tmp_path)
    a, b = ds / "test/shard-00000.shard", ds / "test/shard-00001.shard"
    ba, bb = a.read_bytes(), b.read_bytes()
    a.write_bytes(bb)
    b.write_bytes(ba)
    with pytest.raises(UserError, match="swapped"):
        everything(ds, "test")
    a.write_bytes(ba + b"\0")
    b.write_bytes(bb)
    with pytest.raises(UserError, match="grown"):
        everything(ds, "test")
    a.write_bytes(ba[:len(ba) // 2])
    with pytest.raises(UserError, match="truncated"):
        everything(ds, "test")


def to_format_1(ds: Path) -> None:
    """Rewrite every shard of the dataset in the format-1 layout (b"PLSHARD1", no CRCs, no path; what
    physics-llm wrote before CRCs) with the same blobs, and its metadata as it was then."""
    import hashlib

    meta = json.loads((ds / "metadata.json").read_text())
    for entry in meta["shards"]:
        p = ds / entry["path"]
        h = header_of(p)
        blobs = p.read_bytes()[h.data_start:]
        rows = [[r.index, r.seed, r.n, r.frames, r.dt, r.scene_offset, r.scene_length, r.traj_offset, r.traj_length]
                for r in h.rows]
        header = json.dumps({"format": "physics-llm-shard/1", "units": list(h.units),
                             "columns": ["index", "seed", "n", "frames", "dt", "scene_offset", "scene_length",
                                         "traj_offset", "traj_length"], "rows": rows}, separators=(",", ":")).encode()
        raw = b"PLSHARD1" + struct.pack("<I", len(header)) + header + blobs
        p.write_bytes(raw)
        entry.update(bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    del meta["shard_format"]
    (ds / "metadata.json").write_text(json.dumps(meta, indent=1) + "\n")


def test_a_format_1_dataset_stays_readable_and_checked(data, tmp_path):
    ds = copy(data, tmp_path)
    to_format_1(ds)
    assert header_of(ds / "test/shard-00000.shard").version == 1
    assert everything(ds) == everything(data)
    r = cli("data", "verify", ds, "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("data", "generate", "--config", TINY_DATA, "--out", ds, "--quiet")  # complete: nothing to add
    assert r.returncode == 0, r.stderr
    shard = ds / "test/shard-00000.shard"
    h = header_of(shard)
    flip(shard, (h.data_start + h.rows[0].traj_offset + 5) * 8)  # decodes without error: only the sha256 knows
    with pytest.raises(UserError, match="sha256 differs"):
        everything(ds, "test")
    # An unfinished format-1 dataset cannot be finished with format-2 shards: one line, nothing written.
    meta = json.loads((ds / "metadata.json").read_text())
    meta["shards"][0].update(sha256=None, bytes=None)
    meta["complete"] = False
    (ds / "metadata.json").write_text(json.dumps(meta, indent=1) + "\n")
    before = {p: p.read_bytes() for p in ds.rglob("*") if p.is_file()}
    r = cli("data", "generate", "--config", TINY_DATA, "--out", ds, "--quiet")
    one_error_line(r, "physics-llm-shard/1", "new directory")
    assert {p: p.read_bytes() for p in ds.rglob("*") if p.is_file()} == before


def test_a_shard_header_claiming_huge_sizes_is_refused_without_allocating(data, tmp_path):
    """A header rewritten (with a matching CRC) to claim 500 objects x 100000 frames: the blob's own size
    does not match, refused before decompressing."""
    ds = copy(data, tmp_path)
    p = ds / "test/shard-00000.shard"
    raw = p.read_bytes()
    h = header_of(p)
    hlen = struct.unpack("<I", raw[8:12])[0]
    d = json.loads(raw[16:16 + hlen])
    d["rows"][0][2], d["rows"][0][3] = 500, 100_000
    header = json.dumps(d, separators=(",", ":")).encode()
    p.write_bytes(MAGIC + struct.pack("<II", len(header), crc32(header)) + header + raw[h.data_start:])
    meta = json.loads((ds / "metadata.json").read_text())
    next(e for e in meta["shards"] if e["path"] == "test/shard-00000.shard")["bytes"] = p.stat().st_size
    (ds / "metadata.json").write_text(json.dumps(meta))
    ds_ = open_dataset(ds, "test")
    with pytest.raises(UserError, match="expected"):
        ds_.trajectory(0)


# ---------------------------------------------------------------- the tokenizer a checkpoint needs


def permute(tokenizer_json: Path) -> None:
    d = json.loads(tokenizer_json.read_text())
    v = d["vocab"]
    i, j = v.index("3"), v.index("7")
    v[i], v[j] = v[j], v[i]
    tokenizer_json.write_text(json.dumps(d))


def test_a_permuted_tokenizer_in_the_shipped_checkpoint_is_refused(tmp_path, data):
    ck = tmp_path / "ck"
    shutil.copytree(SHIPPED, ck, ignore=shutil.ignore_patterns("eval"))
    from physics_llm.models.checkpoint import load_checkpoint

    assert load_checkpoint(ck).tokenizer.vocab_size == 49  # the shipped one (no record) loads as it is
    permute(ck / "tokenizer.json")
    r = cli("eval", "--model", f"gpt:{ck}", "--data", data, "--split", "test", "--suite", "in_dist",
            "--scenes-per-suite", 1, "--windows", 1, "--horizon", 1, "--gifs", 0, "--no-baselines",
            "--out", tmp_path / "r")
    one_error_line(r, "tokenizer.json", "trained with")
    assert not (tmp_path / "r").exists()


def test_a_checkpoint_records_its_tokenizer_and_refuses_another(tmp_path):
    import torch

    from physics_llm.models.checkpoint import load_checkpoint, save_checkpoint, vocab_sha256
    from physics_llm.models.gpt import GPT, GPTConfig
    from physics_llm.text import DigitTokenizer, TextFormat

    tok = DigitTokenizer()
    cfg = GPTConfig(vocab_size=64, block_size=64, n_layer=1, n_head=2, n_embd=16)
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "ck", GPT(cfg), cfg, TextFormat(), tok, step=1)
    meta = json.loads((tmp_path / "ck/meta.json").read_text())
    assert meta["tokenizer_sha256"] == vocab_sha256(tok) == vocab_sha256(load_checkpoint(tmp_path / "ck").tokenizer)
    permute(tmp_path / "ck/tokenizer.json")
    with pytest.raises(UserError, match="does not match the tokenizer the model was trained with"):
        load_checkpoint(tmp_path / "ck")
    # a checkpoint trained with another vocabulary loads with it (the record, not today's alphabet, rules)
    other = DigitTokenizer("0123456789 \n-")
    save_checkpoint(tmp_path / "ck2", GPT(cfg), cfg, TextFormat(), other, step=1)
    assert load_checkpoint(tmp_path / "ck2").tokenizer.vocab == other.vocab


@pytest.mark.parametrize("field, value, needle", [
    ("n_head", 3, "does not divide n_embd"), ("n_embd", "128", "n_embd must be"), ("n_layer", 0, "n_layer must be"),
    ("dropout", 2.0, "dropout must be"), ("block_size", 10**9, "block_size must be")])
def test_a_damaged_gpt_config_is_one_line(field, value, needle, tmp_path):
    ck = tmp_path / "ck"
    shutil.copytree(SHIPPED, ck, ignore=shutil.ignore_patterns("eval"))
    cfg = json.loads((ck / "gpt_config.json").read_text())
    cfg[field] = value
    (ck / "gpt_config.json").write_text(json.dumps(cfg))
    from physics_llm.models.checkpoint import load_checkpoint

    with pytest.raises(UserError, match=needle):
        load_checkpoint(ck)


# ---------------------------------------------------------------- bounds of a scene


def scene(**over):
    obj = {"shape": "circle", "radius": 10, "material": "rubber", "position": [100, 100], "velocity": [5, -5]}
    box = {"shape": "box", "size": [30, 20], "material": {"density": 0.7, "friction": 0.5, "elasticity": 0.4},
           "position": [300, 300]}
    d = {"objects": [obj, box]}
    for k, v in over.items():
        target, key = (obj, k[2:]) if k.startswith("c_") else (box, k[2:]) if k.startswith("b_") else (d, k)
        if key.startswith("material_"):
            target["material"][key[9:]] = v
        else:
            target[key] = v
    return d


BEYOND = [  # (override, the field the message names): each far past a documented bound
    ({"c_velocity": [1e300, 0]}, "objects[0].velocity[0]"),
    ({"c_velocity": [0, -2e5]}, "objects[0].velocity[1]"),
    ({"b_material_density": 1e308}, "objects[1].material.density"),
    ({"b_material_density": 1e-300}, "objects[1].material.density"),
    ({"b_material_friction": 1e9}, "objects[1].material.friction"),
    ({"width": 1e308}, "width"),
    ({"height": 2e5}, "height"),
    ({"gravity": [0, 1e300]}, "gravity[1]"),
    ({"c_radius": 1e-300}, "objects[0].radius"),
    ({"b_size": [30, 1e-9]}, "objects[1].size[1]"),
    ({"c_angular_velocity": 1e300}, "objects[0].angular_velocity"),
    ({"b_angle": 1e300}, "objects[1].angle"),
    ({"dt": 1e-300}, "dt"),
    ({"frames": 10**9}, "frames"),
    ({"frames": 100_001}, "frames"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**64}, "seed"),
    ({"c_velocity": [10**400, 0]}, "objects[0].velocity[0]"),
    ({"tags": {"note": "x" * 70_000}}, "tags"),
]


@pytest.mark.parametrize("over, field", BEYOND, ids=[f for _, f in BEYOND])
def test_values_beyond_the_documented_bounds_are_refused(over, field):
    from physics_llm.sim.scene import Scene

    with pytest.raises(SceneError) as e:
        Scene.from_dict(scene(**over))
    assert str(e.value).startswith(field) or field in str(e.value), str(e.value)


def test_work_limits_count_objects_frames_and_substeps():
    from physics_llm.sim.scene import MAX_BODY_STEPS, MAX_OBJECT_FRAMES, check_work

    check_work(500, MAX_OBJECT_FRAMES // 500, 1)
    with pytest.raises(SceneError, match="object-frames"):
        check_work(500, MAX_OBJECT_FRAMES // 500 + 1, 1)
    check_work(100, 10_000, MAX_BODY_STEPS // 1_000_000)
    with pytest.raises(SceneError, match="body steps"):
        check_work(100, 10_000, MAX_BODY_STEPS // 1_000_000 + 1)


def test_values_at_the_bounds_are_accepted_and_simulate_finite():
    """The bounds are generous: a scene at several of them at once is valid and simulates to finite values."""
    from physics_llm.sim.scene import MAX_SPEED, MAX_SPIN, Scene
    from physics_llm.sim.simulate import simulate

    s = Scene.from_dict(scene(c_velocity=[MAX_SPEED, -MAX_SPEED], c_angular_velocity=MAX_SPIN, b_material_density=1e6,
                              c_radius=0.1, gravity=[0, 100_000], frames=50))
    assert np.isfinite(simulate(s).traj).all()


def test_a_trajectory_that_turns_non_finite_fails_clearly():
    from physics_llm.sim.generate import random_scene
    from physics_llm.sim.simulate import check_finite, simulate

    s = random_scene(3, stage=2)
    traj = simulate(s, frames=10).traj.copy()
    check_finite(s, traj)  # a real trajectory passes
    traj[7, 2, 3] = np.inf
    with pytest.raises(SimulationError, match=r"objects\[2\] is not finite at frame 7"):
        check_finite(s, traj)
    traj[4, 5, 0] = np.nan
    with pytest.raises(SimulationError, match=r"objects\[5\] is not finite at frame 4"):
        check_finite(s, traj)


def test_scene_validate_refuses_an_absurd_scene_with_one_line(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps(scene(c_velocity=[1e300, 0])))
    one_error_line(cli("scene", "validate", p), "objects[0].velocity[0]", "100000")
    p.write_text(json.dumps(scene(width=1e308)))
    one_error_line(cli("scene", "simulate", p, "--out", tmp_path / "s.npz"), "width")
    assert not (tmp_path / "s.npz").exists()
