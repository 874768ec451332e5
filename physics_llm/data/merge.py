"""`data merge --out DIR PART...`: combine `--shard I/N` parts into one dataset.

Parts made with the same config hold disjoint shards of the same plan; merging
copies each finished shard (checked against its part's sha256) and records it,
so the result has the bytes of a single-machine run. `--out` may be a new
directory, or an existing dataset of the same config (one of the parts, say).
Shards no part has stay missing: `data generate` into the merged directory
makes them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from physics_llm.data.generate import open_for_writing
from physics_llm.data.metadata import check_same_config, config_of, load_metadata, save_metadata
from physics_llm.data.plan import plan_shards
from physics_llm.data.shard import write_atomic
from physics_llm.errors import UserError


def _same_file(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and os.path.samefile(a, b)


def merge_datasets(out: str | Path, parts: list[str | Path]) -> dict:
    """Copy the parts' finished shards into `out`; returns {copied, complete, missing}."""
    if not parts:
        raise UserError("data merge: give at least one PART_DIR")
    metas = [(Path(p), load_metadata(p)) for p in parts]
    cfg = config_of(metas[0][1], metas[0][0])
    for root, m in metas:  # the first too: its code version
        check_same_config(m, cfg, root)
    out = Path(out)
    meta = open_for_writing(cfg, out, plan_shards(cfg))
    copied = 0
    for gid, entry in enumerate(meta["shards"]):
        sources = [(root, m["shards"][gid]) for root, m in metas if m["shards"][gid]["sha256"]]
        shas = {src["sha256"] for _, src in sources} | ({entry["sha256"]} if entry["sha256"] else set())
        if len(shas) > 1:
            raise UserError(f"{entry['path']} differs between the parts (sha256 {', '.join(sorted(shas))}); "
                            "they were not made by the same code; remake one part")
        if entry["sha256"] or not sources:
            continue
        root, src = sources[0]
        src_path, dst_path = root / src["path"], out / entry["path"]
        if not _same_file(src_path, dst_path):
            if not src_path.exists():
                raise UserError(f"{src_path}: missing, though {root}/metadata.json lists it; remake that part")
            data = src_path.read_bytes()
            if hashlib.sha256(data).hexdigest() != src["sha256"]:
                raise UserError(f"{src_path}: altered or truncated (sha256 differs from its metadata); "
                                "run `data generate` with the same --shard into that part to repair it")
            write_atomic(dst_path, data)
            copied += 1
        entry.update(bytes=src["bytes"], sha256=src["sha256"])
        save_metadata(out, meta)
    save_metadata(out, meta)
    return {"copied": copied, "complete": meta["complete"],
            "missing": sum(1 for s in meta["shards"] if not s["sha256"])}
