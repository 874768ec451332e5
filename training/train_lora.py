"""LoRA fine-tune of a Hugging Face causal LM through the 5-stage curriculum (`physics-llm train lora`).

RUN (the --out directory) holds:
    config.yaml   the resolved TrainLoRAConfig
    log.csv       one row per evaluation: step, stage, lr, train_loss (mean since the last row),
                  val_loss, tokens_per_s, and the single-step pos/vel RMSE and parse rate of the
                  model and of constvel on fixed val frames
    adapter/      every ckpt_every steps and at the end: the LoRA adapter (peft save_pretrained),
                  text_format.json, meta.json (step, base, config, losses) and train_state.pt
                  (optimizer, torch RNG, loss accumulator) for --resume. Evaluate it with
                  `physics-llm eval --model hf:BASE@RUN/adapter`.

The base stays frozen; only the LoRA weights train. The loss is the cross-entropy of the
target tokens and eos (training/examples.py's mask). Batches are right-padded and need no
attention mask: every layer of a causal LM (LFM2's short convolutions too) only looks back,
so a real position never sees the padding after it, and padded positions carry no loss.
The loop, schedule, evaluation and log are training/loop.py's, shared with the GPT trainer.
A batch is a pure function of (seed, step), so --resume continues exactly where it stopped.
Devices, bfloat16, torch.compile and torchrun (DDP): training/distributed.py; dtype bfloat16
loads the frozen base in bfloat16 and runs the forward under bfloat16 autocast (the LoRA
weights and the optimizer stay float32). gradient_checkpointing recomputes each layer's
activations in the backward pass (transformers' non-reentrant checkpointing).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from physics_llm.config import to_dict
from physics_llm.errors import UserError
from physics_llm.models.checkpoint import load_train_state, save_train_state
from training import loop
from training.config import TEXT_KEYS
from training.curriculum import Curriculum
from training.examples import ExampleSampler
from training.lora_config import ADAPTER_KEYS, TrainLoRAConfig

LOG_FIELDS = ["step", "stage", "lr", "train_loss", "val_loss", "tokens_per_s", "pos_rmse", "vel_rmse", "parse_rate",
              "constvel_pos_rmse", "constvel_vel_rmse", "seconds"]
RUN_FILES = ("config.yaml", "log.csv", "adapter")
STATE_FILES = ("adapter_config.json", "adapter_model.safetensors", "text_format.json", "meta.json", "train_state.pt")


def check_out(out: Path, resume: bool) -> None:
    """Refuse, before anything is written, to overwrite a run or to resume none."""
    loop.check_out(out, resume, RUN_FILES)
    missing = [f for f in STATE_FILES if not (out / "adapter" / f).is_file()] if resume else []
    if missing:
        raise UserError(f"--resume: no checkpoint at {out / 'adapter'} (missing {', '.join(missing)}); start a new "
                        f"run without --resume, or delete {out} if its first checkpoint was never written")


def save_adapter(path: Path, model, fmt, *, step: int, train_state: dict, meta: dict) -> None:
    """Write RUN/adapter into a temp directory, then swap it in: a kill leaves the old one or the new one."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    old = path.with_name(f"{path.name}.old-{os.getpid()}")
    if tmp.is_symlink() or tmp.is_file():  # never write through a link planted at the temp name
        tmp.unlink()
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()  # exclusive: fails rather than follow anything planted since
    model.save_pretrained(tmp)  # peft: adapter_config.json + adapter_model.safetensors, LoRA weights only
    (tmp / "text_format.json").write_text(json.dumps(fmt.to_dict(), indent=1) + "\n")
    (tmp / "meta.json").write_text(json.dumps({"step": step, **meta}, indent=1) + "\n")
    save_train_state(tmp / "train_state.pt", train_state)
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def load_resume(path: Path, model, cfg: TrainLoRAConfig) -> tuple[int, dict]:
    """Adapter weights into the peft model; -> (step, train_state). The run must keep its model and text."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    meta = json.loads((path / "meta.json").read_text())
    saved = meta.get("config", {})
    for k in ADAPTER_KEYS + TEXT_KEYS:
        if k in saved and saved[k] != to_dict(cfg)[k]:
            raise UserError(f"--resume: {k} is {saved[k]!r} in {path} but {to_dict(cfg)[k]!r} now; a resumed run "
                            f"keeps its base, adapter shape and text format")
    result = set_peft_model_state_dict(model, load_file(path / "adapter_model.safetensors"))
    if result.unexpected_keys:
        raise UserError(f"--resume: {path} holds weights the model lacks ({result.unexpected_keys[0]}, ...)")
    return int(meta["step"]), load_train_state(path / "train_state.pt")  # weights only: never runs code


def batch_loss(model, batch, device, autocast=None, **forward):
    """Mean cross-entropy over the batch's target tokens (targets -1 elsewhere); the forward under
    `autocast` (a context manager factory, e.g. Runtime.autocast) when given, with `forward`'s
    extra arguments (use_cache=False under gradient checkpointing)."""
    import contextlib

    import torch
    import torch.nn.functional as F

    idx = torch.from_numpy(batch.idx).to(device)  # (B, T)
    targets = torch.from_numpy(batch.targets).to(device)  # (B, T)
    with (autocast or contextlib.nullcontext)():
        logits = model(input_ids=idx, **forward).logits  # (B, T, V)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-1)


def train(cfg: TrainLoRAConfig, data: str | Path, out: str | Path, *, resume: bool = False,
          stop: int | None = None, progress: bool = True) -> dict:
    """Fine-tune (or resume) into `out` until step `stop` (default: the whole curriculum). Returns the last log row."""
    from training import distributed

    out = Path(out)
    check_out(out, resume)
    loop.check_tensorboard(cfg)
    train_ds, val_ds = loop.open_split(data, "train"), loop.open_split(data, "val")  # fails before the slow imports
    state = load_train_state(out / "adapter" / "train_state.pt") if resume else None
    rt = distributed.start(cfg, loop.saved_world(state))  # device and world checks; writes nothing
    try:
        last = _run(cfg, data, out, resume, rt, stop, progress, train_ds, val_ds)
    except BaseException:
        rt.close(ok=False)
        raise
    rt.close()
    return last


def _run(cfg: TrainLoRAConfig, data, out: Path, resume: bool, rt, stop, progress: bool, train_ds, val_ds) -> dict:
    """train() once its checks passed: build the peft model on this process's device, then train."""
    import torch

    from physics_llm.models.hf_loading import HFTokens, load_base
    from physics_llm.models.hf_predictor import HFPredictor
    from training.lora_config import apply_lora

    say = (lambda *a: print(*a, file=sys.stderr)) if rt.main else (lambda *a: None)
    device = rt.device
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    base, tok = load_base(cfg.base, dtype=getattr(torch, cfg.dtype))
    if cfg.gradient_checkpointing:
        if not getattr(base, "supports_gradient_checkpointing", False):
            raise UserError(f"gradient_checkpointing: {cfg.base} ({type(base).__name__}) does not support it; "
                            "use --set gradient_checkpointing=false")
        enable = getattr(base, "activation_checkpointing_enable", None)  # transformers 5's name
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    fmt, tokens = cfg.text_format(), HFTokens(tok)
    model = apply_lora(base, cfg)
    step, acc = 0, loop.new_acc()
    if resume:
        step, state = load_resume(out / "adapter", model, cfg)
    model.to(device)
    optimizer = loop.make_optimizer(model, cfg, fused=rt.cuda)  # only the LoRA weights require grad
    if resume:
        acc = loop.restore(optimizer, state, rt)
    elif rt.rank > 0:  # dropout masks of their own (rank 0 keeps the single-process stream)
        torch.manual_seed(cfg.seed * 100_003 + rt.rank)

    def sampler_of(ds) -> ExampleSampler:
        return ExampleSampler(ds, fmt, tokens, cfg.max_tokens, cfg.onset_weight, cfg.onset_px_s)

    curriculum = Curriculum(train_ds, cfg.stage_steps, cfg.replay, sampler_of)
    stop = loop.stop_step(stop, step, curriculum.total, span="the curriculum's steps",
                          more="raise stage_steps (or --steps)")
    evals = loop.eval_set(val_ds, sampler_of, cfg, tokens.pad_id) if rt.main else None
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    plan = ", ".join(f"stage {s.number}: {s.steps} steps, {s.sampler.size} object-steps" for s in curriculum.stages)
    extras = [x for x, on in ((cfg.dtype, cfg.dtype != "float32"), ("compiled", cfg.compile),
                              ("gradient checkpointing", cfg.gradient_checkpointing),
                              (f"{rt.world} processes", rt.world > 1)) if on]
    say(f"{cfg.base}: {trainable / 1e6:.3f}M LoRA parameters on {device}"
        + (f" ({', '.join(extras)})" if extras else "")
        + f"; {plan}"
        + (f"; stages {curriculum.skipped} have no scenes here and are skipped" if curriculum.skipped else ""))

    train_model = rt.wrap(torch.compile(model) if cfg.compile else model)
    part_size = cfg.batch_size // cfg.micro_batches
    no_cache = {"use_cache": False} if cfg.gradient_checkpointing else {}  # a training forward keeps no cache

    def columns(at: int) -> dict:  # the stage and lr of the step before the row (of step 0 at the start)
        before = max(at - 1, 0)
        return {"stage": curriculum.stage_at(before).number, "lr": loop.lr_at(before, cfg, curriculum.total)}

    def save(at: int, state: dict, last: dict) -> None:
        save_adapter(out / "adapter", model, fmt, step=at, train_state=state,
                     meta={"base": cfg.base, **loop.run_meta(cfg, data, last)})

    return loop.train_loop(
        cfg, out, model, optimizer, evals, fields=LOG_FIELDS, desc="train lora", step=step, acc=acc, stop=stop,
        total=curriculum.total,
        batch_at=lambda s, part: curriculum.batch(cfg.seed, s, part_size, tokens.pad_id, part, cfg.micro_batches),
        loss_of=lambda batch: batch_loss(train_model, batch, device, rt.autocast, **no_cache),
        eval_loss_of=lambda batch: batch_loss(model, batch, device, rt.autocast),
        predictor=HFPredictor(model, tok, fmt), columns=columns, save=save,
        postfix=lambda s: {"stage": curriculum.stage_at(s).number}, progress=progress, runtime=rt,
        train_model=train_model)
