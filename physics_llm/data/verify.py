"""`data verify` and `data info`: check a dataset against its metadata, and describe it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import zstandard

from physics_llm.data import codec
from physics_llm.data.metadata import load_metadata, meta_path
from physics_llm.data.shard import read_blob, read_header, scene_json, sha256_file
from physics_llm.errors import UserError


def check_shard(root: Path, entry: dict, decode: bool = True) -> str | None:
    """The problem with one listed shard, or None when it is fine."""
    p = root / entry["path"]
    if not entry["sha256"]:
        return f"{entry['path']}: not made yet (rerun `data generate` with the same config)"
    if not p.exists():
        return f"{entry['path']}: missing"
    size = p.stat().st_size
    if size != entry["bytes"]:
        how = "truncated" if size < entry["bytes"] else "grown"
        return f"{entry['path']}: {how} ({size} bytes, metadata says {entry['bytes']})"
    if sha256_file(p) != entry["sha256"]:
        return f"{entry['path']}: altered (sha256 differs from metadata)"
    if not decode:
        return None
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError as e:
        return f"{entry['path']}: cannot be read ({e.strerror})"
    try:
        header = read_header(fd, entry["path"])
        if header.version >= 2 and header.path != entry["path"]:
            return f"{entry['path']}: holds the shard {header.path!r} (swapped)"
        if len(header.rows) != entry["scenes"]:
            return f"{entry['path']}: holds {len(header.rows)} scenes, metadata says {entry['scenes']}"
        dctx = zstandard.ZstdDecompressor()
        for r in header.rows:
            json.loads(scene_json(read_blob(fd, header, r.scene_offset, r.scene_length, entry["path"],
                                            r.scene_crc32), dctx, entry["path"]))
            tr = codec.decode(read_blob(fd, header, r.traj_offset, r.traj_length, entry["path"], r.traj_crc32),
                              r.n, r.frames, header.units, r.dt, dctx)
            if not np.isfinite(tr.traj).all():
                return f"{entry['path']}: scene {r.index} decodes to non-finite values"
    except (ValueError, RecursionError, zstandard.ZstdError) as e:  # ShardError is a ValueError
        return f"{entry['path']}: cannot decode ({e})"
    finally:
        os.close(fd)
    return None


def verify_dataset(root: str | Path, progress: bool = True) -> tuple[list[str], int, int]:
    """(problems, shards checked, scenes checked). UserError if root is not a dataset."""
    from tqdm import tqdm

    root = Path(root)
    meta = load_metadata(root)
    problems = []
    for entry in tqdm(meta["shards"], unit="shard", desc="verify", file=sys.stderr, disable=not progress):
        problem = check_shard(root, entry)
        if problem:
            problems.append(problem)
    return problems, len(meta["shards"]), sum(s["scenes"] for s in meta["shards"])


def dataset_info(root: str | Path) -> str:
    """Counts per split, size on disk, bytes per scene and the config, as printable lines."""
    root = Path(root)
    meta = load_metadata(root)
    try:
        return _info(root, meta)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{meta_path(root)}: a field info needs is missing or of the wrong type ({type(e).__name__}: "
                        f"{str(e)[:80]}); restore it or regenerate the dataset with `physics-llm data generate`") from None


def _info(root: Path, meta: dict) -> str:
    shards = meta["shards"]
    made = [s for s in shards if s["sha256"]]
    disk = sum((root / s["path"]).stat().st_size for s in made if (root / s["path"]).is_file())
    disk += meta_path(root).stat().st_size
    n_made = sum(s["scenes"] for s in made)
    lines = [f"dataset {root}: {meta['scenes']} scenes, "
             + ("complete" if meta["complete"] else f"INCOMPLETE: {len(made)} of {len(shards)} shards made")]
    for split, count in meta["counts"].items():
        k = sum(1 for s in shards if s["split"] == split)
        lines.append(f"  {split:5s} {count:8d} scenes in {k} shard(s)")
    per_scene = f", {disk / n_made / 1e3:.1f} KB per scene" if n_made else ""
    lines.append(f"size on disk: {disk / 1e6:.2f} MB{per_scene}")
    lines.append(f"world {meta['width']:g}x{meta['height']:g}, dt {meta['dt']:.6g} s, {meta['frames']} frames, "
                 f"{meta['substeps']} substeps, gravity {meta['gravity']}")
    q = meta["quantisation"]
    lines.append("quantisation: " + ", ".join(f"{k} {v:g}" for k, v in q["units"].items())
                 + f"; zstd level {q['zstd_level']}")
    lines.append("config: " + ", ".join(f"{k}={v}" for k, v in meta["config"].items()))
    lines.append(f"made by physics-llm {meta['code_version']}")
    return "\n".join(lines)
