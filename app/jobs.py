"""Job runner: `physics-llm ...` subprocesses that never block the window.

Each job is `sys.executable -m physics_llm.cli ARGS` in its own process group (so
cancel also ends the worker processes it started). A reader thread collects the
output; progress bars redraw one line with carriage returns, so a "\r" replaces
the last line instead of adding one. `progress()` reads the output: a tqdm bar's
N/M (generate, train), or for eval (started with --progress, as the jobs screen does)
its last `progress: DONE/TOTAL scenes (...)` line: scenes done of total (a scene of a
model is done once its rollout is scored); those lines feed the bar, not the output
shown. An eval without --progress is counted in the (suite, model) runs it has
reported of those its arguments ask for. A cancelled job leaves nothing behind: its
--out is removed if the job created it, and its temporary files (NAME.tmp-PID...)
with it. Every finished job is appended to the runner's history file
(jobs_dir/jobs.jsonl), which the next app session reads back.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

KILL_AFTER_S = 3.0  # a cancelled job that ignores SIGTERM this long gets SIGKILL
HISTORY_TAIL = 60  # output lines kept per job in the history file
HISTORY_MAX = 200  # jobs read back from the history file (the newest)
_BAR = re.compile(r"(\d+)/(\d+)\s*\[")  # tqdm: " 42%|####   | 42/100 [00:01<00:02, ...]"
_EVAL_RUN = re.compile(r"^\s+\S+: single pos_rmse")  # eval's line after each (suite, model) run
_EVAL_SUITE = re.compile(r"^(\S+): (\d+) scenes \(")
_EVAL_PROGRESS = re.compile(r"^progress: (\d+)/(\d+) scenes(?: \((.*)\))?$")  # eval --progress
N_OOD = 8
N_BASELINES = 3


class Job:
    """One CLI subprocess. status: "running", "done" (exit 0), "failed" (exit != 0) or "cancelled".

    out: the directory the job writes (a dataset, a run, a report), or None.
    """

    def __init__(self, name: str, args: list[str], out: str | None = None, cwd: str | None = None,
                 tail: int = 200, on_end=None):
        self.name, self.args, self.out = name, [str(a) for a in args], out
        self.lines: deque[str] = deque(maxlen=tail)
        self.started = time.monotonic()
        self.started_at = time.time()
        self.ended: float | None = None
        self.cancelled = False
        self.removed: list[str] = []  # what a cancel cleaned up
        self.eval_runs = 0  # eval: (suite, model) runs reported so far
        self.eval_suites: list[str] = []
        self.eval_progress: tuple[int, int, str] | None = None  # eval --progress: its last (done, total, where)
        self._out_path = None if out is None else Path(cwd or ".") / out
        self._out_existed = self._out_path is not None and (self._out_path.exists() or self._out_path.is_symlink())
        self._on_end = on_end
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
                shown = _shown(line)
                m = _EVAL_PROGRESS.match(shown)
                if m:
                    self.eval_progress = int(m.group(1)), int(m.group(2)), m.group(3) or ""
                    continue
                self.lines.append(shown)
                if _EVAL_RUN.match(shown):
                    self.eval_runs += 1
                m = _EVAL_SUITE.match(shown)
                if m:
                    self.eval_suites.append(m.group(1))
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
        if self.cancelled:
            self._clean()
        self.ended = time.monotonic()
        if self._on_end is not None:
            try:
                self._on_end(self)
            except Exception:  # a history file that cannot be written never breaks the app
                pass

    def _clean(self) -> None:
        """After a cancel: remove the job's --out if it made it, and its temporary files beside it."""
        from physics_llm.io import clean_stale

        p = self._out_path
        if p is None:
            return
        if not self._out_existed and (p.exists() or p.is_symlink()):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            self.removed.append(str(self.out))
        temps = [e for e in p.parent.glob(f"*{p.name}.tmp-*")] if p.parent.exists() else []
        clean_stale(p)  # NAME.tmp-PID... and .NAME.tmp-PID... of processes that are gone
        self.removed += [str(t) for t in temps if not (t.exists() or t.is_symlink())]

    def progress(self) -> tuple[int, int, str] | None:
        """(done, total, what) from the output so far, or None when it says nothing yet."""
        if self.name == "eval" or (self.args and self.args[0] == "eval"):
            if self.eval_progress is not None:
                done, total, where = self.eval_progress
                return done, total, f"{done} of {total} scenes" + (f"  ({where})" if where else "")
            total_runs, per_suite = eval_plan(self.args)
            if "--progress" in self.args:
                total = total_runs * per_suite
                return 0, total, f"0 of {total or '?'} scenes  (starting)"
            scenes = f", about {self.eval_runs * per_suite} of {total_runs * per_suite} scene rollouts" \
                if per_suite else ""
            return self.eval_runs, total_runs, f"{self.eval_runs} of {total_runs} suite x model runs{scenes}"
        for line in reversed(self.tail(5)):
            m = _BAR.search(line)
            if m:
                done, total = int(m.group(1)), int(m.group(2))
                return done, total, f"{done} of {total}"
        return None

    def record(self) -> dict:
        """What the history file keeps of a finished job."""
        return {"name": self.name, "args": self.args, "out": self.out, "status": self.status,
                "returncode": self.returncode, "started": self.started_at, "elapsed": round(self.elapsed, 2),
                "removed": self.removed, "tail": self.tail(HISTORY_TAIL)}

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


