"""DIR/metadata.json: what the dataset is and which shards are finished.

Written atomically after every finished shard, so a killed run loses no shard.
It holds nothing about how a run went (no times, workers or hosts): the same
config gives the same metadata bytes whether the data was made in one run,
resumed, or made in parts and merged.
"""

from __future__ import annotations

import json
from pathlib import Path

import physics_llm
from physics_llm.config import to_dict
from physics_llm.data.config import SPLITS, DataConfig
from physics_llm.data.plan import ShardTask, split_counts
from physics_llm.data.shard import FORMAT as SHARD_FORMAT
from physics_llm.data.shard import FORMAT_V1 as SHARD_FORMAT_V1
from physics_llm.data.shard import write_atomic
from physics_llm.errors import UserError
from physics_llm.sim.scene import Scene

META_NAME = "metadata.json"
FORMAT = "physics-llm-dataset/1"
CODEC = "kinematic-residual+zigzag+byteshuffle+zstd (physics_llm/data/codec.py)"


def new_metadata(cfg: DataConfig, tasks: list[ShardTask], sample: Scene) -> dict:
    """Metadata with every planned shard listed and none finished (sha256 null).

    sample: scene 0, for the world constants every scene of the config shares.
    """
    names = ("x", "y", "vx", "vy", "angle", "angular_velocity")
    return {
        "format": FORMAT,
        "code_version": physics_llm.__version__,
        "shard_format": SHARD_FORMAT,
        "config": _jsonable(to_dict(cfg)),
        "complete": False,
        "scenes": cfg.scenes,
        "counts": split_counts(tasks),
        "frames": cfg.frames,
        "dt": sample.dt,
        "substeps": sample.substeps,
        "width": sample.width,
        "height": sample.height,
        "gravity": list(sample.gravity),
        "quantisation": {
            "codec": CODEC,
            "units": dict(zip(names, cfg.units)),
            "max_error": {k: u / 2 for k, u in zip(names, cfg.units)},
            "error_note": "plus float32 rounding of the decoded value; angle error is the wrapped distance",
            "zstd_level": cfg.zstd_level,
        },
        "shards": [{"path": t.path, "split": t.split, "scenes": len(t.indices), "bytes": None, "sha256": None}
                   for t in tasks],
    }


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d))


def meta_path(root: str | Path) -> Path:
    return Path(root) / META_NAME


