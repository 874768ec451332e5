"""The shard file: many scenes, each its own pair of zstd blobs, behind an offset index.

Layout (little endian):

    bytes 0-7     MAGIC b"PLSHARD1"
    bytes 8-11    uint32 H: length of the header
    bytes 12-     header: UTF-8 JSON {"format", "units", "columns", "rows"}; one row
                  per scene: index (in the dataset), seed, n objects, frames, dt,
                  scene_offset, scene_length, traj_offset, traj_length (offsets
                  count from the first byte after the header)
    then          per scene: zstd(scene JSON), codec.encode(traj, contacts)

Reading scene i costs one header parse per shard (cached by the reader) and the
decompression of scene i's blobs only.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import zstandard

from physics_llm.io import atomic_write_bytes

MAGIC = b"PLSHARD1"
FORMAT = "physics-llm-shard/1"
COLUMNS = ("index", "seed", "n", "frames", "dt", "scene_offset", "scene_length", "traj_offset", "traj_length")
_PREFIX = len(MAGIC) + 4


@dataclass(frozen=True)
class Row:
    """One scene's entry in a shard header."""

    index: int
    seed: int
    n: int
    frames: int
    dt: float
    scene_offset: int
    scene_length: int
    traj_offset: int
    traj_length: int


@dataclass(frozen=True)
class Header:
    units: tuple[float, ...]
    rows: tuple[Row, ...]
    data_start: int  # file offset of the first blob


def build_shard(scenes: list[tuple[int, int, int, int, float, bytes, bytes]], units, level: int) -> bytes:
    """The bytes of a shard file.

    scenes: per scene (index, seed, n, frames, dt, scene JSON bytes, codec blob).
    """
    cctx = zstandard.ZstdCompressor(level=level)
    blobs, rows, pos = [], [], 0
    for index, seed, n, frames, dt, scene_json, traj_blob in scenes:
        sj = cctx.compress(scene_json)
        rows.append([index, seed, n, frames, dt, pos, len(sj), pos + len(sj), len(traj_blob)])
        blobs += [sj, traj_blob]
        pos += len(sj) + len(traj_blob)
    header = json.dumps({"format": FORMAT, "units": list(units), "columns": list(COLUMNS), "rows": rows},
                        separators=(",", ":")).encode()
    return b"".join([MAGIC, struct.pack("<I", len(header)), header, *blobs])


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a unique temp file beside `path`, fsync, then rename: a reader sees all or nothing.
    Only for a dataset's own files (shards, metadata.json): data generate and merge."""
    atomic_write_bytes(path, data, into_dataset=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_header(fd: int, where: str = "shard") -> Header:
    """Parse the header of an open shard (a file descriptor, read with os.pread)."""
    prefix = os.pread(fd, _PREFIX, 0)
    if len(prefix) < _PREFIX or prefix[:len(MAGIC)] != MAGIC:
        raise ValueError(f"{where}: not a physics-llm shard (bad magic)")
    (hlen,) = struct.unpack("<I", prefix[len(MAGIC):])
    raw = os.pread(fd, hlen, _PREFIX)
    if len(raw) != hlen:
        raise ValueError(f"{where}: header truncated ({len(raw)} of {hlen} bytes)")
    try:
        h = json.loads(raw)
        if h["format"] != FORMAT or tuple(h["columns"]) != COLUMNS:
            raise ValueError(f"{where}: format {h['format']!r}, expected {FORMAT!r}")
        rows = tuple(Row(*r) for r in h["rows"])
        units = tuple(float(u) for u in h["units"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{where}: header unreadable ({e})") from None
    return Header(units=units, rows=rows, data_start=_PREFIX + hlen)


def read_blob(fd: int, header: Header, offset: int, length: int, where: str = "shard") -> bytes:
    data = os.pread(fd, length, header.data_start + offset)
    if len(data) != length:
        raise ValueError(f"{where}: truncated (blob at {offset} has {len(data)} of {length} bytes)")
    return data
