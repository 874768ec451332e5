"""The text API: prompts, targets and (prompt, target) examples in either view.

Shapes: windows (B, C, N, 6) oldest frame first (only the last fmt.context frames
are used), next_states (B, N, 6), trajectories (T, N, 6). Windows are read as
float32, the state contract, so formatting and parsing see the same numbers
whatever dtype the caller holds.
"""

from __future__ import annotations

import numpy as np

from physics_llm.errors import UserError
from physics_llm.sim.scene import Scene
from physics_llm.text import object_view, scene_view
from physics_llm.text.format import TextFormat

VIEW_MODULES = {"object": object_view, "scene": scene_view}


def check_windows(scene: Scene, windows, fmt: TextFormat) -> np.ndarray:
    """(B, C', N, 6) with C' >= fmt.context -> float32 (B, fmt.context, N, 6). ValueError otherwise."""
    w = np.asarray(windows, dtype=np.float32)
    if w.ndim != 4 or w.shape[2] != scene.n or w.shape[3] != 6:
        raise ValueError(f"windows must be (B, C, {scene.n}, 6), got {w.shape}")
    if w.shape[1] < fmt.context:
        raise ValueError(f"the text format needs {fmt.context} context frames, windows have {w.shape[1]}")
    return w[:, w.shape[1] - fmt.context:]


def build_prompts(scene: Scene, windows, fmt: TextFormat | None = None) -> list[list[str]]:
    """(B, C, N, 6) -> for each window its prompts: N (object view) or 1 (scene view)."""
    fmt = fmt or TextFormat()
    return VIEW_MODULES[fmt.view].prompts(scene, check_windows(scene, windows, fmt), fmt)


def format_targets(scene: Scene, windows, next_states, fmt: TextFormat | None = None) -> list[list[str]]:
    """(B, C, N, 6) windows and (B, N, 6) next states -> target texts mirroring build_prompts."""
    fmt = fmt or TextFormat()
    w = check_windows(scene, windows, fmt)
    nxt = np.asarray(next_states, dtype=np.float32)
    if nxt.shape != (w.shape[0], scene.n, 6):
        raise ValueError(f"next_states must be ({w.shape[0]}, {scene.n}, 6), got {nxt.shape}")
    return VIEW_MODULES[fmt.view].targets(scene, w, nxt, fmt)


def format_target(scene: Scene, window, next_state, fmt: TextFormat | None = None) -> list[str]:
    """One window (C, N, 6) and its next state (N, 6) -> the target text(s)."""
    return format_targets(scene, np.asarray(window)[None], np.asarray(next_state)[None], fmt)[0]


def _frames(traj: np.ndarray, fmt: TextFormat, frames) -> np.ndarray:
    T = traj.shape[0]
    t = np.arange(fmt.context, T) if frames is None else np.asarray(list(frames), dtype=np.int64).reshape(-1)
    bad = t[(t < fmt.context) | (t >= T)]
    if len(bad):
        raise UserError(f"target frame {int(bad[0])} is out of range: with context {fmt.context} and {T} frames "
                        f"a target frame must be {fmt.context}..{T - 1}")
    return t


def make_examples(scene: Scene, traj, fmt: TextFormat | None = None, frames=None) -> list[tuple[str, str]]:
    """(prompt, target) pairs for target frames t (default every t >= context) of traj (T, N, 6).

    Ordered by frame, then object (object view: N pairs per frame; scene view: one).
    """
    return [(ex["prompt"], ex["target"]) for ex in scene_examples_text(scene, traj, fmt, frames)]


def scene_examples_text(scene: Scene, traj, fmt: TextFormat | None = None, frames=None) -> list[dict]:
    """The text of a scene for JSONL export: dicts {t, object, prompt, target}.

    `object` is the object index in the object view and None in the scene view.
    """
    fmt = fmt or TextFormat()
    traj = np.asarray(traj, dtype=np.float32)
    if traj.ndim != 3 or traj.shape[1:] != (scene.n, 6):
        raise ValueError(f"traj must be (T, {scene.n}, 6), got {traj.shape}")
    t = _frames(traj, fmt, frames)
    if len(t) == 0:
        return []
    windows = np.stack([traj[k - fmt.context:k] for k in t])  # (B, C, N, 6)
    prompts = build_prompts(scene, windows, fmt)
    targets = format_targets(scene, windows, traj[t], fmt)
    per_object = fmt.view == "object"
    return [{"t": int(k), "object": i if per_object else None, "prompt": p, "target": g}
            for k, ps, gs in zip(t, prompts, targets) for i, (p, g) in enumerate(zip(ps, gs))]
