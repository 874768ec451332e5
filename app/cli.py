"""`physics-llm app` (and `python -m app`): open the window, or run N frames headless and save a screenshot."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from physics_llm.errors import UserError

DEFAULT_CONFIG = Path("configs/app.yaml")  # used when run from the repository root
SCREENS = ("compare", "editor", "jobs", "gallery")

APP_HELP = """The pygame app: the live Pymunk scene beside a model's rollout (compare), a scene editor,
launching generate/train/eval jobs and a gallery of eval reports. With --frames N it runs N frames
(the model kept in step with the truth) and exits; --screenshot saves the window then. Set
SDL_VIDEODRIVER=dummy to run without a display."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="SPEC", help="predictor on the compare screen (default: the config's)")
    p.add_argument("--scene", metavar="FILE", help="scene JSON to open (default: a random scene)")
    p.add_argument("--size", metavar="WxH", help="window size, e.g. 1280x720")
    p.add_argument("--screen", choices=SCREENS, default="compare", help="screen to start on")
    p.add_argument("--frames", type=int, metavar="N", help="run N frames, then exit (headless runs, screenshots)")
    p.add_argument("--screenshot", metavar="PNG", help="with --frames: save the window to this PNG at the end")
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
    cfg = load_config(AppConfig, config, args.sets, extra={"width": w, "height": h, "model": args.model})
    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames must be >= 1, got {args.frames}")
    if args.screenshot and args.frames is None:
        raise UserError("--screenshot needs --frames N (the frame to save)")
    if args.screenshot:
        from physics_llm.io import refuse_dataset_target

        refuse_dataset_target(args.screenshot, "--screenshot")  # before the window opens
    scene = load_scene(args.scene) if args.scene else random_scene(cfg.scene_seed)

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from app.control import build_app

    control = None
    try:
        try:
            pygame.display.init()
            pygame.font.init()
            screen = pygame.display.set_mode((cfg.width, cfg.height))
        except pygame.error as e:
            raise UserError(f"cannot open a window ({e}); without a display, run with SDL_VIDEODRIVER=dummy "
                            "and --frames N --screenshot PNG") from None
        pygame.display.set_caption("physics-llm")
        control = build_app(cfg, screen, scene, start=args.screen, sync=args.frames is not None)
        n, seconds = control.run(args.frames)
        if args.frames is not None:
            print(f"ran {n} frames of the {control.state_name} screen in {seconds:.2f} s "
                  f"({n / max(seconds, 1e-9):.1f} fps, cap {cfg.fps or 'none'}), {scene.n} objects, "
                  f"model {cfg.model}")
        if args.screenshot:
            from physics_llm.io import atomic_path

            out = Path(args.screenshot)
            with atomic_path(out, suffix=out.suffix) as tmp:  # pygame picks the format by extension
                pygame.image.save(screen, str(tmp))
            print(f"wrote {out} ({cfg.width}x{cfg.height})")
    finally:
        if control is not None:
            if control.shared.jobs.running():
                print(f"cancelling {len(control.shared.jobs.running())} running job(s)", file=sys.stderr)
                control.shared.jobs.cancel_all()
            control.close()
        pygame.quit()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m app ARGS` is `physics-llm app ARGS`."""
    from physics_llm.cli import main as cli_main

    return cli_main(["app", *(sys.argv[1:] if argv is None else argv)])
