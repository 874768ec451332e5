"""Count bodies that leave the world: 2,000 default scenes and 200 of each OOD suite.

Target (issue "Core"): 0. A body is outside when its centre leaves [0, width] x [0, height].

    python benchmarks/check_escapes.py [--default 2000] [--per-suite 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from physics_llm.sim.generate import random_scene
from physics_llm.sim.ood import OOD_SUITES
from physics_llm.sim.simulate import simulate


def escapes(job: tuple[str, int]) -> tuple[str, int, int]:
    kind, seed = job
    scene = random_scene(seed) if kind == "default" else OOD_SUITES[kind](seed)
    x = simulate(scene).traj
    out = (x[..., 0] < 0) | (x[..., 0] > scene.width) | (x[..., 1] < 0) | (x[..., 1] > scene.height)
    return kind, int(out.any(axis=0).sum()), scene.n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--default", type=int, default=2000)
    ap.add_argument("--per-suite", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    jobs = [("default", s) for s in range(args.default)]
    jobs += [(k, s) for k in OOD_SUITES for s in range(args.per_suite)]
    t0 = time.perf_counter()
    totals: dict[str, list[int]] = {}
    with ProcessPoolExecutor(args.workers) as ex:
        for kind, n_out, n in ex.map(escapes, jobs, chunksize=16):
            t = totals.setdefault(kind, [0, 0, 0])
            t[0] += 1
            t[1] += n_out
            t[2] += n
    for kind, (scenes, out, bodies) in totals.items():
        print(f"{kind:20s} {scenes:5d} scenes {bodies:7d} bodies  escaped: {out}")
    print(f"total escaped: {sum(t[1] for t in totals.values())}  ({time.perf_counter() - t0:.0f} s)")
    if any(t[1] for t in totals.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
