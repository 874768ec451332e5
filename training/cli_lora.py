"""`physics-llm train lora`: LoRA fine-tune of a Hugging Face causal LM (torch, transformers load only when it runs).

training/cli.py adds it to `physics-llm train` with add_lora_parser(train_subparsers).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.cli import add_run_arguments, run_training

TRAIN_LORA_HELP = """LoRA fine-tune (r=32, alpha=64 by default) of a Hugging Face causal LM, LiquidAI/LFM2-350M by
default, through the 5-stage curriculum (training/curriculum.py) on a dataset's train split. The base
model must be present locally (a directory, or the Hugging Face cache): nothing is downloaded.
RUN (--out) gets config.yaml, log.csv and adapter/ (evaluate it with `physics-llm eval --model
hf:BASE@RUN/adapter`; the train state inside lets --resume continue). With --resume the config
defaults to RUN/config.yaml."""


def add_lora_parser(train_subparsers) -> None:
    """Add `lora` to the subparsers of `physics-llm train`."""
    p = train_subparsers.add_parser("lora", help="LoRA fine-tune of a Hugging Face causal LM (LFM2-350M)",
                                    description=TRAIN_LORA_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, example="configs/train/lora.yaml", checkpoint="adapter checkpoint",
                      steps="the whole curriculum; the learning-rate schedule still spans it")
    p.add_argument("--base", metavar="PATH_OR_ID", help="base model: a directory or an id in the local Hugging Face "
                   "cache (overrides the config's base)")
    p.set_defaults(func=run_train_lora)


def run_train_lora(args) -> int:
    from training.lora_config import TrainLoRAConfig
    from training.train_lora import check_out, train

    out = Path(args.out)
    cfg, loss = run_training(args, TrainLoRAConfig, check_out, train, extra={"base": args.base})
    if loss is None:  # a torchrun rank other than 0
        return 0
    print(f"wrote {out}: config.yaml, log.csv, adapter/ ({loss}); evaluate with "
          f"`physics-llm eval --model hf:{cfg.base}@{out / 'adapter'} ...`")
    return 0
