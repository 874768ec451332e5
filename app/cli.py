"""`physics-llm app` (and `python -m app`): open the window, or run N frames headless and save a screenshot."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from physics_llm.errors import UserError

DEFAULT_CONFIG = Path("configs/app.yaml")  # used when run from the repository root
SCREENS = ("compare", "editor", "jobs", "gallery")

APP_HELP = """The pygame app: the live Pymunk scene beside up to three models' rollouts of it, always at the
same frame (compare), a scene editor, launching generate/train/eval jobs and a gallery of eval reports.
With --frames N it runs N frames (each waits for the models) and exits; --screenshot saves the window
then. With --live-seconds S it runs the normal live pacing for S seconds after the models have loaded,
without input, and --stats FILE.json writes the frames shown and the UI and model timings. Headless
runs (--frames, --live-seconds) with a model that cannot be loaded exit 2. Set SDL_VIDEODRIVER=dummy
to run without a display."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="SPEC", action="append", dest="models",
                   help="predictor on the compare screen; repeat for up to 3 (default: the config's model)")
    p.add_argument("--scene", metavar="FILE", help="scene JSON to open (default: a random scene)")
    p.add_argument("--size", metavar="WxH", help="window size, e.g. 1280x720")
    p.add_argument("--screen", choices=SCREENS, default="compare", help="screen to start on")
    p.add_argument("--frames", type=int, metavar="N", help="run N frames, then exit (headless runs, screenshots)")
    p.add_argument("--screenshot", metavar="PNG",
                   help="with --frames or --live-seconds: save the window to this PNG at the end")
    p.add_argument("--live-seconds", type=float, metavar="S",
                   help="run the live pacing for S seconds without input (after the models load), then exit")
    p.add_argument("--stats", metavar="JSON", help="with --frames or --live-seconds: write the run's numbers here")
    p.add_argument("--config", metavar="YAML", help=f"app config (default: {DEFAULT_CONFIG} if present)")
    p.add_argument("--set", action="append", dest="sets", metavar="KEY=VALUE", help="override a config key")


def register(sub) -> None:
    p = sub.add_parser("app", help="open the pygame app (compare, editor, jobs, gallery)", description=APP_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run_app)


def parse_size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise UserError(f"--size must be WIDTHxHEIGHT such as 1280x720, got {text!r}")
    return int(w), int(h)


