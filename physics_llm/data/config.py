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

        if self.scenes < 1:
            raise ConfigError(f"scenes must be >= 1, got {self.scenes}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        if len(self.split) != 3 or any(f < 0 for f in self.split) or not math.isclose(sum(self.split), 1.0):
            raise ConfigError(f"split must be three fractions [train, val, test] >= 0 summing to 1, "
                              f"got {list(self.split)}")
        if self.stage is not None and self.stage not in STAGES:
            raise ConfigError(f"stage must be null or one of {sorted(STAGES)}, got {self.stage}")
        if self.ood is not None and self.ood not in OOD_SUITES:
            raise ConfigError(f"ood must be null or one of {', '.join(OOD_SUITES)}, got {self.ood!r}")
        if self.stage is not None and self.ood is not None:
            raise ConfigError(f"stage ({self.stage}) and ood ({self.ood!r}) exclude each other; set one to null")
        if self.frames < 2:
            raise ConfigError(f"frames must be >= 2, got {self.frames}")
        if self.shard_size < 1:
            raise ConfigError(f"shard_size must be >= 1, got {self.shard_size}")
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
