"""Job runner: `physics-llm ...` subprocesses that never block the window.

Each job is `sys.executable -m physics_llm.cli ARGS` in its own process group (so
cancel also ends the worker processes it started). A reader thread collects the
output; progress bars redraw one line with carriage returns, so a "\r" replaces
the last line instead of adding one.
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

KILL_AFTER_S = 3.0  # a cancelled job that ignores SIGTERM this long gets SIGKILL


class Job:
    """One CLI subprocess. status: "running", "done" (exit 0), "failed" (exit != 0) or "cancelled".

    out: the directory the job writes (a dataset, a run, a report), or None.
    """

    def __init__(self, name: str, args: list[str], out: str | None = None, cwd: str | None = None,
                 tail: int = 200):
        self.name, self.args, self.out = name, [str(a) for a in args], out
        self.lines: deque[str] = deque(maxlen=tail)
        self.started = time.monotonic()
        self.ended: float | None = None
        self.cancelled = False
        self._partial = ""
        self._lock = threading.Lock()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "physics_llm.cli", *self.args], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name=f"job {name}", daemon=True)
        self._reader.start()

    @property
    def command(self) -> str:
        return "physics-llm " + " ".join(self.args)

    def _add(self, text: str) -> None:
        with self._lock:
            *done, rest = (self._partial + text.replace("\r\n", "\n")).split("\n")
            for line in done:
                self.lines.append(_shown(line))
            self._partial = "\r".join(rest.split("\r")[-2:])  # bounded: a bar redrawn for hours

    def _read(self) -> None:
        stream = self.proc.stdout
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span two reads
        while True:
            chunk = stream.read1(4096)
            if not chunk:
                break
            self._add(decoder.decode(chunk))
        self.proc.wait()
        with self._lock:
            if _shown(self._partial):
                self.lines.append(_shown(self._partial))
            self._partial = ""
        self.ended = time.monotonic()

    def tail(self, n: int) -> list[str]:
        """The last n output lines, the line being redrawn (a progress bar) last."""
        with self._lock:
            lines = list(self.lines)
            live = _shown(self._partial)
        if live:
            lines.append(live)
        return lines[-n:]

    @property
    def returncode(self) -> int | None:
        """The exit code once the output is fully read, else None."""
        return self.proc.returncode if self.ended is not None else None

    @property
    def status(self) -> str:
        rc = self.returncode
        if rc is None:
            return "running"
        if self.cancelled:
            return "cancelled"
        return "done" if rc == 0 else "failed"

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    def cancel(self) -> None:
        """SIGTERM to the job's process group; SIGKILL if it is still there KILL_AFTER_S later."""
        if self.proc.poll() is not None:
            return
        self.cancelled = True
        _signal_group(self.proc, signal.SIGTERM)
        threading.Thread(target=self._kill_later, daemon=True).start()

    def _kill_later(self) -> None:
        try:
            self.proc.wait(KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            _signal_group(self.proc, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        """Block until the job ended and its output is read; returns the exit code."""
        self.proc.wait(timeout)
        self._reader.join(timeout)
        return self.proc.returncode


def _shown(line: str) -> str:
    """What a terminal shows of a line redrawn with carriage returns: its last non-empty part."""
    parts = [p for p in line.split("\r") if p.strip()]
    return parts[-1].rstrip() if parts else ""


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group the job leads (start_new_session): its workers too
    except ProcessLookupError:
        pass


class JobRunner:
    """All jobs started in this app session, oldest first."""

    def __init__(self, cwd: str | None = None, tail: int = 200):
        self.cwd, self.tail = cwd, tail
        self.jobs: list[Job] = []

    def start(self, name: str, args: list[str], out: str | None = None) -> Job:
        job = Job(name, args, out=out, cwd=self.cwd, tail=self.tail)
        self.jobs.append(job)
        return job

    def running(self) -> list[Job]:
        return [j for j in self.jobs if j.status == "running"]

    def cancel_all(self) -> None:
        for j in self.running():
            j.cancel()


def next_dir(parent: str | Path, prefix: str) -> str:
    """parent/prefix-NNN with the first number not taken (001, 002, ...)."""
    parent = Path(parent)
    k = 1
    while (parent / f"{prefix}-{k:03d}").exists():
        k += 1
    return str(parent / f"{prefix}-{k:03d}")
