"""Evaluation suites: which scenes each suite holds and their ground truth.

    in_dist       the dataset split (--data DIR --split test), else the scenes file
                  (--scenes f.jsonl, simulated here), else random_scene(seed) (the default
                  training distribution, simulated here)
    ood:<kind>    OOD_SUITES[kind](seed), simulated here; ood:all = all 8

Generated suites use the first scenes_per_suite seeds from scene_seed on that the dataset
split rule (a hash of the seed) puts in the test split, so no dataset trains on them.

Everything a user named is checked by `SceneSource` before any work starts, so a
bad suite, file or dataset fails at once with one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physics_llm.errors import UserError
from physics_llm.eval.config import EvalConfig
from physics_llm.sim.ood import OOD_SUITES
from physics_llm.sim.scene import Scene

IN_DIST = "in_dist"


@dataclass
class Case:
    """One scene of a suite with its ground truth."""

    scene: Scene
    traj: np.ndarray  # (T, N, 6) float32
    contacts: np.ndarray  # (T-1, N) bool: object touched anything during step t -> t+1
    label: str  # where it came from: "test[4]", "scenes line 3", "seed 1000004"


def expand_suites(names: list[str]) -> list[str]:
    """['in_dist', 'ood:all'] -> ['in_dist', 'ood:count_low', ...]; unknown names are a UserError."""
    valid = [IN_DIST] + [f"ood:{k}" for k in OOD_SUITES]
    out: list[str] = []
    for name in names:
        if name == "ood:all":
            out += [f"ood:{k}" for k in OOD_SUITES]
        elif name in valid:
            out.append(name)
        else:
            raise UserError(f"unknown suite {name!r} (use in_dist, ood:all or one of "
                            f"{', '.join(valid[1:])})")
    return list(dict.fromkeys(out))


def test_seeds(first: int, n: int) -> list[int]:
    """The first n seeds >= first that datasets assign to the test split (whatever the fractions,
    as long as test gets its default 10% or more)."""
    from physics_llm.data.plan import split_of_seed

    out, seed = [], first
    while len(out) < n:
        if split_of_seed(seed) == "test":
            out.append(seed)
        seed += 1
    return out


class SceneSource:
    """Opens what the config names (dataset, scenes file) and yields each suite's cases."""

    def __init__(self, cfg: EvalConfig):
        self.cfg = cfg
        self.suites = expand_suites(cfg.suites)
        self._dataset = None
        self._file_scenes: list[Scene] | None = None
        self._made: dict[str, list[tuple[str, Scene]]] = {}  # generated scenes, made once per run
        generated = [s for s in self.suites if s != IN_DIST or (cfg.data is None and cfg.scenes is None)]
        if generated and cfg.scenes_per_suite < 1:
            raise UserError(f"scenes_per_suite 0 (all) only applies to --data or --scenes; suite "
                            f"{generated[0]} is generated: give --scenes-per-suite N")
        if IN_DIST in self.suites:
            if cfg.data is not None:
                from physics_llm.data.store import open_dataset

                self._dataset = open_dataset(cfg.data, split=cfg.split)
                if len(self._dataset) == 0:
                    raise UserError(f"{cfg.data}: split {cfg.split!r} has no scenes")
            elif cfg.scenes is not None:
                from physics_llm.sim.scene import load_scenes_jsonl

                self._file_scenes = load_scenes_jsonl(cfg.scenes)
        need = cfg.rollout_start + cfg.context + 1
        for suite in self.suites:
            for label, frames in self._lengths(suite):
                if frames < need:
                    raise UserError(f"{suite} {label} has {frames} frames; context {cfg.context} from frame "
                                    f"{cfg.rollout_start} needs at least {need} (lower --context or use longer scenes)")

    def _count(self, available: int) -> int:
        n = self.cfg.scenes_per_suite
        return available if n == 0 else min(n, available)

    def _lengths(self, suite: str) -> list[tuple[str, int]]:
        """(label, frames) of the suite's scenes, without simulating (to check them up front)."""
        if suite == IN_DIST and self._dataset is not None:
            ds = self._dataset
            return [(f"{self.cfg.split}[{i}]", ds.scene(i).frames) for i in range(self._count(len(ds)))]
        return [(label, scene.frames) for label, scene in self._scenes(suite)]

    def _scenes(self, suite: str) -> list[tuple[str, Scene]]:
        cfg = self.cfg
        if suite == IN_DIST and self._file_scenes is not None:
            return [(f"scenes[{i}]", s) for i, s in enumerate(self._file_scenes[:self._count(len(self._file_scenes))])]
        if suite not in self._made:
            if suite == IN_DIST:
                from physics_llm.sim.generate import random_scene as make
            else:
                make = OOD_SUITES[suite.split(":", 1)[1]]
            self._made[suite] = [(f"seed {s}", make(s)) for s in test_seeds(cfg.scene_seed, cfg.scenes_per_suite)]
        return self._made[suite]

    def describe(self, suite: str) -> str:
        """Where the suite's scenes come from, for the report."""
        cfg = self.cfg
        if suite == IN_DIST and self._dataset is not None:
            return f"dataset `{cfg.data}`, split {cfg.split}, its first {self._count(len(self._dataset))} scenes"
        if suite == IN_DIST and self._file_scenes is not None:
            return f"scenes file `{cfg.scenes}`, simulated here"
        what = "random_scene" if suite == IN_DIST else f"OOD_SUITES[{suite.split(':', 1)[1]!r}]"
        return f"{what}(seed) for test-split seeds from {cfg.scene_seed}, simulated here"

    def cases(self, suite: str) -> list[Case]:
        """The suite's scenes with ground truth: read from the dataset or simulated now."""
        if suite == IN_DIST and self._dataset is not None:
            ds = self._dataset
            out = []
            for i in range(self._count(len(ds))):
                scene, tr = ds[i]
                out.append(Case(scene, tr.traj, tr.contacts, f"{self.cfg.split}[{i}]"))
            return out
        from physics_llm.sim.simulate import simulate

        out = []
        for label, scene in self._scenes(suite):
            tr = simulate(scene)
            out.append(Case(scene, tr.traj, tr.contacts, label))
        return out
