"""A report directory that appears complete or not at all.

Everything is written into a hidden temp directory beside --out (physics_llm/io.py's
atomic_dir: `.NAME.tmp-PID.RANDOM`, created exclusively, so nothing planted there is
followed) and renamed to --out at the end; on any error the temp directory is removed,
so --out never holds half a report, and the temps a killed run left (its process gone)
are removed by the next run. An existing non-empty --out is refused unless --force,
and --force only replaces a directory that holds a previous report (metrics.csv or
report.md), never an arbitrary one: it is renamed aside and deleted once the new one is
in place (io.replace_dir, the swap every writer uses). A --out inside a dataset directory is
refused before any work.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from physics_llm.errors import UserError
from physics_llm.io import atomic_dir, check_out_dir, refuse_dataset_target, replace_dir

REPORT_MARKERS = ("metrics.csv", "report.md")


def check_out(out: Path, force: bool) -> None:
    out = Path(out)
    refuse_dataset_target(out, "--out", directory=True)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory path for the report")
    check_out_dir(out, "--out")  # no file in the way, a parent this process may write into
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
    with atomic_dir(out) as tmp:
        yield tmp
    try:
        replace_dir(tmp, out)  # an old report is replaced whole, or put back if the rename fails
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