def eval_plan(args: list[str]) -> tuple[int, int]:
    """An eval command's (suite, model) runs and scenes per suite (0 if unknown), from its arguments."""
    suites, models, per_suite, baselines = [], [], 0, True
    for k, a in enumerate(args):
        nxt = args[k + 1] if k + 1 < len(args) else ""
        if a == "--suite":
            suites.append(nxt)
        elif a == "--model":
            models.append(nxt)
        elif a == "--scenes-per-suite" and nxt.isdigit():
            per_suite = int(nxt)
        elif a == "--no-baselines":
            baselines = False
    n_suites = sum(N_OOD if s == "ood:all" else 1 for s in dict.fromkeys(suites or ["in_dist"]))
    names = set(models or ["baseline:constvel"])
    if baselines:
        names |= {"baseline:copy", "baseline:constvel", "baseline:ballistic"}
    return n_suites * len(names), per_suite


class PastJob:
    """A job of an earlier app session, read back from the history file (what the jobs list shows of it)."""

    def __init__(self, rec: dict):
        self.name, self.out = str(rec.get("name", "?")), rec.get("out")
        self.args = [str(a) for a in rec.get("args", [])]
        self.status = str(rec.get("status", "done"))
        self.returncode = rec.get("returncode")
        self.elapsed = float(rec.get("elapsed", 0.0))
        self.started_at = float(rec.get("started", 0.0))
        self.removed = list(rec.get("removed", []))
        self.lines = [str(x) for x in rec.get("tail", [])]
        self.past = True

    @property
    def command(self) -> str:
        return "physics-llm " + " ".join(self.args)

    def tail(self, n: int) -> list[str]:
        return self.lines[-n:]

    def progress(self):
        return None


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
    """All jobs started in this app session, oldest first; `history` the finished ones of earlier sessions
    (read from, and appended to, the `history` file when one is given)."""

    def __init__(self, cwd: str | None = None, tail: int = 200, history: str | Path | None = None):
        self.cwd, self.tail = cwd, tail
        self.jobs: list[Job] = []
        self.history_path = None if history is None else Path(history)
        self.history: list[PastJob] = self._read_history()
        self._write_lock = threading.Lock()

    def _read_history(self) -> list[PastJob]:
        p = self.history_path
        if p is None or not p.is_file():
            return []
        out = []
        try:
            with p.open(encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue  # a line cut short by a crash: skip it
                    if isinstance(rec, dict):
                        out.append(PastJob(rec))
        except OSError:
            return []
        return out[-HISTORY_MAX:]

    def _ended(self, job: Job) -> None:
        if self.history_path is None:
            return
        with self._write_lock:
            self.history_path.parent.mkdir(parents=True, exist_ok=True)
            with self.history_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(job.record()) + "\n")

    def start(self, name: str, args: list[str], out: str | None = None) -> Job:
        job = Job(name, args, out=out, cwd=self.cwd, tail=self.tail, on_end=self._ended)
        self.jobs.append(job)
        return job

    def all(self) -> list:
        """Earlier sessions' jobs, then this session's (the jobs screen's list)."""
        return [*self.history, *self.jobs]

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