def run_app(args) -> int:
    from app.config import AppConfig
    from physics_llm.config import load_config
    from physics_llm.sim.generate import random_scene
    from physics_llm.sim.scene import load_scene

    w, h = parse_size(args.size) if args.size else (None, None)
    config = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    models = args.models or []
    if len(models) > 3:
        raise UserError(f"--model: at most 3 models side by side, got {len(models)}")
    if len(set(models)) < len(models):
        raise UserError("--model: each model once (a spec is given twice)")
    cfg = load_config(AppConfig, config, args.sets, extra={"width": w, "height": h,
                                                           "model": models[0] if models else None})
    models = models or [cfg.model]
    from physics_llm.models.registry import check_spec

    for spec in models:  # a bad spec is one line before a window or a model worker exists
        check_spec(spec)
    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames must be >= 1, got {args.frames}")
    if args.live_seconds is not None and not args.live_seconds > 0:
        raise UserError(f"--live-seconds must be > 0, got {args.live_seconds}")
    if args.frames is not None and args.live_seconds is not None:
        raise UserError("--frames and --live-seconds: give one of them")
    headless = args.frames is not None or args.live_seconds is not None
    if args.screenshot and not headless:
        raise UserError("--screenshot needs --frames N or --live-seconds S (when to save)")
    if args.stats and not headless:
        raise UserError("--stats needs --frames N or --live-seconds S")
    from physics_llm.io import refuse_dataset_target

    for flag, path in (("--screenshot", args.screenshot), ("--stats", args.stats)):
        if path:
            refuse_dataset_target(path, flag)  # before the window opens
    scene = load_scene(args.scene) if args.scene else random_scene(cfg.scene_seed)

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from app.control import build_app

    control = None
    try:
        try:
            pygame.display.init()
            pygame.font.init()
            screen = pygame.display.set_mode((cfg.width, cfg.height), pygame.RESIZABLE)
        except pygame.error as e:
            raise UserError(f"cannot open a window ({e}); without a display, run with SDL_VIDEODRIVER=dummy "
                            "and --frames N --screenshot PNG") from None
        pygame.display.set_caption("physics-llm")
        control = build_app(cfg, screen, scene, start=args.screen, sync=args.frames is not None, models=models)
        compare = control.states["compare"]
        load_s = 0.0
        if headless:  # a model that cannot be loaded is bad input here: one line, exit 2
            t0 = time.perf_counter()
            failed = compare.wait_loaded()
            load_s = time.perf_counter() - t0
            if failed:
                raise UserError(failed[0].error)
        n, seconds = control.run(args.frames, args.live_seconds)
        if args.frames is not None:
            print(f"ran {n} frames of the {control.state_name} screen in {seconds:.2f} s "
                  f"({n / max(seconds, 1e-9):.1f} fps, cap {cfg.fps or 'none'}), {scene.n} objects, "
                  f"model{'s' if len(models) > 1 else ''} {', '.join(models)}")
        if args.live_seconds is not None:
            st = compare.numbers()
            print(f"live {seconds:.1f} s, {n} UI frames: truth frame {st['truth_frame']}, "
                  + ", ".join(f"{k} frame {v}" for k, v in st["model_frames"].items()))
        if args.stats:
            write_stats(args.stats, control, compare, n, seconds, load_s, scene)
            print(f"wrote {args.stats}")
        if args.screenshot:
            from physics_llm.io import atomic_path

            out = Path(args.screenshot)
            with atomic_path(out, suffix=out.suffix) as tmp:  # pygame picks the format by extension
                pygame.image.save(control.screen, str(tmp))
            print(f"wrote {out} ({control.screen.get_width()}x{control.screen.get_height()})")
    finally:
        if control is not None:
            if control.shared.jobs.running():
                print(f"cancelling {len(control.shared.jobs.running())} running job(s)", file=sys.stderr)
                control.shared.jobs.cancel_all()
            control.close()
        pygame.quit()
    return 0


def write_stats(path: str, control, compare, frames: int, seconds: float, load_s: float, scene) -> None:
    """The run's numbers as JSON (README "The app"): frames shown, UI frame times, model speeds."""
    import json

    import numpy as np

    from physics_llm.io import atomic_write_text

    ms = np.array(control.frame_ms[1:] or control.frame_ms or [0.0])  # the first frame draws everything once
    st = compare.numbers()
    out = {
        "truth_frame": st["truth_frame"],
        "model_frames": st["model_frames"],
        "in_step": all(v == st["truth_frame"] for v in st["model_frames"].values()),
        "ui_frame_ms_median": float(np.median(ms)),
        "ui_frame_ms_p95": float(np.percentile(ms, 95)),
        "ui_frame_ms_max": float(ms.max()),
        "ui_frames": int(frames),
        "seconds": float(seconds),
        "ui_fps": float(frames / max(seconds, 1e-9)),
        "load_seconds": float(load_s),
        "model_ms_per_frame": st["model_ms_per_frame"],
        "model_frames_per_s": st["model_frames_per_s"],
        "model_frames_computed": st["model_frames_computed"],
        "model_status": st["model_status"],
        "pos_rmse": st["pos_rmse"],
        "parse_rate": st["parse_rate"],
        "last_true_frame": st["last_true_frame"],
        "grabs": st["grabs"],
        "objects": scene.n,
        "fps_cap": control.fps,
        "size": list(control.screen.get_size()),
    }
    atomic_write_text(path, json.dumps(out, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    """`python -m app ARGS` is `physics-llm app ARGS` (the same parser, with only this group registered)."""
    from physics_llm.cli_base import make_parser, run

    return run(make_parser([register]), ["app", *(sys.argv[1:] if argv is None else argv)])
