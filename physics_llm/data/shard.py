"""The shard file: many scenes, each its own pair of zstd blobs, behind an offset index.

Layout (little endian), format 2 (what `data generate` writes):

    bytes 0-7     MAGIC b"PLSHARD2"
    bytes 8-11    uint32 H: length of the header
    bytes 12-15   uint32 CRC-32 of the header bytes
    bytes 16-     header: UTF-8 JSON {"format", "path", "units", "columns", "rows"}; "path" is
                  the shard's own path in its dataset (`test/shard-00000.shard`), so a shard
                  swapped for another is caught; one row per scene: index (in the dataset),
                  seed, n objects, frames, dt, scene_offset, scene_length, traj_offset,
                  traj_length, scene_crc32, traj_crc32 (offsets count from the first byte
                  after the header; the CRC-32s are of the stored blob bytes)
    then          per scene: zstd(scene JSON), codec.encode(traj, contacts)

Every reader checks the header's CRC when it parses it and each blob's CRC before it
decodes the blob, so one flipped bit anywhere is refused (ShardError, pointing to
`data verify`) instead of decoding to a wrong trajectory. Format 1 (b"PLSHARD1": no header
CRC, no path, no blob CRCs; bytes 12- are the header) is still read: store.py checks such a
shard's whole sha256 against metadata.json when it first opens it instead.

Reading scene i costs one header parse per shard (cached by the reader) and the
decompression of scene i's blobs only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import zstandard

from physics_llm.errors import UserError
from physics_llm.io import atomic_write_bytes

MAGIC = b"PLSHARD2"
FORMAT = "physics-llm-shard/2"
COLUMNS = ("index", "seed", "n", "frames", "dt", "scene_offset", "scene_length", "traj_offset", "traj_length",
           "scene_crc32", "traj_crc32")
_PREFIX = len(MAGIC) + 8
MAGIC_V1 = b"PLSHARD1"
FORMAT_V1 = "physics-llm-shard/1"
COLUMNS_V1 = COLUMNS[:9]
_PREFIX_V1 = len(MAGIC_V1) + 4
MAX_HEADER = 256 << 20  # bytes: a shard of 100 scenes has a header of about 10 KB
MAX_SCENE_JSON = 16 << 20  # bytes of one decompressed scene JSON (500 objects take about 100 KB)


class ShardError(UserError, ValueError):
    """A shard that is damaged, truncated or not a shard: one line, never a traceback."""


@dataclass(frozen=True)
class Row:
    """One scene's entry in a shard header (the CRCs are None in a format-1 shard)."""

    index: int
    seed: int
    n: int
    frames: int
    dt: float
    scene_offset: int
    scene_length: int
    traj_offset: int
    traj_length: int
    scene_crc32: int | None = None
    traj_crc32: int | None = None


@dataclass(frozen=True)
class Header:
    units: tuple[float, ...]
    rows: tuple[Row, ...]
    data_start: int  # file offset of the first blob
    version: int = 2
    path: str | None = None  # the shard's path in its dataset (format 2)


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def build_shard(scenes: list[tuple[int, int, int, int, float, bytes, bytes]], units, level: int,
                path: str) -> bytes:
    """The bytes of a shard file whose path in its dataset is `path`.

    scenes: per scene (index, seed, n, frames, dt, scene JSON bytes, codec blob).
    """
    cctx = zstandard.ZstdCompressor(level=level)
    blobs, rows, pos = [], [], 0
    for index, seed, n, frames, dt, scene_json, traj_blob in scenes:
        sj = cctx.compress(scene_json)
        rows.append([index, seed, n, frames, dt, pos, len(sj), pos + len(sj), len(traj_blob),
                     crc32(sj), crc32(traj_blob)])
        blobs += [sj, traj_blob]
        pos += len(sj) + len(traj_blob)
    header = json.dumps({"format": FORMAT, "path": path, "units": list(units), "columns": list(COLUMNS),
                         "rows": rows}, separators=(",", ":")).encode()
    return b"".join([MAGIC, struct.pack("<II", len(header), crc32(header)), header, *blobs])


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


def _int(v, lo: int = 0, hi: int | None = None) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)


