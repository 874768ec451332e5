"""Atomic file writes: the one way physics-llm writes a file a user named (--out, --gif, ...).

The data goes to a temp file in the target's own directory, named NAME.tmp-PID.RANDOM and
created exclusively (tempfile.mkstemp: O_CREAT | O_EXCL), so a symlink planted beside the
target is never followed and two writers never share a temp. The temp is fsynced, then
os.replace'd onto the target (which replaces a symlink at the target itself, never what it
points to): a reader sees the old file or the new one, never half of one. On any error the
temp is removed. A writer killed outright (SIGKILL) cannot clean up, so every write first
removes the temps of its target left by processes that no longer run.

No writer writes into a dataset directory (one holding a physics-llm metadata.json) unless it
says into_dataset=True (data generate and merge do): `export-jsonl --out DS/metadata.json` or a
GIF over a shard would destroy the dataset. The check comes before anything is written.

    atomic_write_bytes(path, data)
    atomic_write_text(path, text)
    with atomic_open(path, "w", newline="") as f: ...   # streamed writers (JSONL, CSV)
    with atomic_path(path, suffix=".png") as tmp: ...   # writers that need a file name (PIL, pygame)
    with atomic_dir(path) as tmp: ...                   # a directory that appears whole (reports)
    swap_dir(path, fill)                                # a directory replaced whole (checkpoints, adapters)
    recover_dir(path, complete)                         # ... and put right after a kill part way through

Reading a file a user named (a scene, a config): read_text(path, "scene file", max_bytes) refuses a
missing path, a directory, a device or pipe, an unreadable, oversized or binary (not UTF-8) file
with one UserError line, before parsing; check_out_file(path, "--out") refuses an output path
that cannot be written (a directory, a parent that is a file, no permission) before any work.

Kill tests: PHYSICS_LLM_FAULT=POINT[:NAME[:N]] makes this process SIGKILL itself the Nth time
(default the first) it reaches POINT for a target named NAME (any name when left out), leaving
exactly what a kill there leaves. Points: `write` (an atomic write's temp is whole, not yet
renamed), `swap-filled` (swap_dir's temp directory is whole, nothing renamed yet) and `swap-moved`
(the old directory renamed away, the new one not yet in its place).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator

FAULT_ENV = "PHYSICS_LLM_FAULT"
_FAULT_SEEN: dict[tuple[str, str], int] = {}


def fault(point: str, name: str) -> None:
    """The kill-test hook (see the module docstring): SIGKILL this process if $PHYSICS_LLM_FAULT asks for it here."""
    want = os.environ.get(FAULT_ENV)
    if not want:
        return
    w_point, _, rest = want.partition(":")
    w_name, _, w_n = rest.partition(":")
    if w_point != point or (w_name and w_name != name):
        return
    key = (point, name)
    _FAULT_SEEN[key] = _FAULT_SEEN.get(key, 0) + 1
    if _FAULT_SEEN[key] == (int(w_n) if w_n.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
_MODE = 0o666 & ~_UMASK  # what open() would give a new file (mkstemp's is 0600)


DATASET_META = "metadata.json"  # physics_llm/data/metadata.py's META_NAME and FORMAT, without importing data/
DATASET_FORMAT = "physics-llm-dataset/1"


def _is_dataset(d: Path) -> bool:
    m = d / DATASET_META
    if not m.is_file():
        return False
    try:
        fmt = json.loads(m.read_text()).get("format")
    except (OSError, ValueError, AttributeError):  # unreadable or damaged: a dataset if it has split directories
        return any((d / s).is_dir() for s in ("train", "val", "test"))
    return fmt == DATASET_FORMAT


def dataset_containing(path: str | Path, directory: bool = False) -> Path | None:
    """The dataset directory a file written at `path` (or, with directory, into the directory `path`)
    would land in, at any depth, or None."""
    p = Path(path).absolute()
    d = (p if directory else p.parent).resolve()  # links resolved: where the file really goes
    return next((a for a in (d, *d.parents) if _is_dataset(a)), None)


def refuse_dataset_target(path: str | Path, what: str = "", directory: bool = False) -> None:
    """UserError if writing `path` would write into a dataset directory (what: the flag, e.g. '--out';
    directory: `path` is a directory to write files into, such as a run or a report)."""
    root = dataset_containing(path, directory)
    if root is not None:
        from physics_llm.errors import UserError

        name = f"{what} {path}" if what else str(path)
        raise UserError(f"{name}: is inside the dataset directory {root}; writing there could overwrite the "
                        f"dataset's files: choose a path outside it")


def temp_prefix(path: Path, hidden: bool = False) -> str:
    return f"{'.' if hidden else ''}{path.name}.tmp-{os.getpid()}."


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale(path: Path) -> None:
    """Remove NAME.tmp-PID[.*] (and hidden .NAME.tmp-PID[.*]) beside `path` whose process is gone.

    Only that naming is touched (older releases used NAME.tmp-PID); a symlink is unlinked, never followed."""
    path = Path(path)
    pattern = re.compile(r"\.?" + re.escape(path.name) + r"\.tmp-(\d+)(?:\.[^/]*)?")
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for e in entries:
        m = pattern.fullmatch(e.name)
        if not m or int(m.group(1)) == os.getpid() or pid_alive(int(m.group(1))):
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path, ignore_errors=True)
            else:
                os.unlink(e.path)
        except OSError:
            pass


def _fsync_path(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(d: Path) -> None:
    try:
        _fsync_path(d)
    except OSError:  # not every filesystem lets a directory be opened or synced
        pass


def _mkstemp(path: Path, suffix: str = "", into_dataset: bool = False) -> tuple[int, Path]:
    if not into_dataset:
        refuse_dataset_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, _MODE)
    except OSError:
        pass
    return fd, Path(name)


def _commit(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, into_dataset: bool = False, **kw) -> Iterator[IO]:
    """An open file on a fresh temp; closed, fsynced and renamed onto `path` when the block ends."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a new file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    fd, tmp = _mkstemp(path, into_dataset=into_dataset)
    try:
        with os.fdopen(fd, mode, **kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        fault("write", path.name)
        _commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, into_dataset: bool = False) -> None:
    with atomic_open(path, "wb", into_dataset=into_dataset) as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8", *, into_dataset: bool = False) -> None:
    with atomic_open(path, "w", encoding=encoding, into_dataset=into_dataset) as f:
        f.write(text)