def load_metadata(root: str | Path) -> dict:
    """UserError if `root` is missing or is not a dataset directory."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: no such dataset directory (make one with `physics-llm data generate`)")
    if not root.is_dir():
        raise UserError(f"{root}: is a file, not a dataset directory")
    p = meta_path(root)
    if not p.exists() and not p.is_symlink():
        raise UserError(f"{root}: not a dataset (no {META_NAME}; make one with `physics-llm data generate`)")
    from physics_llm.io import read_text

    text = read_text(p, "dataset metadata file", MAX_META_BYTES)
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except (ValueError, RecursionError):
        raise UserError(f"{p}: not valid JSON (nested too deeply or a number too long)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{p}: not a physics-llm dataset metadata file (format {FORMAT!r} expected)")
    check_fields(meta, p)
    check_shards(meta, root)
    return meta


MAX_META_BYTES = 256 << 20  # 10 million scenes in shards of 100 take about 15 MB


def check_fields(meta: dict, p: Path) -> None:
    """The fields every reader uses have the right types (a damaged file is one line, not a KeyError)."""
    fix = "the metadata was altered; restore it or regenerate the dataset with `physics-llm data generate`"
    counts = meta.get("counts")
    checks = {
        "complete": isinstance(meta.get("complete"), bool),
        "scenes": _count(meta.get("scenes")),
        "counts": isinstance(counts, dict) and set(counts) <= set(SPLITS) and all(_count(v) for v in counts.values()),
        "config": isinstance(meta.get("config"), dict),
    }
    for field, ok in checks.items():
        if not ok:
            raise UserError(f"{p}: field {field!r} is missing or of the wrong type; {fix}")


def check_shards(meta: dict, root: Path) -> None:
    """Every listed shard is a plain file name inside its split directory, so no reader or writer
    (verify, eval, export, merge, generate) ever touches a path outside the dataset."""
    p = meta_path(root)
    fix = "the metadata was altered; restore it or regenerate the dataset with `physics-llm data generate`"
    shards = meta.get("shards")
    if not isinstance(shards, list):
        raise UserError(f"{p}: field 'shards' must be a list of shard entries, got {type(shards).__name__}; {fix}")
    real_root = root.resolve()
    for i, e in enumerate(shards):
        where = f"{p}: shards[{i}]"
        if not isinstance(e, dict):
            raise UserError(f"{where} must be an object with path, split, scenes, bytes and sha256; {fix}")
        split, path = e.get("split"), e.get("path")
        if split not in SPLITS:
            raise UserError(f"{where}.split must be one of {', '.join(SPLITS)}, got {split!r}; {fix}")
        if not isinstance(path, str):
            raise UserError(f"{where}.path must be a string '{split}/NAME', got {path!r}; {fix}")
        head, _, name = path.partition("/")
        if head != split or not _plain_name(name):
            raise UserError(f"{where}.path {path!r} is not a plain file name inside its split directory "
                            f"('{split}/NAME': no '..', no absolute path, no further '/'); {fix}")
        scenes, size, sha = e.get("scenes"), e.get("bytes"), e.get("sha256")
        if not _count(scenes) or not (size is None or _count(size)) or not (sha is None or isinstance(sha, str)) \
                or (sha and size is None):
            raise UserError(f"{where}: scenes must be a count, bytes a count (null only while sha256 is null) and "
                            f"sha256 a string or null, "
                            f"got scenes {scenes!r}, bytes {size!r}, sha256 {sha!r}; {fix}")
        f = root / path  # a link inside the dataset may point anywhere: it must stay inside
        if (f.is_symlink() or f.parent.is_symlink()) and not f.resolve().is_relative_to(real_root):
            raise UserError(f"{where}.path {path!r} is a symbolic link that leads outside the dataset "
                            f"({f.resolve()}); a shard must be a file inside {root}")


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def save_metadata(root: str | Path, meta: dict) -> None:
    meta["complete"] = all(s["sha256"] for s in meta["shards"])
    write_atomic(meta_path(root), (json.dumps(meta, indent=1) + "\n").encode())


def check_same_config(meta: dict, cfg: DataConfig, where: str | Path) -> None:
    """Refuse to add shards made with another config or code version to a dataset."""
    if meta.get("code_version") != physics_llm.__version__:
        raise UserError(f"{where} was made by physics-llm {meta.get('code_version')} (this is "
                        f"{physics_llm.__version__}); write to a new directory")
    theirs_format = meta.get("shard_format", SHARD_FORMAT_V1)  # datasets made before shard CRCs: format 1
    if theirs_format != SHARD_FORMAT and not meta.get("complete"):
        raise UserError(f"{where} holds shards of format {theirs_format!r} (this physics-llm writes "
                        f"{SHARD_FORMAT!r}, with per-scene CRCs); it stays readable, but new shards cannot be "
                        "added to it: write to a new directory")
    mine = _jsonable(to_dict(cfg))
    theirs = meta.get("config", {})
    for k in sorted(set(mine) | set(theirs)):
        if mine.get(k) != theirs.get(k):
            raise UserError(f"{where} was made with another config ({k}: {theirs.get(k)!r} there, "
                            f"{mine.get(k)!r} now); use a new --out directory or the same config")


def config_of(meta: dict, where: str | Path) -> DataConfig:
    from physics_llm.config import from_dict

    return from_dict(DataConfig, meta["config"], source=f"{where}/{META_NAME}")
