"""A model's live rollout of a scene, on a worker thread so a slow model never freezes the window.

The UI owns the truth (a World stepped once per frame) and tells the worker how far
the truth has come (`advance`). The worker loads the predictor, copies the first C
true frames, then predicts frame C, C+1, ... feeding each prediction back as
context, never past the truth's frame (a paused scene pauses its prediction too).
The UI reads `frames` / `parsed` / `seconds`, which only grow.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from physics_llm.models.base import Predictor
from physics_llm.sim.scene import Scene


class ModelCache:
    """Loaded predictors by spec, so restarting a scene does not reload a checkpoint. Thread-safe."""

    def __init__(self, loader: Callable[[str], Predictor] | None = None):
        from physics_llm.models.registry import load_predictor

        self._load = loader or load_predictor
        self._models: dict[str, Predictor] = {}
        self._lock = threading.Lock()

    def get(self, spec: str) -> Predictor:
        """The predictor for `spec`, loading it on first use. Load errors propagate (and are not cached)."""
        with self._lock:
            if spec not in self._models:
                self._models[spec] = self._load(spec)
            return self._models[spec]


class LiveRollout:
    """Frames 0..C-1 are the truth's; frame k >= C is the model's prediction from frames k-C..k-1.

    frames: list of (N, 6) float32; parsed: list of (N,) bool (True on the context frames);
    seconds: the model's wall time per predicted frame. status: "loading", "running" or "failed"
    (then `error` holds the message). `after`: a previous rollout's thread to wait for first, so
    one predictor is never called from two threads at once.
    """

    def __init__(self, spec: str, scene: Scene, context: int, models: ModelCache,
                 after: threading.Thread | None = None):
        self.spec, self.scene, self.context = spec, scene, context
        self.frames: list[np.ndarray] = []
        self.parsed: list[np.ndarray] = []
        self.seconds: list[float] = []
        self.status = "loading"
        self.error: str | None = None
        self.context_frames: int | None = None  # C, once the predictor is loaded
        self._models = models
        self._after = after
        self._truth: list[np.ndarray] = []
        self._limit = -1
        self._need = 0  # the truth frame the worker waits for
        self._waiting = False
        self._stop = False
        self._cond = threading.Condition()  # guards the fields above and status; notified on every change
        self.thread = threading.Thread(target=self._run, name=f"rollout {spec}", daemon=True)
        self.thread.start()

    def advance(self, truth: list[np.ndarray]) -> None:
        """The truth now has frames 0..len(truth)-1: predict up to that frame. `truth` is kept by reference."""
        with self._cond:
            self._truth = truth
            self._limit = len(truth) - 1
            self._cond.notify_all()

    def stop(self) -> None:
        """Ask the worker to end after its current prediction (does not wait for it)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until the worker has predicted every frame the truth allows (or failed, or stopped).

        False if `timeout` seconds passed first. Headless runs and tests use it to show
        the prediction of the current frame instead of the latest one ready.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self.status == "failed" or self._stop or
                                       (self._waiting and self._limit < self._need), timeout)

    def _wait_until(self, frame: int) -> bool:
        """Wait until the truth has reached `frame`; False if stopped."""
        with self._cond:
            self._need, self._waiting = frame, True
            self._cond.notify_all()
            while self._limit < frame and not self._stop:
                self._cond.wait()
            self._waiting = False
            return not self._stop

    def _fail(self, what: str, e: Exception) -> None:
        with self._cond:
            self.error = f"{self.spec} {what}: {e}"
            self.status = "failed"
            self._cond.notify_all()

    def _run(self) -> None:
        if self._after is not None:
            self._after.join()
        try:
            predictor = self._models.get(self.spec)
        except Exception as e:  # any loader error (bad path, missing torch) is a message, never a crash
            self._fail("failed to load", e)
            return
        C = self.context_frames = max(self.context, predictor.context)
        if not self._wait_until(C - 1):
            return
        window = np.stack(self._truth[:C]).astype(np.float32)  # (C, N, 6)
        for state in window:
            self.parsed.append(np.ones(self.scene.n, dtype=bool))
            self.frames.append(state)  # appended last: len(frames) says what is complete
        self.status = "running"
        k = C
        while self._wait_until(k):
            try:
                p = predictor.predict(self.scene, window[None], np.array([k]))
            except Exception as e:
                self._fail(f"failed at frame {k}", e)
                return
            self.parsed.append(p.parsed[0])
            self.seconds.append(p.seconds)
            self.frames.append(p.states[0])
            window = np.concatenate([window[1:], p.states])
            k += 1
