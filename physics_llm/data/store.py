"""Read a dataset: `open_dataset(DIR, split)` -> random access to (Scene, Trajectory).

    ds = open_dataset("data/ds", split="test")
    len(ds); scene, tr = ds[i]      # tr.traj (T, N, 6) float32, angle wrapped; tr.contacts (T-1, N) bool
    ds.scene(i)                     # the Scene only (no trajectory decode)
    ds.metadata, ds.splits

Items are numbered 0..len-1 within the chosen split (or across train, val, test
when split is None), in the order of the dataset's scene indices. Shard headers
are read once, on first use; each item reads and decompresses only its own
blobs. Files are read with os.pread, so a Dataset shared by forked DataLoader
workers is safe; pickling drops the open files.

Nothing damaged is decoded silently: each blob's CRC-32 is checked before it is decoded,
a shard's header must name the shard's own path and hold the scenes metadata.json says,
and a format-1 shard (no CRCs) must match its metadata sha256 when first opened. Anything
else raises a UserError naming the shard and pointing to `physics-llm data verify`.
"""

from __future__ import annotations

import bisect
import json
import os
from pathlib import Path

import zstandard

from physics_llm.data import codec
from physics_llm.data.config import SPLITS
from physics_llm.data.metadata import load_metadata
from physics_llm.data.shard import Header, Row, ShardError, read_blob, read_header, scene_json, sha256_file
from physics_llm.errors import UserError
from physics_llm.sim.scene import Scene
from physics_llm.sim.state import Trajectory


class Dataset:
    def __init__(self, root: str | Path, split: str | None = None):
        self.root = Path(root)
        self.metadata = load_metadata(self.root)
        if not self.metadata["complete"]:
            missing = sum(1 for s in self.metadata["shards"] if not s["sha256"])
            raise UserError(f"{self.root}: incomplete dataset ({missing} shard(s) not made yet); rerun "
                            "`physics-llm data generate` with the same config, or `data merge` the parts")
        if split is not None and split not in SPLITS:
            raise UserError(f"split must be one of {', '.join(SPLITS)} (or None for all), got {split!r}")
        self.split = split
        self.splits = [s for s in SPLITS if self.metadata["counts"].get(s, 0) > 0]
        self._shards = [s for s in self.metadata["shards"] if split is None or s["split"] == split]
        self._starts = [0]
        for s in self._shards:
            self._starts.append(self._starts[-1] + s["scenes"])
        self._headers: dict[int, Header] = {}
        self._fds: dict[int, int] = {}
        self._pid = os.getpid()
        self._dctx = zstandard.ZstdDecompressor()

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, i: int) -> tuple[Scene, Trajectory]:
        k, row, fd, header = self._locate(i)
        return self._scene(fd, header, row, k), self._traj(fd, header, row, k)

    def scene(self, i: int) -> Scene:
        k, row, fd, header = self._locate(i)
        return self._scene(fd, header, row, k)

    def trajectory(self, i: int) -> Trajectory:
        k, row, fd, header = self._locate(i)
        return self._traj(fd, header, row, k)

    def row(self, i: int) -> Row:
        """Item i's header row: index in the dataset, seed, n objects, frames, dt, blob offsets."""
        return self._locate(i)[1]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, split={self.split!r}, scenes={len(self)})"

    # ------------------------------------------------------------ internals

    def _where(self, k: int) -> str:
        return str(self.root / self._shards[k]["path"])

    def _damaged(self, k: int, problem: str) -> UserError:
        return UserError(f"{problem}; the dataset is damaged: run `physics-llm data verify {self.root}`, then "
                         f"remake its bad shards with `physics-llm data generate` (same config and --out)")

    def _locate(self, i: int) -> tuple[int, Row, int, Header]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"scene {i} out of range for {n} scenes")
        i %= n
        k = bisect.bisect_right(self._starts, i) - 1
        fd = self._fd(k)
        header = self._headers.get(k)
        if header is None:
            header = self._headers[k] = self._read_header(fd, k)
        return k, header.rows[i - self._starts[k]], fd, header

    def _read_header(self, fd: int, k: int) -> Header:
        entry, where = self._shards[k], self._where(k)
        try:
            size = os.fstat(fd).st_size
            if entry.get("bytes") is not None and size != entry["bytes"]:
                raise ShardError(f"{where}: {'truncated' if size < entry['bytes'] else 'grown'} ({size} bytes, "
                                 f"metadata.json says {entry['bytes']})")
            header = read_header(fd, where)
            if header.version == 1 and sha256_file(Path(where)) != entry["sha256"]:  # no CRCs: the whole file
                raise ShardError(f"{where}: altered (sha256 differs from metadata.json)")
            if header.version >= 2 and header.path != entry["path"]:
                raise ShardError(f"{where}: holds the shard {header.path!r}, not {entry['path']!r} (swapped)")
            if len(header.rows) != entry["scenes"]:
                raise ShardError(f"{where}: holds {len(header.rows)} scenes, metadata.json says {entry['scenes']}")
        except (ShardError, OSError) as e:
            raise self._damaged(k, str(e)) from None
        return header

    def _fd(self, k: int) -> int:
        if self._pid != os.getpid():  # forked: the descriptors are shared but pread needs no position
            self._pid = os.getpid()
            self._dctx = zstandard.ZstdDecompressor()
        fd = self._fds.get(k)
        if fd is None:
            try:
                fd = self._fds[k] = os.open(self._where(k), os.O_RDONLY)
            except FileNotFoundError:
                raise UserError(f"{self._where(k)}: shard missing (run `physics-llm data verify "
                                f"{self.root}`)") from None
            except OSError as e:  # a directory, no permission, ...
                raise UserError(f"{self._where(k)}: cannot read the shard ({e.strerror}); run `physics-llm "
                                f"data verify {self.root}`") from None
        return fd

    def _scene(self, fd: int, header: Header, row: Row, k: int) -> Scene:
        where = self._where(k)
        try:
            blob = read_blob(fd, header, row.scene_offset, row.scene_length, where, row.scene_crc32)
            d = json.loads(scene_json(blob, self._dctx, where))
            # Stored scenes were validated when generated; the overlap check needs Pymunk and is slow.
            scene = Scene.from_dict(d, check_geometry=False)
        except ShardError as e:
            raise self._damaged(k, f"{e} (scene {row.index})") from None
        except (ValueError, RecursionError, zstandard.ZstdError, UserError) as e:  # SceneError is a UserError
            raise self._damaged(k, f"{where}: scene {row.index} cannot be read ({str(e)[:200]})") from None
        if scene.n != row.n:
            raise self._damaged(k, f"{where}: scene {row.index} has {scene.n} objects, its header row {row.n}")
        return scene

    def _traj(self, fd: int, header: Header, row: Row, k: int) -> Trajectory:
        where = self._where(k)
        try:
            blob = read_blob(fd, header, row.traj_offset, row.traj_length, where, row.traj_crc32)
            return codec.decode(blob, row.n, row.frames, header.units, row.dt, self._dctx)
        except ShardError as e:
            raise self._damaged(k, f"{e} (scene {row.index}'s trajectory)") from None
        except (ValueError, zstandard.ZstdError) as e:
            raise self._damaged(k, f"{where}: scene {row.index}'s trajectory cannot be read ({str(e)[:200]})") from None

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: os may already be gone
            pass

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_fds={}, _dctx=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._dctx = zstandard.ZstdDecompressor()


def open_dataset(root: str | Path, split: str | None = None) -> Dataset:
    """A complete dataset directory's scenes of one split (None: all splits). UserError if not a dataset."""
    return Dataset(root, split)