def _row(r, columns: tuple[str, ...], where: str, k: int) -> Row:
    from physics_llm.sim.scene import MAX_FRAMES, MAX_OBJECTS

    if not isinstance(r, list) or len(r) != len(columns):
        raise ShardError(f"{where}: header row {k} is not a list of {len(columns)} values")
    v = dict(zip(columns, r))
    ok = (_int(v["index"]) and _int(v["seed"]) and _int(v["n"], 1, MAX_OBJECTS) and _int(v["frames"], 2, MAX_FRAMES)
          and isinstance(v["dt"], (int, float)) and not isinstance(v["dt"], bool) and math.isfinite(v["dt"])
          and v["dt"] > 0 and all(_int(v[c]) for c in ("scene_offset", "scene_length", "traj_offset", "traj_length"))
          and all(_int(v[c], 0, 0xFFFFFFFF) for c in ("scene_crc32", "traj_crc32") if c in v))
    if not ok:
        raise ShardError(f"{where}: header row {k} has a value out of range ({r!r})")
    return Row(**v)


def read_header(fd: int, where: str = "shard") -> Header:
    """Parse the header of an open shard (a file descriptor, read with os.pread). ShardError if it is
    not a shard, is truncated, or its header fails its CRC or does not parse."""
    prefix = os.pread(fd, _PREFIX, 0)
    magic = prefix[:len(MAGIC)]
    if magic == MAGIC and len(prefix) == _PREFIX:
        version, (hlen, crc), start = 2, struct.unpack("<II", prefix[len(MAGIC):]), _PREFIX
    elif magic == MAGIC_V1 and len(prefix) >= _PREFIX_V1:
        version, (hlen,), crc, start = 1, struct.unpack("<I", prefix[len(MAGIC):_PREFIX_V1]), None, _PREFIX_V1
    else:
        raise ShardError(f"{where}: not a physics-llm shard (bad magic)")
    if hlen > MAX_HEADER:
        raise ShardError(f"{where}: header length {hlen} is out of range (damaged)")
    raw = os.pread(fd, hlen, start)
    if len(raw) != hlen:
        raise ShardError(f"{where}: header truncated ({len(raw)} of {hlen} bytes)")
    if crc is not None and crc32(raw) != crc:
        raise ShardError(f"{where}: header damaged (CRC-32 mismatch)")
    fmt, columns = (FORMAT, COLUMNS) if version == 2 else (FORMAT_V1, COLUMNS_V1)
    try:
        h = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ShardError(f"{where}: header unreadable ({str(e)[:120]})") from None
    if not isinstance(h, dict) or h.get("format") != fmt or h.get("columns") != list(columns):
        got = h.get("format") if isinstance(h, dict) else type(h).__name__
        raise ShardError(f"{where}: format {got!r}, expected {fmt!r}")
    rows, units, path = h.get("rows"), h.get("units"), h.get("path")
    if not isinstance(rows, list) or not isinstance(units, list) or len(units) != 6 or not all(
            isinstance(u, (int, float)) and not isinstance(u, bool) and math.isfinite(u) and u > 0 for u in units):
        raise ShardError(f"{where}: header unreadable (rows must be a list, units six numbers > 0)")
    if version == 2 and not isinstance(path, str):
        raise ShardError(f"{where}: header unreadable (no path)")
    return Header(units=tuple(float(u) for u in units), rows=tuple(_row(r, columns, where, k) for k, r in
                  enumerate(rows)), data_start=start + hlen, version=version, path=path)


def read_blob(fd: int, header: Header, offset: int, length: int, where: str = "shard",
              crc: int | None = None) -> bytes:
    """The stored bytes of one blob; ShardError if short or (with crc) not matching its CRC-32."""
    data = os.pread(fd, length, header.data_start + offset)
    if len(data) != length:
        raise ShardError(f"{where}: truncated (blob at {offset} has {len(data)} of {length} bytes)")
    if crc is not None and crc32(data) != crc:
        raise ShardError(f"{where}: blob at {offset} damaged (CRC-32 mismatch)")
    return data


def scene_json(blob: bytes, dctx: zstandard.ZstdDecompressor, where: str = "shard") -> bytes:
    """Decompress a stored scene blob (bounded: a blob claiming more than MAX_SCENE_JSON is refused)."""
    size = zstandard.frame_content_size(blob) if len(blob) >= 4 else -1
    if size > MAX_SCENE_JSON:
        raise ShardError(f"{where}: a scene blob claims {size} bytes (damaged)")
    return dctx.decompress(blob, max_output_size=MAX_SCENE_JSON)
