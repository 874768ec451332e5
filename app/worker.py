"""Model workers: one per predictor spec, in its own process (or thread), so a slow model never
takes the window's frames.

A worker loads its predictor once and then serves rollouts: given the true context
frames (C, N, 6) ending at absolute frame e, it predicts frame e+1, e+2, ... up to
`last`, each from its own previous predictions (physics_llm/models/rollout.py, eval's
rollout loop, one step per turn of the worker's loop), and sends every frame back as it
is done. A new rollout (a restart, a fling) replaces the current one as soon as the
frame being predicted is done; frames of an old rollout carry its id, so the UI
drops them. The UI never waits on a worker (except headless runs, which ask it to).

Heavy predictors (gpt:, hf:) run in a spawned process by default: their decoding is
Python-heavy and a thread would hold the GIL the UI needs every frame. Baselines and
the oracle are cheap and start at once on a thread.

Messages from the worker (`poll()`):
  ("loaded", context)                  the predictor's own context length
  ("load_failed", message, user_error) the spec could not be loaded (user_error: a UserError)
  ("frame", rid, k, state, parsed, s)  frame k of rollout rid: (N, 6) float32, (N,) bool, model seconds
  ("failed", rid, k, message)          the predictor raised on frame k
  ("done", rid)                        every frame up to `last` is sent
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from typing import Callable

import numpy as np

HEAVY_KINDS = ("gpt", "hf")
CLOSE_TIMEOUT_S = 60.0  # a thread killed inside torch aborts the process: a thread worker is waited for
PROCESS_GRACE_S = 0.5  # a process worker gets this long to quit, then it is terminated (safe for a process)


def wants_process(spec: str, mode: str) -> bool:
    """mode: "process", "thread" or "auto" (a process for gpt:/hf: specs, a thread for the rest)."""
    if mode == "auto":
        return spec.partition(":")[0] in HEAVY_KINDS
    return mode == "process"


def _load(spec: str):
    from physics_llm.models.registry import load_predictor

    return load_predictor(spec)


def serve(spec: str, inbox, outbox, loader: Callable | None = None, threads: int = 0) -> None:
    """The worker's loop (a thread's or a process's target). threads > 0: torch's intra-op threads
    (a process worker only: the setting is per process)."""
    from physics_llm.errors import UserError
    from physics_llm.models.rollout import Rollouts

    if threads > 0 and spec.partition(":")[0] in HEAVY_KINDS:
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass  # the loader says which extra to install
    try:
        predictor = (loader or _load)(spec)
    except UserError as e:
        outbox.put(("load_failed", str(e), True))
        return
    except BaseException as e:  # a bad checkpoint, a missing library: a message, never a crash
        outbox.put(("load_failed", f"{type(e).__name__}: {e}", False))
        return
    outbox.put(("loaded", int(predictor.context)))
    job = None  # (rid, Rollouts of one rollout): one frame a loop, so commands come in between frames
    paused = False
    while True:
        idle = job is None or paused
        try:
            cmd = inbox.get() if idle else inbox.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd is not None:  # every waiting command is handled before the next prediction
            kind = cmd[0]
            if kind == "quit":
                return
            if kind == "pause":
                paused = bool(cmd[1])
            elif kind == "stop":
                job = None
            elif kind == "rollout":
                _, rid, scene, context, first, last = cmd
                steps = max(int(last) - int(first), 0) + 1  # frames first..last (first alone if last < first)
                job = (rid, Rollouts(predictor, [(scene, context, int(first), steps)]))
            continue
        rid, rollout = job
        k = rollout.frame()
        try:
            [(_, p)] = rollout.step()
        except Exception as e:
            outbox.put(("failed", rid, k, f"{type(e).__name__}: {e}"))
            job = None
            continue
        outbox.put(("frame", rid, k, p.states[0], p.parsed[0], float(p.seconds)))
        if rollout.done:
            outbox.put(("done", rid))
            job = None


class Worker:
    """One predictor spec's worker. `rollout()`, `stop()`, `pause()` never block; `poll()` reads what came back."""

    def __init__(self, spec: str, mode: str = "auto", loader: Callable | None = None, threads: int = 0):
        self.spec = spec
        self.process = wants_process(spec, mode) and loader is None
        if self.process:
            ctx = mp.get_context("spawn")  # fork after threads (and torch) is not safe
            self.inbox, self.outbox = ctx.Queue(), ctx.Queue()
            self.runner = ctx.Process(target=serve, args=(spec, self.inbox, self.outbox, None, threads),
                                      name=f"model {spec}", daemon=True)
        else:
            self.inbox, self.outbox = queue.Queue(), queue.Queue()
            self.runner = threading.Thread(target=serve, args=(spec, self.inbox, self.outbox, loader),
                                           name=f"model {spec}", daemon=True)
        self.status = "loading"  # then "ready" or "failed"
        self.context: int | None = None  # the predictor's own context, once loaded
        self.error: str | None = None
        self.user_error = False  # the load failed with a UserError (a bad spec, a missing checkpoint)
        self._early: list[tuple] = []
        self.runner.start()
        self._closed = False

    def rollout(self, rid: int, scene, context: np.ndarray, first: int, last: int) -> None:
        """Predict frames first..last of `scene` from `context` (C, N, 6), the true frames first-C..first-1."""
        self.inbox.put(("rollout", rid, scene, np.asarray(context, dtype=np.float32), int(first), int(last)))

    def stop(self) -> None:
        self.inbox.put(("stop",))

    def pause(self, paused: bool) -> None:
        self.inbox.put(("pause", bool(paused)))

    def poll(self, timeout: float | None = None) -> list[tuple]:
        """Every rollout message waiting (load messages update status, context and error instead);
        with a timeout, wait that long for the first one."""
        got = []
        try:
            if timeout is not None:
                got.append(self.outbox.get(timeout=timeout))
            while True:
                got.append(self.outbox.get_nowait())
        except (queue.Empty, OSError, ValueError, EOFError):
            pass
        out, self._early = self._early, []
        for msg in got:
            if msg[0] == "loaded":
                self.status, self.context = "ready", msg[1]
            elif msg[0] == "load_failed":
                self.status, self.error, self.user_error = "failed", f"{self.spec}: {msg[1]}", msg[2]
            else:
                out.append(msg)
        if self.status != "failed" and not got and not self._closed and not self.runner.is_alive():
            code = f" (exit code {self.runner.exitcode})" if self.process else ""
            when = "before loading" if self.status == "loading" else "while predicting"
            self.status, self.error = "failed", f"{self.spec}: the model worker ended {when}{code}"
        return out

    def wait_loaded(self, timeout: float) -> bool:
        """Block until the predictor is loaded or failed (headless runs); False on timeout.
        Rollout messages read meanwhile are kept for the next poll()."""
        import time

        deadline = time.perf_counter() + timeout
        while self.status == "loading" and time.perf_counter() < deadline:
            self._early = self.poll(timeout=0.05)
        return self.status != "loading"

    def alive(self) -> bool:
        return self.runner.is_alive()

    def close(self, wait: bool = True) -> None:
        """Ask the worker to quit. A process is terminated if it does not quit at once; a thread is
        waited for (up to CLOSE_TIMEOUT_S) unless wait is False (it ends after its current frame)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.inbox.put(("quit",))
        except (OSError, ValueError):
            pass
        if self.process:
            self.runner.join(PROCESS_GRACE_S if wait else 0.05)
            if self.runner.is_alive():
                self.runner.terminate()
                self.runner.join(5.0)
            for q in (self.inbox, self.outbox):
                q.cancel_join_thread()
                q.close()
        elif wait:
            self.runner.join(CLOSE_TIMEOUT_S)
