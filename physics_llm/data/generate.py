"""`data generate`: make a dataset's shards, resumably, with W worker processes.

Each shard is a pure function of (config, shard task): its scenes are generated,
simulated, encoded and written to a temp file that is renamed into place, so
any number of workers, any interruption and any `--shard I/N` split give the
same bytes. The parent records each finished shard (size, sha256) in
metadata.json right away; a rerun re-hashes the shards listed there and makes
only the rest.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import sys
import time
from pathlib import Path
from typing import Callable

from physics_llm.data import codec
from physics_llm.data.config import SPLITS, DataConfig
from physics_llm.data.metadata import check_same_config, load_metadata, meta_path, new_metadata, save_metadata
from physics_llm.data.plan import ShardTask, make_scene, plan_shards
from physics_llm.data.shard import build_shard, sha256_file, write_atomic
from physics_llm.errors import UserError


def make_shard(cfg: DataConfig, task: ShardTask, root: Path,
               on_scene: Callable[[], None] | None = None) -> tuple[int, str, int]:
    """Generate, simulate, encode and write one shard; returns (gid, sha256, bytes)."""
    from physics_llm.sim.simulate import simulate

    records = []
    for i in task.indices:
        scene = make_scene(cfg, i)
        tr = simulate(scene)
        try:
            blob = codec.encode(tr.traj, tr.contacts, cfg.units, scene.dt, cfg.zstd_level)
        except ValueError as e:  # a value beyond the quantised range (UserError: it names the config's units)
            raise UserError(f"scene {i} (seed {scene.seed}): {e}") from None
        records.append((i, scene.seed, scene.n, scene.frames, scene.dt, scene.to_json().encode(), blob))
        if on_scene is not None:
            on_scene()
    data = build_shard(records, cfg.units, cfg.zstd_level, task.path)
    write_atomic(root / task.path, data)
    return task.gid, hashlib.sha256(data).hexdigest(), len(data)


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool: one `interrupted` line, no worker tracebacks.
    A shard a worker had half made is only a temp file, removed by the next run."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _make_shard_job(job: tuple[DataConfig, ShardTask, str]) -> tuple[int, str, int]:
    cfg, task, root = job
    return make_shard(cfg, task, Path(root))


def open_for_writing(cfg: DataConfig, root: Path, tasks: list[ShardTask]) -> dict:
    """The dataset's metadata: the existing one if it matches cfg, else a new one (written now)."""
    from physics_llm.io import check_out_dir

    if root.exists() and not root.is_dir():
        raise UserError(f"--out {root}: is a file; give a directory for the dataset")
    check_out_dir(root, "--out")
    if meta_path(root).exists():
        meta = load_metadata(root)
        check_same_config(meta, cfg, root)
        return meta
    if root.exists() and any(root.iterdir()):
        debris = killed_run_debris(root)
        if debris is None:
            raise UserError(f"--out {root}: directory exists, is not empty and holds no dataset; "
                            "give a new or empty directory")
        for p in debris:  # a run killed before its first metadata.json was in place: start it over
            if p.is_dir():
                p.rmdir()
            else:
                p.unlink()
    root.mkdir(parents=True, exist_ok=True)
    meta = new_metadata(cfg, tasks, make_scene(cfg, 0))
    save_metadata(root, meta)
    return meta


def killed_run_debris(root: Path) -> list[Path] | None:
    """What a `data generate` killed before its first metadata.json was renamed into place leaves in `root`:
    temps of metadata.json and of shards (NAME.tmp-PID[.*]) of processes no longer running, and split
    directories holding nothing else; files first, then the directories. None when `root` holds anything
    else (or a temp of a running process), so nothing but such debris is ever removed."""
    from physics_llm.io import pid_alive

    def temp_of_dead(p: Path, name: str) -> bool:
        m = re.fullmatch(re.escape(name) + r"\.tmp-(\d+)(?:\.[^/]*)?", p.name)
        return bool(m) and p.is_file() and not p.is_symlink() and not pid_alive(int(m.group(1)))

    files, dirs = [], []
    for p in root.iterdir():
        if p.name in SPLITS and p.is_dir() and not p.is_symlink():
            inner = list(p.iterdir())
            if not all(re.fullmatch(r"shard-\d+\.shard\.tmp-\d+(?:\.[^/]*)?", q.name)
                       and temp_of_dead(q, q.name.partition(".tmp-")[0]) for q in inner):
                return None
            files += inner
            dirs.append(p)
        elif temp_of_dead(p, meta_path(root).name):
            files.append(p)
        else:
            return None
    return files + dirs


def _finished(root: Path, entry: dict) -> bool:
    """A listed shard whose file still has the recorded size and sha256."""
    if not entry["sha256"]:
        return False
    p = root / entry["path"]
    if p.exists() and p.stat().st_size == entry["bytes"] and sha256_file(p) == entry["sha256"]:
        return True
    print(f"note: {entry['path']} is missing or changed since it was made; making it again", file=sys.stderr)
    entry["sha256"] = entry["bytes"] = None
    return False


def generate_dataset(cfg: DataConfig, out: str | Path, workers: int = 1, part: tuple[int, int] = (0, 1),
                     progress: bool = True) -> dict:
    """Make (or finish) the dataset in `out`; with part=(I, N) only shards whose index % N == I.

    Returns a summary: scenes and shards made, shards skipped, seconds, complete.
    """
    from tqdm import tqdm

    from physics_llm.data.config import MAX_WORKERS

    if not 1 <= workers <= MAX_WORKERS:
        raise UserError(f"--workers must be 1..{MAX_WORKERS}, got {workers}")
    root = Path(out)
    tasks = plan_shards(cfg)
    meta = open_for_writing(cfg, root, tasks)
    for pattern in ("metadata.json.tmp-*", "*/shard-*.tmp-*"):  # left by a killed run, never renamed
        for stale in root.glob(pattern):
            stale.unlink()
    mine = [t for t in tasks if t.gid % part[1] == part[0]]
    todo = [t for t in mine if not _finished(root, meta["shards"][t.gid])]
    save_metadata(root, meta)  # forget shards found broken above

    def record(gid: int, sha: str, size: int) -> None:
        meta["shards"][gid].update(bytes=size, sha256=sha)
        save_metadata(root, meta)

    n_scenes = sum(len(t.indices) for t in todo)
    t0 = time.perf_counter()
    with tqdm(total=n_scenes, unit="scene", desc="generate", file=sys.stderr, disable=not progress) as bar:
        if workers == 1 or len(todo) <= 1:
            for t in todo:
                record(*make_shard(cfg, t, root, on_scene=lambda: bar.update(1)))
        else:
            # spawn: no fork of a parent holding tqdm's monitor thread; workers import only what they use
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(min(workers, len(todo)), initializer=_worker_init) as pool:
                jobs = [(cfg, t, str(root)) for t in todo]
                for gid, sha, size in pool.imap_unordered(_make_shard_job, jobs):
                    record(gid, sha, size)
                    bar.update(len(tasks[gid].indices))
    return {"scenes": n_scenes, "shards": len(todo), "skipped": len(mine) - len(todo),
            "seconds": time.perf_counter() - t0, "complete": meta["complete"],
            "missing": sum(1 for s in meta["shards"] if not s["sha256"])}
