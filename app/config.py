"""AppConfig: the app's settings, loaded from configs/app.yaml (or the defaults) and flags."""

from __future__ import annotations

from dataclasses import dataclass, field

from physics_llm.errors import ConfigError

MIN_SIZE = (1024, 640)  # every screen is laid out for this size and up (the window is kept at least this big)


@dataclass
class AppConfig:
    width: int = 1280  # window size in pixels
    height: int = 720
    fps: int = 60  # frame cap; 0 = as fast as it goes (headless timing). The world steps one dt per frame.
    model: str = "baseline:constvel"  # predictor spec shown on the compare screen at start
    model_worker: str = "auto"  # where models run: process, thread, or auto (a process for gpt:/hf:, else a thread)
    # torch threads of each model process (0: torch's default, one per core). 1 measured 5x faster than 2
    # for gpt-small on 2 cores beside the UI and another busy process: 2 threads fight for one core.
    model_threads: int = 1
    context: int = 3  # true frames a rollout starts from (at least the model's own context)
    max_frames: int = 600  # frames of one compare run (10 s at 60 fps); the timeline holds them all
    scene_seed: int = 0  # seed of the first random scene; `n` takes the next one
    model_dirs: list[str] = field(default_factory=lambda: ["assets/checkpoints", "runs"])  # searched for checkpoints
    scenes_dir: str = "runs/app/scenes"  # the editor's scene-NNNN.json files and scenes.jsonl
    jobs_dir: str = "runs/app"  # datasets and training runs started from the jobs screen
    reports_dir: str = "reports"  # eval reports (REPORT_DIR/report.md) shown in the gallery; eval jobs write here
    # also searched for report.md by the gallery: the shipped checkpoints' reports and training runs
    gallery_dirs: list[str] = field(default_factory=lambda: ["assets/checkpoints", "runs"])
    velocity_per_px: float = 3.0  # editor: px/s of velocity per px of right-button drag
    tail_lines: int = 200  # output lines kept per job

    def check(self) -> None:
        if self.width < MIN_SIZE[0] or self.height < MIN_SIZE[1]:
            raise ConfigError(f"window size {self.width}x{self.height} is too small; use at least "
                              f"{MIN_SIZE[0]}x{MIN_SIZE[1]} (--size WxH)")
        if self.fps < 0:
            raise ConfigError(f"fps must be >= 0 (0 = no cap), got {self.fps}")
        if self.model_worker not in ("auto", "process", "thread"):
            raise ConfigError(f"model_worker must be auto, process or thread, got {self.model_worker!r}")
        if self.model_threads < 0:
            raise ConfigError(f"model_threads must be >= 0 (0 = torch's default), got {self.model_threads}")
        if self.context < 1:
            raise ConfigError(f"context must be >= 1, got {self.context}")
        if self.max_frames <= self.context:
            raise ConfigError(f"max_frames must be > context ({self.context}), got {self.max_frames}")
        if self.velocity_per_px <= 0:
            raise ConfigError(f"velocity_per_px must be > 0, got {self.velocity_per_px}")
        if self.tail_lines < 1:
            raise ConfigError(f"tail_lines must be >= 1, got {self.tail_lines}")
