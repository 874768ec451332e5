"""The whole `physics-llm eval` pipeline: baselines + oracle over 100 scenes, and the harness overhead.

Target (issue "Evaluation"): copy, constvel, ballistic and the oracle over 100 test
scenes (single step on sampled windows plus 100-frame rollouts) in under 60 s on
2 cores, everything included: reading or simulating the ground truth, both runs,
plots, GIFs and the report. Harness overhead = time spent in the single-step and
rollout runs minus the predictors' own seconds (Prediction.seconds): what the
harness adds around a model, per predicted frame.

    python benchmarks/bench_eval.py [--scenes 100] [--data DIR --split test]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from physics_llm.eval.config import EvalConfig
from physics_llm.eval.harness import evaluate
from physics_llm.eval.report import write_report

TARGET_S = 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=100)
    ap.add_argument("--data", help="dataset directory (default: random scenes simulated on the fly)")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    cfg = EvalConfig(models=["oracle"], data=args.data, split=args.split, scenes_per_suite=args.scenes)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        res = evaluate(cfg, out, log=lambda msg: None)
        t1 = time.perf_counter()
        write_report(res, cfg, out)
        t2 = time.perf_counter()
    tm = res.timings
    runs = tm["single_s"] + tm["rollout_s"]
    overhead = runs - tm["predict_s"]
    n = res.n_scenes["in_dist"]
    frames = sum(v for m, s, mode, h, k, v in res.rows if k == "n_frames")
    source = args.data or "random scenes simulated on the fly"
    print(f"{n} in_dist scenes ({source}), {len(res.models)} predictors: {', '.join(res.models)}")
    print(f"  {cfg.windows} single-step windows per scene, rollouts of {cfg.horizon} frames; "
          f"{int(frames)} predicted frames in all")
    print(f"read/simulate truth   {tm['simulate_s']:6.2f} s")
    print(f"single-step runs      {tm['single_s']:6.2f} s")
    print(f"rollout runs          {tm['rollout_s']:6.2f} s")
    print(f"GIFs ({len(res.gifs)})            {tm['gif_s']:6.2f} s")
    print(f"report + plots        {t2 - t1:6.2f} s")
    print(f"total                 {t2 - t0:6.2f} s  (target < {TARGET_S:.0f} s: "
          f"{'met' if t2 - t0 < TARGET_S else 'MISSED'}, ratio {(t2 - t0) / TARGET_S:.2f})")
    print(f"harness overhead: runs {runs:.2f} s vs predictors' own {tm['predict_s']:.2f} s -> "
          f"{overhead:.2f} s added, {1e6 * overhead / frames:.0f} us per predicted frame")
    constvel = {(s, mode, k): v for m, s, mode, h, k, v in res.rows if m == "baseline:constvel"}
    print(f"constvel single-step pos_rmse {constvel[('in_dist', 'single', 'pos_rmse')]:.4f} px, "
          f"oracle {next(v for m, s, mode, h, k, v in res.rows if m == 'oracle' and k == 'pos_rmse'):g} px")


if __name__ == "__main__":
    main()
