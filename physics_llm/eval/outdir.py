"""A report directory that appears complete or not at all.

Everything is written into a hidden temp directory beside --out and renamed to
--out at the end; on any error the temp directory is removed, so --out never holds
half a report. An existing non-empty --out is refused unless --force, and --force
only replaces a directory that holds a previous report (metrics.csv or report.md),
never an arbitrary one.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from physics_llm.errors import UserError

REPORT_MARKERS = ("metrics.csv", "report.md")


def check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory path for the report")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UserError(f"--out {out} exists and is not empty (pass --force to replace that report, "
                            "or choose a new directory)")
        if not any((out / m).exists() for m in REPORT_MARKERS):
            raise UserError(f"--out {out} is not a report directory (no metrics.csv or report.md); "
                            "--force only replaces a previous report: choose a new directory")


@contextmanager
def staged_dir(out: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temp directory; on success it becomes `out` (replacing an old report if force)."""
    out = Path(out)
    check_out(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():  # left by a killed run of a process that had our pid: ours to reuse
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.is_dir() and any(out.iterdir()):
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)  # out absent or an empty directory
