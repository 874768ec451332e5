"""EvalConfig: everything `physics-llm eval` does, loaded from configs/eval/default.yaml and flags.

The resolved config is written to REPORT_DIR/config.yaml, so a report says exactly
which scenes, windows, horizons and thresholds produced its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from physics_llm.errors import ConfigError
from physics_llm.sim.physics import ONSET_PX_S

DEFAULT_BASELINES = ("baseline:copy", "baseline:constvel", "baseline:ballistic")
# Upper limits, far above any real use: a typo such as --scenes-per-suite 100000000 is refused before
# any work instead of running for days (context, horizon, rollout_start: scene.py's MAX_FRAMES).
LIMITS = {"scenes_per_suite": 100_000, "windows": 100_000, "context": 100_000, "horizon": 100_000,
          "rollout_start": 100_000, "gifs": 100, "gif_fps": 100, "rollout_batch": 4096,
          "seed": 2**63 - 1, "scene_seed": 2**53}


@dataclass
class EvalConfig:
    # What to evaluate. The baselines are added after `models` unless with_baselines is false,
    # so every model is reported beside them.
    models: list[str] = field(default_factory=list)
    with_baselines: bool = True
    # Scene sources. in_dist = the dataset split (`data`), else the `scenes` JSONL file, else
    # random_scene(seed) (the default training distribution, simulated on the fly).
    suites: list[str] = field(default_factory=lambda: ["in_dist"])
    data: str | None = None
    split: str = "test"
    scenes: str | None = None
    # Scenes per suite: the first N of a dataset split or scenes file (0 = all of them), or for
    # generated suites (which need N >= 1) the first N seeds from scene_seed on that the dataset
    # split rule puts in the test split, so no dataset trains on them.
    scenes_per_suite: int = 20
    scene_seed: int = 1_000_000
    # Single step: `windows` target frames per scene drawn without replacement by
    # default_rng([seed, scene index]) (0 = every frame from `context` on).
    context: int = 3
    windows: int = 20
    seed: int = 0
    # Rollout: true frames rollout_start .. rollout_start+context-1, then `horizon` predicted
    # frames (capped by the scene's length); errors reported at `horizons` (and at the last step).
    horizon: int = 100
    rollout_start: int = 0
    horizons: list[int] = field(default_factory=lambda: [1, 5, 10, 20, 50, 100])
    # Scenes rolled out together, one predict_many() call per step (models that batch gain).
    rollout_batch: int = 8
    # Divergence: the first rollout step whose position RMSE (over the scene's objects) exceeds this.
    divergence_px: float = 10.0
    # Collision onset: |true velocity change - g*dt| above this (px/s). Gravity alone changes v by
    # 16 px/s per frame and resting contact jitters by a few px/s; an impact changes it by tens to hundreds.
    onset_px_s: float = ONSET_PX_S
    # Outputs: comparison GIFs per model (the first `gifs` scenes of the first suite) and PNG plots.
    # video: gif, or mp4 (H.264 at gif_fps, up to 10000 frames; needs imageio-ffmpeg, the `video` extra).
    gifs: int = 1
    gif_fps: int = 20
    video: str = "gif"
    plots: bool = True
    # Every rollout (pred and truth of the predicted frames, per model, suite and scene) as .npz
    # under REPORT_DIR/rollouts/ (harness.py); `eval --save-rollouts`.
    save_rollouts: bool = False

    def check(self) -> None:
        from physics_llm.gifs import VIDEO_FORMATS, check_video
        from physics_llm.sim.scene import MAX_FRAMES

        # Limits (LIMITS): checked here, before any scene is read or simulated.
        for name in ("context", "horizon", "rollout_batch", "gif_fps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("windows", "scenes_per_suite", "rollout_start", "gifs", "seed", "scene_seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name, hi in LIMITS.items():
            if getattr(self, name) > hi:
                raise ConfigError(f"{name} must be <= {hi}, got {getattr(self, name)}")
        if self.video not in VIDEO_FORMATS:
            raise ConfigError(f"video must be one of {', '.join(VIDEO_FORMATS)}, got {self.video!r}")
        # A rollout's GIF holds its context and predicted frames (at most the scene's length).
        frames, most = min(self.context + self.horizon, MAX_FRAMES), VIDEO_FORMATS[self.video]
        if self.gifs and frames > most:
            raise ConfigError(f"context + horizon {frames} with gifs {self.gifs}: a {self.video} holds at most {most} "
                              f"frames; lower --horizon or pass --gifs 0"
                              + (f" (or --video mp4: up to {VIDEO_FORMATS['mp4']})" if self.video == "gif" else ""))
        if self.gifs:
            check_video(self.video, f"video {self.video}")  # MP4: imageio-ffmpeg installed, before any work
        if not self.horizons or min(self.horizons) < 1 or max(self.horizons) > MAX_FRAMES or len(self.horizons) > 100:
            raise ConfigError(f"horizons must be a non-empty list of at most 100 steps 1..{MAX_FRAMES}, got "
                              f"{self.horizons[:10]}")
        if len(self.models) > 100 or len(self.suites) > 100:
            raise ConfigError(f"at most 100 models and 100 suites, got {len(self.models)} and {len(self.suites)}")
        if self.divergence_px <= 0 or self.onset_px_s <= 0:
            raise ConfigError("divergence_px and onset_px_s must be > 0, "
                              f"got {self.divergence_px} and {self.onset_px_s}")
        if self.data is not None and self.scenes is not None:
            raise ConfigError("give either --data (a dataset) or --scenes (a JSONL file) for in_dist, not both")
        if not self.suites:
            raise ConfigError("suites is empty (use in_dist and/or ood:<kind>, ood:all)")

    def model_specs(self) -> list[str]:
        """models then the baselines not already listed, without duplicates, in order."""
        specs = list(self.models) + (list(DEFAULT_BASELINES) if self.with_baselines else [])
        return list(dict.fromkeys(specs))
