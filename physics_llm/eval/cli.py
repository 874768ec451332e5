"""`physics-llm eval` (models x suites -> report directory) and `physics-llm gif` (one rollout GIF)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from physics_llm.errors import UserError

EVAL_HELP = """Evaluate predictors: single-step and rollout metrics per suite, into a report directory
(metrics.csv, report.md, config.yaml, PNG plots, GIFs; with --save-rollouts every rollout as
rollouts/<suite>/<model>/<scene>.npz). The baselines copy, constvel and ballistic
are added unless --no-baselines. in_dist comes from --data, else --scenes, else random scenes
(test-split seeds from scene_seed) simulated here; ood:<kind> suites are generated and simulated here."""


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate models on scenes and OOD suites, write a report",
                       description=EVAL_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", dest="models", metavar="SPEC",
                   help="baseline:copy|constvel|ballistic, oracle, gpt:DIR, hf:ID (repeat for several)")
    p.add_argument("--data", metavar="DIR", help="dataset directory for in_dist")
    p.add_argument("--split", help="dataset split for in_dist (default test)")
    p.add_argument("--scenes", metavar="FILE",
                   help="JSONL file of scenes for in_dist (simulated for the ground truth)")
    p.add_argument("--suite", action="append", dest="suites", metavar="SUITE",
                   help="in_dist, ood:<kind> or ood:all (repeat for several; default in_dist)")
    p.add_argument("--scenes-per-suite", type=int, metavar="N", help="scenes per suite (0 = all of --data/--scenes)")
    p.add_argument("--windows", type=int, metavar="N", help="single-step windows per scene (0 = all)")
    p.add_argument("--context", type=int, metavar="N", help="true frames given to the model")
    p.add_argument("--horizon", type=int, metavar="N", help="rollout length in frames")
    p.add_argument("--gifs", type=int, metavar="N", help="comparison GIFs per model (first scenes of the first suite)")
    p.add_argument("--video", metavar="gif|mp4",
                   help="format of those rollouts (default gif; mp4: H.264, up to 10000 frames, needs imageio-ffmpeg)")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the window sampling")
    p.add_argument("--save-rollouts", action="store_true",
                   help="write every rollout (pred and truth arrays, per model, suite and scene) as "
                        "REPORT_DIR/rollouts/<suite>/<model>/<scene>.npz, listed in rollouts/index.csv")
    p.add_argument("--no-baselines", action="store_true", help="do not add the three baselines")
    p.add_argument("--progress", action="store_true",
                   help="print lines `progress: DONE/TOTAL scenes (suite, model, phase)` to stderr as the work "
                        "advances (a scene of a model is done once its rollout is scored; at most 4 lines a second)")
    p.add_argument("--config", metavar="YAML",
                   help="YAML config (default: the built-in defaults = configs/eval/default.yaml)")
    p.add_argument("--set", action="append", dest="sets", metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", required=True, metavar="DIR", help="report directory (must be new or empty, or --force)")
    p.add_argument("--force", action="store_true", help="replace an existing report directory")
    p.set_defaults(func=run_eval)

    g = sub.add_parser("gif", help="roll a model out on one scene and write a 3-panel comparison GIF")
    g.add_argument("--model", required=True, metavar="SPEC", help="predictor spec (as for eval)")
    g.add_argument("--scene", required=True, metavar="FILE", help="scene JSON file (simulated for the truth)")
    g.add_argument("--start", type=int, default=0, help="first true context frame")
    g.add_argument("--horizon", type=int, default=100, help="predicted frames")
    g.add_argument("--context", type=int, default=3, help="true frames given to the model")
    g.add_argument("--fps", type=int, default=20, help="GIF frames per second")
    g.add_argument("--out", required=True, metavar="GIF",
                   help="GIF path (written atomically); a path ending in .mp4 gets an MP4 (needs imageio-ffmpeg)")
    g.set_defaults(func=run_gif)


def run_eval(args) -> int:
    from physics_llm.config import load_config
    from physics_llm.eval.config import EvalConfig
    from physics_llm.eval.harness import evaluate
    from physics_llm.eval.outdir import check_out, staged_dir
    from physics_llm.eval.report import write_report
    from physics_llm.gifs import VIDEO_NAMES

    extra = {"models": args.models, "suites": args.suites, "data": args.data, "split": args.split,
             "scenes": args.scenes, "scenes_per_suite": args.scenes_per_suite, "windows": args.windows,
             "context": args.context, "horizon": args.horizon, "gifs": args.gifs, "video": args.video,
             "seed": args.seed,
             "with_baselines": False if args.no_baselines else None,
             "save_rollouts": True if args.save_rollouts else None}
    cfg = load_config(EvalConfig, args.config, args.sets, extra)
    check_out(Path(args.out), args.force)  # fail before any work, not after it
    t0 = time.perf_counter()
    with staged_dir(args.out, args.force) as tmp:
        res = evaluate(cfg, tmp, progress=_progress_printer() if args.progress else None)
        write_report(res, cfg, tmp)
    n_png = len(list(Path(args.out).glob("*.png")))
    n_npz = len(list(Path(args.out).glob("rollouts/*/*/*.npz")))
    saved = f", {n_npz} rollouts in rollouts/" if cfg.save_rollouts else ""
    print(f"wrote {args.out}: report.md, metrics.csv ({len(res.rows)} rows), config.yaml, "
          f"{len(res.gifs)} {VIDEO_NAMES[cfg.video]}, "
          f"{n_png} plots{saved}; {len(res.models)} models x {len(res.suites)} suites in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


PROGRESS_EVERY_S = 0.25


def _progress_printer():
    """evaluate()'s progress callback for --progress: one stderr line per change, at most every
    PROGRESS_EVERY_S (the first, the last and each finished (suite, model) run always)."""
    import sys

    last = [float("-inf"), None]

    def show(p) -> None:
        now = time.monotonic()
        key = (p.done, p.suite, p.model, p.phase)
        edge = p.phase in ("start", "done", "simulate") or p.done == p.total or key[:3] != (last[1] or key)[:3]
        if edge or now - last[0] >= PROGRESS_EVERY_S:
            print(p.line(), file=sys.stderr, flush=True)
            last[0], last[1] = now, key

    return show


def run_gif(args) -> int:
    from physics_llm.eval.config import EvalConfig
    from physics_llm.eval.harness import load_predictors
    from physics_llm.eval.runner import run_rollouts
    from physics_llm.eval.suites import Case
    from physics_llm.gifs import VIDEO_FORMATS, check_video_out, video_format, write_comparison_gif
    from physics_llm.io import check_out_file
    from physics_llm.sim.scene import MAX_FRAMES, check_work, load_scene
    from physics_llm.sim.simulate import simulate

    check_out_file(args.out, "--out")  # before the rollout: a bad path or a dataset is refused first
    video = video_format(args.out)
    for name, lo, hi in (("start", 0, MAX_FRAMES), ("horizon", 1, VIDEO_FORMATS[video]), ("context", 1, MAX_FRAMES)):
        v = getattr(args, name)
        if not lo <= v <= hi:
            why = f" (the {video}'s frames)" if name == "horizon" else ""
            raise UserError(f"--{name} must be {lo}..{hi}{why}, got {v}")
    if not 1 <= args.fps <= 100:
        raise UserError(f"--fps must be 1..100, got {args.fps}")
    check_video_out(args.out, args.context + args.horizon, f"--out {args.out}")
    scene = load_scene(args.scene)
    # The truth is simulated as far as the rollout needs, past the scene's own `frames` if asked.
    frames = args.start + args.context + args.horizon
    try:
        check_work(scene.n, frames, scene.substeps, "--start + --context + --horizon")
    except UserError as e:
        raise UserError(f"--scene {args.scene}: {e}") from None
    cfg = EvalConfig(models=[args.model], with_baselines=False, context=args.context, horizon=args.horizon,
                     rollout_start=args.start, rollout_batch=1)
    predictor = load_predictors(cfg)[0]
    tr = simulate(scene, frames=frames)
    case = Case(scene, tr.traj, tr.contacts, args.scene)
    stats = run_rollouts(predictor, [case], cfg, keep=1)
    r = stats.kept[0]
    truth = tr.traj[r.start:r.start + len(r.pred)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_comparison_gif(scene, truth, r.pred, out, parsed=r.parsed, start_frame=args.start,
                         title=predictor.name, fps=args.fps)
    curve = stats.curve("pos")
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB, {len(truth)} frames): {predictor.name} position RMSE "
          f"{curve[0]:.3g} px after 1 step, {curve[-1]:.3g} px after {len(curve)}; "
          f"parse rate {float(r.parsed.mean()):.3f}")
    return 0
