"""`DataConfig`: what `physics-llm data generate` makes (configs/data/*.yaml).

The resolved config is written into DIR/metadata.json; a rerun into the same
directory must resolve to the same config (that is how resume knows it may
reuse finished shards).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from physics_llm.errors import ConfigError

SPLITS = ("train", "val", "test")
# Limits, checked before anything is planned or simulated (README "Formats").
MAX_SCENES = 10_000_000  # planning takes about 2 s per million scenes
MAX_SEED = 2**63 - 1
MAX_SHARD_SIZE = 10_000  # a shard is built in memory: 10,000 default scenes are about 300 MB
MAX_GENERATED_OBJECTS = 100  # the most objects a generator or OOD suite makes (count_high: 51-100)
MAX_WORKERS = 256


@dataclass
class DataConfig:
    scenes: int = 1000  # scenes in the whole dataset (all splits)
    seed: int = 0  # base seed: scene i gets plan.scene_seed(seed, i)
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, val, test fractions
    stage: int | None = None  # null: default distribution (stage drawn per seed); 1-5: one curriculum stage
    ood: str | None = None  # null, or an OOD suite name (physics_llm.sim.ood.OOD_SUITES)
    frames: int = 200  # frames per scene, frame 0 included
    shard_size: int = 100  # scenes per shard file
    # Quantisation steps. Stored values are within half a step of the simulator's
    # float32 values (plus float32 rounding of the decoded number).
    pos_unit: float = 0.01  # px
    vel_unit: float = 0.01  # px/s
    angle_unit: float = 0.0001  # rad
    angvel_unit: float = 0.0001  # rad/s
    zstd_level: int = 3  # 3: 0.7 ms/scene; 9 saves 5% for 4x the time; 19 saves 8% for 60x (bench_storage)

    def check(self) -> None:
        from physics_llm.sim.generate import STAGES
        from physics_llm.sim.ood import OOD_SUITES

        from physics_llm.sim.scene import MAX_FRAMES, MAX_OBJECT_FRAMES

        if not 1 <= self.scenes <= MAX_SCENES:
            raise ConfigError(f"scenes must be 1..{MAX_SCENES}, got {self.scenes} (checked before planning: a "
                              "bigger dataset is several datasets)")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be 0..2**63-1, got {self.seed}")
        if len(self.split) != 3 or any(f < 0 for f in self.split) or not math.isclose(sum(self.split), 1.0):
            raise ConfigError(f"split must be three fractions [train, val, test] >= 0 summing to 1, "
                              f"got {list(self.split)}")
        if self.stage is not None and self.stage not in STAGES:
            raise ConfigError(f"stage must be null or one of {sorted(STAGES)}, got {self.stage}")
        if self.ood is not None and self.ood not in OOD_SUITES:
            raise ConfigError(f"ood must be null or one of {', '.join(OOD_SUITES)}, got {self.ood!r}")
        if self.stage is not None and self.ood is not None:
            raise ConfigError(f"stage ({self.stage}) and ood ({self.ood!r}) exclude each other; set one to null")
        max_frames = min(MAX_FRAMES, MAX_OBJECT_FRAMES // MAX_GENERATED_OBJECTS)
        if not 2 <= self.frames <= max_frames:
            raise ConfigError(f"frames must be 2..{max_frames}, got {self.frames} (a generated scene has up to "
                              f"{MAX_GENERATED_OBJECTS} objects and a scene at most {MAX_OBJECT_FRAMES} object-frames)")
        if not 1 <= self.shard_size <= MAX_SHARD_SIZE:
            raise ConfigError(f"shard_size must be 1..{MAX_SHARD_SIZE}, got {self.shard_size}")
        for name in ("pos_unit", "vel_unit", "angle_unit", "angvel_unit"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                raise ConfigError(f"{name} must be in (0, 1], got {v}")
        if not 1 <= self.zstd_level <= 22:
            raise ConfigError(f"zstd_level must be 1-22, got {self.zstd_level}")

    @property
    def units(self) -> tuple[float, ...]:
        """Quantisation step per state column (x, y, vx, vy, angle, angular_velocity)."""
        return (self.pos_unit, self.pos_unit, self.vel_unit, self.vel_unit, self.angle_unit, self.angvel_unit)