@contextmanager
def atomic_path(path: str | Path, suffix: str = "", *, into_dataset: bool = False) -> Iterator[Path]:
    """The name of a fresh, empty temp file (ending in `suffix`, for writers that pick the format by
    extension) for a writer to write to by name; fsynced and renamed onto `path` when the block ends."""
    path = Path(path)
    fd, tmp = _mkstemp(path, suffix, into_dataset)
    os.close(fd)
    try:
        yield tmp
        _fsync_path(tmp)
        _commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temp_dir(path: str | Path, hidden: bool = False) -> Path:
    """A fresh, empty directory [.]NAME.tmp-PID.RANDOM beside `path`, created exclusively (tempfile.mkdtemp)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path, hidden), dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp's is 0700
    except OSError:
        pass
    return tmp


@contextmanager
def atomic_dir(path: str | Path, *, into_dataset: bool = False) -> Iterator[Path]:
    """A fresh hidden temp directory .NAME.tmp-PID.RANDOM beside `path`, removed on any error; the caller
    renames it into place. Stale ones of dead processes are removed first."""
    path = Path(path)
    if not into_dataset:
        refuse_dataset_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    tmp = temp_dir(path, hidden=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def swap_parts(path: str | Path, tag: str) -> list[tuple[Path, int]]:
    """The PATH.<tag>-<pid> directories beside PATH (tag "tmp" or "old": swap_dir's names), with their pid.
    A link or a file of that name is not one of them."""
    path = Path(path)
    out = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return out
    prefix = f"{path.name}.{tag}-"
    for e in entries:
        pid = e.name[len(prefix):]
        if e.name.startswith(prefix) and pid.isdigit() and e.is_dir(follow_symlinks=False):
            out.append((Path(e.path), int(pid)))
    return out


def _dead(pid: int) -> bool:
    """A swap part of this process (left by an earlier failed save) or of one no longer running."""
    return pid == os.getpid() or not pid_alive(pid)


def _remove_parts(path: Path, tag: str) -> None:
    for part, pid in swap_parts(path, tag):
        if _dead(pid):
            shutil.rmtree(part, ignore_errors=True)


def swap_dir(path: str | Path, fill: Callable[[Path], None]) -> None:
    """Replace the directory PATH whole: fill(tmp) writes the new one into PATH.tmp-<pid> (created
    exclusively, so a link planted there is never written through); then PATH is renamed to
    PATH.old-<pid>, the temp to PATH, and the old one is deleted. A kill leaves PATH whole (old or new),
    or, between the two renames, no PATH but PATH.old-<pid> and a whole PATH.tmp-<pid>: recover_dir
    puts that right, and the next swap removes what dead processes left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_parts(path, "tmp")
    if path.exists():  # then any PATH.old-* is older than PATH
        _remove_parts(path, "old")
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    if tmp.is_symlink() or tmp.is_file():  # planted at our temp name: removed, never written through
        tmp.unlink()
    tmp.mkdir()  # exclusive: fails rather than follow anything planted since
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fault("swap-filled", path.name)
    replace_dir(tmp, path)
    _remove_parts(path, "old")  # left by a swap killed between its renames; PATH is newer now


def replace_dir(tmp: str | Path, path: str | Path) -> None:
    """Rename the filled directory `tmp` to PATH, replacing what is there whole: PATH is first renamed
    to PATH.old-<pid>, and deleted once tmp is in place; if tmp cannot be renamed, the old PATH is put
    back. A kill between the two renames leaves PATH.old-<pid> beside the whole tmp (recover_dir puts a
    swap_dir right). The one directory swap of every writer (swap_dir, eval's report directory)."""
    tmp, path = Path(tmp), Path(path)
    old = path.with_name(f"{path.name}.old-{os.getpid()}")
    moved = path.exists() or path.is_symlink()
    if moved:
        _remove_parts(path, "old")  # PATH exists, so any PATH.old-* of a dead process is older
        path.rename(old)
        fault("swap-moved", path.name)
    try:
        tmp.rename(path)
    except BaseException:
        if moved:
            old.rename(path)
        raise
    _fsync_dir(path.parent)
    if moved:
        shutil.rmtree(old, ignore_errors=True)


def swapped_dir(path: str | Path, complete: Callable[[Path], bool]) -> Path | None:
    """Where the directory that swap_dir writes at PATH is, reading only: PATH itself; else, after a kill,
    the newest whole PATH.tmp-<pid> (killed after filling it: it is newer than any old copy), else the
    newest whole PATH.old-<pid> (killed between the renames); None when there is none. complete(dir)
    says whether a temp or old copy is whole (all its files there and readable). Parts of running
    processes are never used."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists() or path.is_symlink():
        return None
    for tag in ("tmp", "old"):
        whole = [p for p, pid in swap_parts(path, tag) if _dead(pid) and complete(p)]
        if whole:
            return max(whole, key=lambda p: p.stat().st_mtime)
    return None


def recover_dir(path: str | Path, complete: Callable[[Path], bool]) -> Path | None:
    """Put right a swap_dir that a kill interrupted: the directory swapped_dir finds is renamed to PATH,
    and the temps and old copies of dead processes are removed. -> PATH, or None when there is no whole
    copy (then only the debris is removed)."""
    path = Path(path)
    src = swapped_dir(path, complete)
    if src is not None and src != path:
        src.rename(path)
        _fsync_dir(path.parent)
    _remove_parts(path, "tmp")
    _remove_parts(path, "old")
    return path if src is not None else None


def _user_error(message: str, error: type | None = None) -> Exception:
    from physics_llm.errors import UserError

    return (error or UserError)(message)


def check_input_file(path: str | Path, what: str = "file", max_bytes: int | None = None,
                     error: type | None = None) -> os.stat_result:
    """UserError (or `error`) unless `path` is an existing regular file of at most max_bytes bytes."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise _user_error(f"{p}: no such {what}", error) from None
    except OSError as e:
        raise _user_error(f"{p}: cannot read the {what} ({e.strerror})", error) from None
    if stat.S_ISDIR(st.st_mode):
        raise _user_error(f"{p}: is a directory; give a {what}", error)
    if not stat.S_ISREG(st.st_mode):
        raise _user_error(f"{p}: not a regular file; give a {what}", error)
    if max_bytes is not None and st.st_size > max_bytes:
        raise _user_error(f"{p}: {st.st_size} bytes; a {what} may hold at most {max_bytes} bytes", error)
    return st


def read_text(path: str | Path, what: str = "file", max_bytes: int = 16 << 20, error: type | None = None) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes`; otherwise one UserError (or `error`) line."""
    p = Path(path)
    check_input_file(p, what, max_bytes, error)
    try:
        with open(p, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise _user_error(f"{p}: cannot read the {what} ({e.strerror})", error) from None
    if len(data) > max_bytes:
        raise _user_error(f"{p}: more than {max_bytes} bytes; a {what} may hold at most that", error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _user_error(f"{p}: not a text file (byte {e.start} is not UTF-8); give a {what}", error) from None


def _writable_place(p: Path, what: str) -> None:
    """UserError unless the nearest existing ancestor of p is a directory this process may write into."""
    parent = p.absolute().parent
    existing = next((a for a in (parent, *parent.parents) if a.exists() or a.is_symlink()), None)
    if existing is None or not existing.is_dir():
        raise _user_error(f"{what} {p}: {existing} is not a directory; give a path inside a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _user_error(f"{what} {p}: cannot write into {existing} (permission denied); choose another path")


def check_out_dir(path: str | Path, what: str = "--out") -> None:
    """UserError unless `path` is an existing directory or one that can be made (no file in the way,
    a writable parent). Call it before the work whose results go there."""
    p = Path(path)
    if str(path) == "":
        raise _user_error(f"{what} '': give a directory")
    if p.exists() and not p.is_dir():
        raise _user_error(f"{what} {p}: is a file; give a directory")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise _user_error(f"{what} {p}: cannot write into it (permission denied); choose another directory")
        return
    _writable_place(p, what)


def check_out_file(path: str | Path, what: str = "--out") -> None:
    """UserError unless a file can be written at `path`: not a directory, its parent a writable directory
    (or creatable), and not inside a dataset. Call it before the work whose result goes there."""
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise _user_error(f"{what} {str(path)!r}: give a file name")
    if p.is_dir():
        raise _user_error(f"{what} {p}: is a directory; give a file name")
    if p.exists() and not p.is_file():
        raise _user_error(f"{what} {p}: is not a regular file (a device, pipe or socket); give a file name")
    refuse_dataset_target(p, what)
    _writable_place(p, what)
    if len(p.name.encode()) > 200:
        raise _user_error(f"{what} {p.name[:40]}...: file name too long (at most 200 bytes)")
