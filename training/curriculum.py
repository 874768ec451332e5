"""The 5-stage curriculum of the LoRA fine-tune: stages trained in order, easy to hard, with replay.

A scene's stage is its tags["stage"], written by `physics-llm data generate`
(physics_llm.sim.generate.STAGES): 1 = 10-15 slow circles of simple materials,
2 = up to 25 objects with some boxes, 3 = 15-35 of every material, 4 = 25-45 faster ones
with more spin, 5 = 40-50 fast mixed circles and boxes. A dataset made with `stage: null`
(the default distribution) holds all five, about equally often.

Plan: stage s trains stage_steps[s-1] steps on its own scenes, stages 1..5 in order (each
an ExampleSampler of training/examples.py: object-steps with collision onsets drawn more
often). From the second trained stage on, round(replay * batch_size) examples of every
batch come from the earlier trained stages (each in proportion to its object-steps), so
the easy cases are not forgotten while the hard ones are learned. A stage with no scenes
in the split is skipped, and its steps with it: the schedule spans the stages present.

A batch is a pure function of (seed, step), as in examples.py, so a resumed run draws the
same batches as an uninterrupted one.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable

import numpy as np

from physics_llm.errors import UserError
from training.examples import Batch, ExampleSampler, collate, step_key

STREAM_CURRICULUM = 3  # a random stream of the seed apart from examples.py's 0-2
STAGE_NUMBERS = (1, 2, 3, 4, 5)


def scene_stages(ds) -> np.ndarray:
    """(S,) int: tags["stage"] of every scene of a dataset split; UserError when one has none."""
    out = np.zeros(len(ds), dtype=np.int64)
    for i in range(len(ds)):
        stage = ds.scene(i).tags.get("stage")
        if stage not in STAGE_NUMBERS:
            raise UserError(f"{ds.root} ({ds.split} split) scene {i}: tags.stage is {stage!r}, the curriculum needs "
                            f"1-5 (generate the data with `stage: null` or 1-5; OOD scenes have no stage)")
        out[i] = stage
    return out


class Subset:
    """Scenes `indices` (in order) of a dataset split, with the Dataset interface ExampleSampler reads."""

    def __init__(self, ds, indices):
        self.ds, self.indices = ds, [int(i) for i in indices]
        self.root, self.split = ds.root, ds.split

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.ds[self.indices[i]]

    def scene(self, i: int):
        return self.ds.scene(self.indices[i])


@dataclass
class Stage:
    number: int  # 1..5
    start: int  # the curriculum step it begins at
    steps: int
    sampler: ExampleSampler


class Curriculum:
    """The stages of one dataset split; make_sampler(Subset) -> ExampleSampler over those scenes."""

    def __init__(self, ds, stage_steps: list[int], replay: float, make_sampler: Callable[[Subset], ExampleSampler]):
        stages = scene_stages(ds)
        self.replay = replay
        self.stages: list[Stage] = []
        self.skipped: list[int] = []  # stages given steps but without scenes (or frames) in the split
        start = 0
        for number, steps in zip(STAGE_NUMBERS, stage_steps):
            if steps == 0:
                continue
            sampler = make_sampler(Subset(ds, np.flatnonzero(stages == number)))
            if sampler.size == 0:
                self.skipped.append(number)
                continue
            self.stages.append(Stage(number, start, steps, sampler))
            start += steps
        self.total = start  # steps of the whole curriculum
        if not self.stages:
            present = sorted(set(stages.tolist()))
            raise UserError(f"{ds.root}: no stage with steps has scenes to learn from (the {ds.split} split has stages "
                            f"{present or 'none'}; stage_steps {list(stage_steps)} gives steps to stages 1..5)")

    def stage_at(self, step: int) -> Stage:
        """The stage that trains `step` (0-based; steps past the end stay in the last stage)."""
        k = bisect_right([s.start for s in self.stages], step) - 1
        return self.stages[max(k, 0)]

    def batch(self, seed: int, step: int, batch_size: int, pad_id: int, part: int | None = None,
              parts: int = 1) -> Batch:
        """The training batch of `step`: the stage's examples plus replay of the earlier stages.

        part: micro-batch `part` (of `parts`, batch_size examples each) of the step, from its own
        stream (examples.step_key). The replay share is that of the whole global batch,
        round(replay * batch_size * parts) examples spread over the micro-batches (the first
        ones take one more), so it does not shrink when micro-batches are small.
        """
        rng = np.random.default_rng(step_key(seed, STREAM_CURRICULUM, step, part))
        stage = self.stage_at(step)
        earlier = [s for s in self.stages if s.start < stage.start]
        if part is None:
            n_replay = int(round(self.replay * batch_size)) if earlier else 0
        else:
            total = int(round(self.replay * batch_size * parts)) if earlier else 0
            n_replay = min(batch_size, total // parts + (part < total % parts))
        examples = stage.sampler.examples(rng, batch_size - n_replay) if batch_size > n_replay else []
        if n_replay:
            sizes = np.array([s.sampler.size for s in earlier], dtype=np.float64)
            for s, n in zip(earlier, rng.multinomial(n_replay, sizes / sizes.sum())):
                if n:
                    examples += s.sampler.examples(rng, int(n))
        return collate(examples, pad_id)
