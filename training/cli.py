"""`physics-llm train gpt` and `physics-llm train lora` (torch is imported only when one runs).

The arguments both share are added by add_run_arguments and handled by run_training;
cli_lora.py adds `train lora` with them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

TRAIN_GPT_HELP = """Train the from-scratch GPT on a dataset's train split. RUN (--out) gets config.yaml,
log.csv (losses, tokens/s and single-step RMSE on val frames beside constvel) and ckpt/ (a checkpoint
for `--model gpt:RUN/ckpt`, with the train state for --resume). A run of 2N steps equals N steps,
then --resume, then N more. With --resume the config defaults to RUN/config.yaml."""


def register(sub) -> None:
    from training.cli_lora import add_lora_parser  # it imports this module's helpers

    train = sub.add_parser("train", help="train models (gpt: the from-scratch GPT; lora: a LoRA fine-tune of a Hugging Face LM)")
    tsub = train.add_subparsers(dest="train_command", metavar="TRAIN_COMMAND", required=True)
    p = tsub.add_parser("gpt", help="train the from-scratch GPT", description=TRAIN_GPT_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, example="configs/train/gpt.yaml", checkpoint="checkpoint",
                      steps="the config's steps; the learning-rate schedule still spans the config's steps: "
                            "use --set steps=N to shorten it")
    p.set_defaults(func=run_train_gpt)

    add_lora_parser(tsub)


def add_run_arguments(p, *, example: str, checkpoint: str, steps: str) -> None:
    """The arguments of every `physics-llm train` command; the help names its config, checkpoint and default stop."""
    p.add_argument("--config", metavar="YAML", help=f"train config (e.g. {example}; default: built-in "
                   "defaults, or RUN/config.yaml with --resume)")
    p.add_argument("--data", required=True, metavar="DIR", help="dataset directory (`physics-llm data generate`)")
    p.add_argument("--out", required=True, metavar="RUN", help="run directory (new, or an existing run with --resume)")
    p.add_argument("--resume", action="store_true", help=f"continue the run in --out from its {checkpoint}")
    p.add_argument("--steps", type=int, metavar="N", help=f"stop after step N (default: {steps})")
    p.add_argument("--set", action="append", dest="sets", metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_training(args, config_cls, check_out, train, extra: dict | None = None) -> tuple:
    """Check --out, load the config (RUN/config.yaml by default with --resume) and train. -> (config, message).

    Under torchrun every process runs this; a bad input is printed by rank 0 alone (the other
    ranks exit 2 silently) and so is the closing message (message None on the other ranks).
    """
    from physics_llm.config import load_config
    from physics_llm.io import refuse_dataset_target
    from training.distributed import is_main, quiet_ranks

    out = Path(args.out)
    with quiet_ranks():
        refuse_dataset_target(out, "--out", directory=True)  # a run inside --data's directory (or any dataset)
        check_out(out, args.resume)  # before the config: with --resume it comes from the run
        config = args.config or (out / "config.yaml" if args.resume and (out / "config.yaml").exists() else None)
        cfg = load_config(config_cls, config, args.sets, extra=extra)
        last = train(cfg, args.data, out, resume=args.resume, stop=args.steps, progress=not args.quiet)
    if not is_main():
        return cfg, None
    return cfg, f"val loss {float(last['val_loss']):.4f} at step {last['step']}" if last else "no evaluation yet"


def run_train_gpt(args) -> int:
    from training.gpt_config import TrainGPTConfig
    from training.train_gpt import check_out, train

    out = Path(args.out)
    _, loss = run_training(args, TrainGPTConfig, check_out, train)
    if loss is None:  # a torchrun rank other than 0
        return 0
    print(f"wrote {out}: config.yaml, log.csv, ckpt/ ({loss}); evaluate with "
          f"`physics-llm eval --model gpt:{out / 'ckpt'} ...`")
    return 0
