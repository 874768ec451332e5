"""Simulation + state extraction vs pure Pymunk stepping of the same scenes.

Target (issue "Core"): simulate() costs at most 1.3x pure stepping. Both sides
build the same world (World(scene)); the reference only calls space.step, ours
also reads every frame with pymunk.batch and collects arbiter contact flags.

    python benchmarks/bench_sim.py [--scenes 60]
"""

from __future__ import annotations

import argparse
import time

from physics_llm.sim.generate import random_scene
from physics_llm.sim.simulate import simulate
from reference import pure_stepping  # benchmarks/reference.py


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    scenes = [random_scene(seed) for seed in range(args.scenes)]
    best_ref = best_ours = float("inf")
    for _ in range(args.repeats):  # interleaved, best of N: the machine is noisy
        t0 = time.perf_counter()
        for s in scenes:
            pure_stepping(s)
        t1 = time.perf_counter()
        for s in scenes:
            simulate(s)
        t2 = time.perf_counter()
        best_ref, best_ours = min(best_ref, t1 - t0), min(best_ours, t2 - t1)
    n_obj = sum(s.n for s in scenes) / len(scenes)
    print(f"{len(scenes)} default scenes (mean {n_obj:.1f} objects, 200 frames, 4 substeps)")
    print(f"pure Pymunk stepping:      {1000 * best_ref / len(scenes):7.2f} ms/scene")
    print(f"simulate (+batch, contacts): {1000 * best_ours / len(scenes):5.2f} ms/scene")
    print(f"ratio simulate / pure stepping: {best_ours / best_ref:.3f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
