"""`data export-jsonl`: the original system's hybrid format, one scene per line.

    {"index": i, "seed": s, "split": "test",
     "scene": <scene JSON>,
     "frames": [[[x, y, vx, vy, angle, w] per object] per frame],   # (T, N, 6)
     "contacts": [[objects touching during step t -> t+1] per step],  # T-1 lists of indices
     "text": [{"t", "object", "prompt", "target"}, ...]}              # only with --text

Numbers are rounded to the stored precision: 2 decimals for px and px/s, 4 for
rad and rad/s (the default quantisation is 0.01 and 1e-4).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from physics_llm.data.store import open_dataset
from physics_llm.errors import UserError
from physics_llm.io import atomic_open, check_out_file

DECIMALS = (2, 2, 2, 2, 4, 4)  # x, y, vx, vy, angle, angular_velocity


def scene_line(ds, i: int, split: str | None, text_format=None) -> str:
    """One JSONL line (no newline) for item i of the dataset."""
    scene, tr = ds[i]
    row = ds.row(i)
    t = tr.traj.astype(np.float64)
    for c, d in enumerate(DECIMALS):
        t[:, :, c] = np.round(t[:, :, c], d)
    t += 0.0  # -0.0 -> 0.0
    rec = {"index": row.index, "seed": row.seed, "split": split, "scene": scene.to_dict(),
           "frames": t.tolist(), "contacts": [np.flatnonzero(c).tolist() for c in tr.contacts]}
    if text_format is not None:
        from physics_llm.text.views import scene_examples_text

        rec["text"] = scene_examples_text(scene, tr.traj, text_format)
    return json.dumps(rec, separators=(",", ":"))


def export_jsonl(root: str | Path, out: str | Path, split: str | None = None, limit: int | None = None,
                 text: bool = False) -> int:
    """Write the first `limit` scenes of `split` (all when None) to `out`; returns the number written."""
    if limit is not None and limit < 0:
        raise UserError(f"--limit must be >= 0, got {limit}")
    out = Path(out)
    check_out_file(out, "--out")  # a directory, no such place, DS/metadata.json: before anything is read or written
    fmt = None
    if text:
        from physics_llm.text.format import TextFormat

        fmt = TextFormat()
    ds = open_dataset(root, split)
    n = len(ds) if limit is None else min(limit, len(ds))
    splits = [split] * n if split else _split_of_items(ds, n)
    with atomic_open(out, "w") as f:  # streamed: a full dataset's export does not fit in memory
        for i in range(n):
            f.write(scene_line(ds, i, splits[i], fmt) + "\n")
    return n


def _split_of_items(ds, n: int) -> list[str]:
    """The split of each of the first n items of an all-splits dataset (shards are in split order)."""
    out = []
    for s in ds.metadata["shards"]:
        out += [s["split"]] * s["scenes"]
    return out[:n]
