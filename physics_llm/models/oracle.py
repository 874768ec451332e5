"""The oracle: Pymunk itself. A sanity check for the harness (its error must be 0).

When a window is the simulator's own trajectory up to frame t-1 (the case in
every evaluation, since the oracle never drifts), it answers with the simulated
frame t, bit for bit. For any other window (a state the simulator never
produced) it steps a fresh Pymunk world from that state; that answer is
Pymunk's, but not bit-identical to a continued run (contact warm-starting is lost).
`use_truth` hands it the caller's ground truth instead (eval does this): a stored,
quantised dataset trajectory is then answered exactly and nothing is simulated.
"""

from __future__ import annotations

import numpy as np

from physics_llm.models.base import Predictor
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate, step_from


class Oracle(Predictor):
    name = "oracle"
    context = 1

    def __init__(self, max_cached: int = 8):
        self._cache: dict[str, np.ndarray] = {}
        self._max = max_cached
        self._given: dict[str, np.ndarray] = {}

    def use_truth(self, items: list[tuple[Scene, np.ndarray]]) -> None:
        """Answer windows of these scenes from the given trajectories (T, N, 6) instead of simulating.

        Replaces the previous set, so memory stays bounded by one batch of scenes.
        """
        self._given = {scene.to_json(): np.asarray(traj, dtype=np.float32) for scene, traj in items}

    def _truth(self, scene: Scene, upto: int) -> np.ndarray:
        key = scene.to_json()
        given = self._given.get(key)
        if given is not None and len(given) > upto:
            return given
        traj = self._cache.get(key)
        if traj is None or len(traj) <= upto:
            traj = simulate(scene, frames=max(scene.frames, upto + 1)).traj
            if len(self._cache) >= self._max:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = traj
        return traj

    def _predict(self, scene: Scene, windows: np.ndarray, target_index: np.ndarray):
        B, _, N, _ = windows.shape
        out = np.empty((B, N, 6), dtype=np.float32)
        known = target_index >= 1
        traj = self._truth(scene, int(target_index.max())) if known.any() else None
        for b in range(B):
            t = int(target_index[b])
            if t >= 1 and np.array_equal(traj[t - 1], windows[b, -1]):
                out[b] = traj[t]
            else:
                out[b] = step_from(scene, windows[b, -1])
        return out, np.ones((B, N), dtype=bool)

