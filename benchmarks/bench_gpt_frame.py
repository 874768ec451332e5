"""Seconds per predicted 30-object frame of a gpt: model on this machine (target: <= 0.5 s on 2 cores).

A frame is one predict() call of one window with every object of a 30-object default scene
(the object view: 30 prompts decoded together). Printed beside the same frame predicted by the
oracle (Pymunk stepping the scene) measured in the same run, so the ratio says how much slower
the model is than the simulator it imitates on these (noisy) cores.

    python benchmarks/bench_gpt_frame.py --model gpt:assets/checkpoints/gpt-contact [--model ...?samples=4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from physics_llm.models.registry import load_predictor
from physics_llm.sim.simulate import simulate

from bench_app_live import scene_with  # benchmarks/ is the script's directory: the same scene finder

TARGET_S = 0.5


def per_frame(pred, scene, windows, repeats: int) -> float:
    pred.predict(scene, windows[:1])  # warm up
    best = float("inf")
    for _ in range(repeats):
        for w in windows:
            t0 = time.perf_counter()
            pred.predict(scene, w[None])
            best = min(best, time.perf_counter() - t0)
    return best


def parse_with_threads(ap: argparse.ArgumentParser, default: int = 2) -> argparse.Namespace:
    """Adds --threads (torch's intra-op threads, default 2: the target's 2 cores), parses, sets them."""
    ap.add_argument("--threads", type=int, default=default)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    return args


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--objects", type=int, default=30)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    args = parse_with_threads(ap)
    scene = scene_with(args.objects)
    traj = simulate(scene).traj
    starts = np.linspace(3, len(traj) - 1, args.frames).astype(int)
    windows = np.stack([traj[t - 3:t] for t in starts])
    ref = per_frame(load_predictor("oracle"), scene, windows, args.repeats)
    print(f"{scene.n} objects, {args.threads} threads; oracle {ref * 1e3:.2f} ms per frame (best of "
          f"{args.frames * args.repeats})")
    for spec in args.model:
        s = per_frame(load_predictor(spec), scene, windows, args.repeats)
        verdict = "ok" if s <= TARGET_S else "over"
        print(f"{spec}: {s:.3f} s per frame ({s / TARGET_S:.2f}x the {TARGET_S} s target: {verdict}; "
              f"{s / ref:,.0f}x the oracle)")


if __name__ == "__main__":
    main()
