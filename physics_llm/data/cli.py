"""`physics-llm data ...`: generate, info, verify, export-jsonl, merge."""

from __future__ import annotations

import argparse

from physics_llm.data.config import SPLITS


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="make, check and export datasets of simulated scenes")
    dsub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    p = dsub.add_parser("generate", help="generate (or resume) a dataset of compact shards")
    p.add_argument("--config", help="data config YAML (default: built-in defaults, as configs/data/default.yaml)")
    p.add_argument("--out", required=True, help="dataset directory (created; rerun to resume)")
    p.add_argument("--scenes", type=int, help="number of scenes (overrides the config)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, one shard each at a time "
                   "(the bytes do not depend on it)")
    p.add_argument("--shard", metavar="I/N", help="make only shards whose index %% N == I (one part of N); "
                   "combine the parts with `data merge`")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)

    p = dsub.add_parser("info", help="counts per split, size on disk, bytes per scene, config")
    p.add_argument("dir")
    p.set_defaults(func=cmd_info)

    p = dsub.add_parser("verify", help="re-hash and decode every shard; exit 1 on any problem")
    p.add_argument("dir")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_verify)

    p = dsub.add_parser("export-jsonl", help="write scenes as JSONL: scene JSON + frames (+ model text)")
    p.add_argument("dir")
    p.add_argument("--split", choices=SPLITS, help="one split (default: all, in train, val, test order)")
    p.add_argument("--limit", type=int, help="at most this many scenes")
    p.add_argument("--out", required=True, help="JSONL file to write")
    p.add_argument("--text", action="store_true", help="add the model text (default TextFormat) per scene")
    p.set_defaults(func=cmd_export)

    p = dsub.add_parser("merge", help="combine the parts of a `generate --shard I/N` run into one dataset")
    p.add_argument("--out", required=True, help="merged dataset directory (new, or a part of the same config)")
    p.add_argument("parts", nargs="+", metavar="PART_DIR")
    p.set_defaults(func=cmd_merge)


def cmd_generate(args) -> int:
    from physics_llm.config import load_config
    from physics_llm.data.config import DataConfig
    from physics_llm.data.generate import generate_dataset
    from physics_llm.data.plan import parse_shard_arg

    part = parse_shard_arg(args.shard) if args.shard else (0, 1)
    cfg = load_config(DataConfig, args.config, args.set, extra={"scenes": args.scenes})
    s = generate_dataset(cfg, args.out, workers=args.workers, part=part, progress=not args.quiet)
    rate = s["scenes"] / s["seconds"] if s["seconds"] > 0 else 0.0
    skipped = f"; {s['skipped']} finished shard(s) kept" if s["skipped"] else ""
    print(f"generated {s['scenes']} scenes ({s['shards']} shards) in {s['seconds']:.1f} s, "
          f"{rate:.1f} scenes/s{skipped}")
    if s["complete"]:
        print(f"{args.out}: complete, {cfg.scenes} scenes")
    elif args.shard:
        print(f"{args.out}: part {args.shard} done; {s['missing']} shard(s) belong to other parts: "
              f"combine with `physics-llm data merge --out DIR PART_DIR...`")
    else:
        print(f"{args.out}: {s['missing']} shard(s) still missing; rerun the same command")
    return 0


def cmd_info(args) -> int:
    from physics_llm.data.verify import dataset_info

    print(dataset_info(args.dir))
    return 0


def cmd_verify(args) -> int:
    from physics_llm.data.verify import verify_dataset

    problems, shards, scenes = verify_dataset(args.dir, progress=not args.quiet)
    for p in problems:
        print(f"problem: {p}")
    if problems:
        print(f"FAILED: {len(problems)} of {shards} shards have problems ({args.dir})")
        return 1
    print(f"ok: {shards} shards, {scenes} scenes")
    return 0


def cmd_export(args) -> int:
    from physics_llm.data.export import export_jsonl

    n = export_jsonl(args.dir, args.out, split=args.split, limit=args.limit, text=args.text)
    print(f"wrote {n} scenes to {args.out}")
    return 0


def cmd_merge(args) -> int:
    from physics_llm.data.merge import merge_datasets

    s = merge_datasets(args.out, args.parts)
    if s["complete"]:
        print(f"merged {s['copied']} shard(s) into {args.out}: complete")
        return 0
    print(f"merged {s['copied']} shard(s) into {args.out}; {s['missing']} shard(s) still missing "
          f"(make them with `data generate` into {args.out}, or merge the other parts)")
    return 1
