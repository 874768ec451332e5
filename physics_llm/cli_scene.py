"""`physics-llm scene ...`: make, check and simulate single scene files."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from physics_llm.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    scene = sub.add_parser("scene", help="make, validate and simulate scene JSON files")
    ssub = scene.add_subparsers(dest="scene_command", metavar="SCENE_COMMAND", required=True)

    p = ssub.add_parser("random", help="write a random scene (a curriculum stage or an OOD suite)")
    p.add_argument("--seed", type=int, required=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--stage", type=int, choices=[1, 2, 3, 4, 5], help="curriculum stage (default: drawn from the seed)")
    g.add_argument("--ood", metavar="KIND", help="an out-of-distribution suite, e.g. high_gravity")
    p.add_argument("--out", required=True, help="scene JSON file to write")
    p.set_defaults(func=cmd_random)

    p = ssub.add_parser("validate", help="check scene files (a .json scene or a .jsonl of scenes)")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = ssub.add_parser("simulate", help="simulate a scene: traj (T,N,6) and contacts (T-1,N) into an .npz")
    p.add_argument("path")
    p.add_argument("--out", help=".npz with traj float32 (T,N,6) and contacts bool (T-1,N)")
    p.add_argument("--gif", help="also write an animated GIF of the simulation")
    p.add_argument("--frames", type=int, help="number of frames (default: the scene's)")
    p.set_defaults(func=cmd_simulate)


def cmd_random(args) -> int:
    from physics_llm.io import check_out_file
    from physics_llm.sim.generate import random_scene
    from physics_llm.sim.ood import ood_scene
    from physics_llm.sim.scene import MAX_SEED, save_scene

    check_out_file(args.out, "--out")
    if not 0 <= args.seed <= MAX_SEED:
        raise UserError(f"--seed must be a whole number 0..2**64-1, got {args.seed}")
    scene = ood_scene(args.ood, args.seed) if args.ood else random_scene(args.seed, stage=args.stage)
    save_scene(scene, args.out)
    what = f"ood {args.ood}" if args.ood else f"stage {scene.tags.get('stage')}"
    print(f"wrote {args.out}: {scene.n} objects, {what}, seed {args.seed}")
    return 0


def cmd_validate(args) -> int:
    from physics_llm.sim.scene import load_scene, load_scenes_jsonl

    for path in args.paths:
        if path.endswith(".jsonl"):
            scenes = load_scenes_jsonl(path)
            print(f"ok: {path}: {len(scenes)} scenes, {sum(s.n for s in scenes)} objects")
        else:
            s = load_scene(path)
            print(f"ok: {path}: {s.n} objects, {s.frames} frames, world {s.width:g}x{s.height:g}")
    return 0


def cmd_simulate(args) -> int:
    import numpy as np

    from physics_llm.io import check_out_file
    from physics_llm.sim.scene import check_work, load_scene
    from physics_llm.sim.simulate import simulate

    if not args.out and not args.gif:
        raise UserError("scene simulate: nothing to write; give --out FILE.npz and/or --gif FILE.gif")
    if args.frames is not None and args.frames < 2:
        raise UserError(f"--frames must be >= 2, got {args.frames}")
    for flag, path in (("--out", args.out), ("--gif", args.gif)):
        if path:
            check_out_file(path, flag)  # before the simulation: a bad path or a dataset is refused first
    scene = load_scene(args.path)
    frames = scene.frames if args.frames is None else args.frames
    check_work(scene.n, frames, scene.substeps, "--frames" if args.frames is not None else "frames")
    if args.gif:
        from physics_llm.gifs import check_gif_frames

        check_gif_frames(frames, f"--gif {args.gif}")
    tr = simulate(scene, frames=frames)
    if args.out:
        from physics_llm.io import atomic_write_bytes

        out = Path(args.out)
        buf = io.BytesIO()
        np.savez_compressed(buf, traj=tr.traj, contacts=tr.contacts, scene=np.array(scene.to_json()))
        atomic_write_bytes(out, buf.getvalue())
        print(f"wrote {out}: traj {tr.traj.shape} float32, contacts {tr.contacts.shape} bool")
    if args.gif:
        from physics_llm.gifs import write_trajectory_gif

        write_trajectory_gif(scene, tr.traj, args.gif)
        print(f"wrote {args.gif}")
    return 0
