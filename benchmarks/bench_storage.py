"""Bytes per scene of candidate storage formats, stored-value error, random-access reads/s.

Makes a real dataset of default-distribution scenes (200 frames, 10-50 objects)
with `generate_dataset`, re-simulates each stored scene for the float32 truth,
and sizes every candidate on the same trajectories in the same run:

    JSONL 1 decimal       the original system's kind of line: scene JSON + frames as text
    npz float32           np.savez_compressed of traj (T,N,6) float32 + contacts
    int32 + zstd          quantised (0.01 px, 0.01 px/s, 1e-4 rad, 1e-4 rad/s), zstd 3
    time delta + zstd     ... differenced along time
    delta + shuffle       ... zigzag, byte-shuffled planes
    kinematic (chosen)    ... positions minus the velocity prediction (codec.py), zstd 3 / 9 / 19
    shard file            the real files: everything above plus scene JSON, header, metadata

    python benchmarks/bench_storage.py [--scenes 50] [--reads 1000]
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import zstandard

from physics_llm.data import codec
from physics_llm.data.config import DataConfig
from physics_llm.data.generate import generate_dataset
from physics_llm.data.store import open_dataset
from physics_llm.sim.simulate import simulate
from physics_llm.sim.state import wrap_angle


def jsonl_1dp(scene, tr) -> int:
    frames = np.round(tr.traj.astype(np.float64), 1).tolist()
    return len(json.dumps({"scene": scene.to_dict(), "frames": frames,
                           "contacts": tr.contacts.astype(int).tolist()}).encode()) + 1


def npz_f32(scene, tr) -> int:
    buf = io.BytesIO()
    np.savez_compressed(buf, traj=tr.traj, contacts=tr.contacts)
    return len(buf.getvalue())


def _shuffle(z: np.ndarray) -> bytes:
    return np.ascontiguousarray(z.astype("<u4").reshape(-1).view(np.uint8).reshape(-1, 4).T).tobytes()


def _bits(tr) -> bytes:
    return np.packbits(np.ascontiguousarray(tr.contacts.T)).tobytes()


def int32_zstd(q, tr, units, dt) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(q.astype("<i4").tobytes() + _bits(tr))


def delta_zstd(q, tr, units, dt) -> bytes:
    d = np.diff(q.transpose(2, 1, 0), axis=2, prepend=0)
    return zstandard.ZstdCompressor(level=3).compress(d.astype("<i4").tobytes() + _bits(tr))


def delta_shuffle(q, tr, units, dt) -> bytes:
    d = np.diff(q.transpose(2, 1, 0), axis=2, prepend=0)
    return zstandard.ZstdCompressor(level=3).compress(_shuffle(codec._zigzag(d)) + _bits(tr))


def kinematic(level):
    def enc(q, tr, units, dt) -> bytes:
        return codec.encode(tr.traj, tr.contacts, units, dt, level)
    return enc


CANDIDATES = {
    "int32 + zstd": int32_zstd,
    "time delta + zstd": delta_zstd,
    "delta + zigzag + shuffle + zstd": delta_shuffle,
    "kinematic (chosen), zstd 3": kinematic(3),
    "kinematic, zstd 9": kinematic(9),
    "kinematic, zstd 19": kinematic(19),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=50)
    ap.add_argument("--reads", type=int, default=1000, help="random-access reads to time")
    args = ap.parse_args()
    cfg = DataConfig(scenes=args.scenes, shard_size=25)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ds"
        generate_dataset(cfg, root, progress=False)
        ds = open_dataset(root)
        shard_bytes = sum(s["bytes"] for s in ds.metadata["shards"]) + (root / "metadata.json").stat().st_size
        sizes = {k: 0 for k in ("JSONL 1 decimal", "npz float32", *CANDIDATES)}
        secs = {k: 0.0 for k in CANDIDATES}
        err = np.zeros(6)
        objects = 0
        for i in range(len(ds)):
            scene, stored = ds[i]
            tr = simulate(scene)
            objects += scene.n
            e = np.abs(stored.traj.astype(np.float64) - tr.traj).reshape(-1, 6).max(0)
            e[4] = np.abs(wrap_angle(stored.traj[..., 4].astype(np.float64) - tr.traj[..., 4])).max()
            err = np.maximum(err, e)
            assert (stored.contacts == tr.contacts).all()
            sizes["JSONL 1 decimal"] += jsonl_1dp(scene, tr)
            sizes["npz float32"] += npz_f32(scene, tr)
            q = codec.quantise(tr.traj, cfg.units)
            for name, fn in CANDIDATES.items():
                t0 = time.perf_counter()
                sizes[name] += len(fn(q, tr, cfg.units, scene.dt))
                secs[name] += time.perf_counter() - t0
        n = len(ds)
        jsonl, npz = sizes["JSONL 1 decimal"] / n, sizes["npz float32"] / n
        print(f"{n} default scenes, {objects / n:.1f} objects on average, {cfg.frames} frames")
        print(f"{'format':34s} {'KB/scene':>9s} {'vs JSONL':>9s} {'vs npz':>8s} {'encode ms':>10s}")
        rows = [(k, v / n, secs.get(k)) for k, v in sizes.items()] + [("shard files (all included)", shard_bytes / n, None)]
        for name, b, s in rows:
            ms = f"{s / n * 1e3:10.2f}" if s is not None else " " * 10
            print(f"{name:34s} {b / 1e3:9.1f} {jsonl / b:8.1f}x {npz / b:7.1f}x {ms}")
        print(f"max stored error: {err[0]:.4f} / {err[1]:.4f} px, {err[2]:.4f} / {err[3]:.4f} px/s, "
              f"{err[4]:.2e} rad, {err[5]:.2e} rad/s (target 0.01 px, 0.01 px/s)")

        rng = np.random.default_rng(0)
        order = rng.integers(0, n, size=args.reads)
        fresh = open_dataset(root)  # shard headers read on first use, as in a new training process
        for what, read in (("ds[i] (scene + trajectory)", fresh.__getitem__), ("ds.scene(i)", fresh.scene)):
            t0 = time.perf_counter()
            for i in order:
                read(int(i))
            dt = time.perf_counter() - t0
            print(f"random access {what}: {args.reads / dt:,.0f} reads/s ({dt / args.reads * 1e3:.2f} ms each)")


if __name__ == "__main__":
    main()
