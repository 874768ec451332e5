"""`data generate` pipeline time per scene vs pure Pymunk stepping of the same scenes.

Target: pipeline (scene generation + simulate + encode + shard write + metadata)
at most 1.6x pure stepping (World(scene) + space.step only). Also scenes/s with
2 worker processes (spawn start-up included) and a breakdown of the pipeline.
Best of --repeats, interleaved: the machine is noisy.

    python benchmarks/bench_generate.py [--scenes 40] [--repeats 2]
"""

from __future__ import annotations

import argparse
import filecmp
import tempfile
import time
from pathlib import Path

from physics_llm.data import codec
from physics_llm.data.config import DataConfig
from physics_llm.data.generate import generate_dataset
from physics_llm.data.plan import make_scene
from physics_llm.sim.simulate import simulate
from reference import pure_stepping  # benchmarks/reference.py


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    cfg = DataConfig(scenes=args.scenes, shard_size=max(1, args.scenes // 8))
    scenes = [make_scene(cfg, i) for i in range(cfg.scenes)]
    n = len(scenes)
    best = {"pure": float("inf"), "w1": float("inf"), "w2": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            best["pure"] = min(best["pure"], timed(lambda: [pure_stepping(s) for s in scenes]))
            for w in (1, 2):
                out = Path(tmp) / f"w{w}-{r}"
                best[f"w{w}"] = min(best[f"w{w}"], timed(lambda: generate_dataset(cfg, out, workers=w,
                                                                                  progress=False)))
        same = all(filecmp.cmp(p, Path(tmp) / "w2-0" / p.relative_to(Path(tmp) / "w1-0"), shallow=False)
                   for p in (Path(tmp) / "w1-0").rglob("*") if p.is_file())
    t_gen = timed(lambda: [make_scene(cfg, i) for i in range(n)])
    trs = []
    t_sim = timed(lambda: trs.extend(simulate(s) for s in scenes))
    t_enc = timed(lambda: [codec.encode(t.traj, t.contacts, cfg.units, s.dt) for s, t in zip(scenes, trs)])

    per = {k: v / n * 1e3 for k, v in best.items()}
    print(f"{n} default scenes, {sum(s.n for s in scenes) / n:.1f} objects on average, {cfg.frames} frames")
    print(f"pure Pymunk stepping          {per['pure']:7.2f} ms/scene")
    print(f"data generate, 1 worker       {per['w1']:7.2f} ms/scene  {n / best['w1']:6.1f} scenes/s  "
          f"ratio {best['w1'] / best['pure']:.2f}x pure stepping (target <= 1.6x)")
    print(f"data generate, 2 workers      {per['w2']:7.2f} ms/scene  {n / best['w2']:6.1f} scenes/s  "
          f"{best['w1'] / best['w2']:.2f}x the 1-worker speed; same bytes as 1 worker: {same}")
    print(f"breakdown: random scene {t_gen / n * 1e3:.2f} ms, simulate {t_sim / n * 1e3:.2f} ms, "
          f"encode {t_enc / n * 1e3:.2f} ms per scene")


if __name__ == "__main__":
    main()
