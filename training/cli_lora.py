"""`physics-llm train lora`: LoRA fine-tune of a Hugging Face causal LM (torch, transformers load only when it runs).

training/cli.py adds it to `physics-llm train` with add_lora_parser(train_subparsers).
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
    p.add_argument("--config", metavar="YAML", help="train config (e.g. configs/train/lora.yaml; default: built-in "
                   "defaults, or RUN/config.yaml with --resume)")
    p.add_argument("--data", required=True, metavar="DIR", help="dataset directory (`physics-llm data generate`)")
    p.add_argument("--out", required=True, metavar="RUN", help="run directory (new, or an existing run with --resume)")
    p.add_argument("--base", metavar="PATH_OR_ID", help="base model: a directory or an id in the local Hugging Face "
                   "cache (overrides the config's base)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its adapter checkpoint")
    p.add_argument("--steps", type=int, metavar="N", help="stop after step N (default: the whole curriculum; the "
                   "learning-rate schedule still spans it)")
    p.add_argument("--set", action="append", dest="sets", metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train_lora)


def run_train_lora(args) -> int:
    from physics_llm.config import load_config
    from training.lora_config import TrainLoRAConfig
    from training.train_lora import check_out, train

    out = Path(args.out)
    check_out(out, args.resume)  # before the config: with --resume it comes from the run
    config = args.config or (out / "config.yaml" if args.resume and (out / "config.yaml").exists() else None)
    cfg = load_config(TrainLoRAConfig, config, args.sets, extra={"base": args.base})
    last = train(cfg, args.data, out, resume=args.resume, stop=args.steps, progress=not args.quiet)
    loss = f"val loss {float(last['val_loss']):.4f} at step {last['step']}" if last else "no evaluation yet"
    print(f"wrote {out}: config.yaml, log.csv, adapter/ ({loss}); evaluate with "
          f"`physics-llm eval --model hf:{cfg.base}@{out / 'adapter'} ...`")
    return 0
