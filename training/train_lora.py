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


def complete_adapter(d: Path) -> bool:
    """An adapter directory a save wrote whole: every file there, meta.json and (last written) train_state.pt
    readable. For the copies a killed save left (adapter.tmp-PID, adapter.old-PID)."""
    if not all((d / f).is_file() for f in STATE_FILES):
        return False
    try:
        meta = json.loads((d / "meta.json").read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("step"), int):
            return False
        load_train_state(d / "train_state.pt")
    except (OSError, ValueError, UserError):
        return False
    return True


CHECKPOINTS = {"adapter": complete_adapter}


def check_out(out: Path, resume: bool, cfg: TrainLoRAConfig | None = None) -> None:
    """Refuse, before anything is written, to overwrite a run or to resume none (loop.check_out)."""
    loop.check_out(out, resume, RUN_FILES, CHECKPOINTS, cfg)
    src = loop.resume_from(out, "adapter", complete_adapter) if resume else None
    missing = [f for f in STATE_FILES if not (src / f).is_file()] if src else []
    if missing:
        raise UserError(f"--resume: no complete checkpoint at {src} (missing {', '.join(missing)}); restore it, "
                        f"or start a new run (a new --out, without --resume)")


def save_adapter(path: Path, model, fmt, *, step: int, train_state: dict, meta: dict) -> None:
    """Write RUN/adapter whole (io.swap_dir: a temp directory, then two renames; a kill leaves the old
    one, the new one, or a swap that --resume finishes)."""
    from physics_llm.io import swap_dir

    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp)  # peft: adapter_config.json + adapter_model.safetensors, LoRA weights only
        (tmp / "text_format.json").write_text(json.dumps(fmt.to_dict(), indent=1) + "\n")
        (tmp / "meta.json").write_text(json.dumps({"step": step, **meta}, indent=1) + "\n")
        save_train_state(tmp / "train_state.pt", train_state)  # last: a temp with a readable one is whole

    swap_dir(path, fill)


def read_adapter(path: Path, cfg: TrainLoRAConfig) -> dict:
    """What --resume continues from, read whole before training starts: {step, weights, state}.
    The run must keep its base, adapter shape and text format."""
    from safetensors.torch import load_file

    meta = json.loads((path / "meta.json").read_text())
    saved = meta.get("config", {})
    for k in ADAPTER_KEYS + TEXT_KEYS:
        if k in saved and saved[k] != to_dict(cfg)[k]:
            raise UserError(f"--resume: {k} is {saved[k]!r} in {path} but {to_dict(cfg)[k]!r} now; a resumed run "
                            f"keeps its base, adapter shape and text format")
    return {"step": int(meta["step"]), "path": path, "weights": load_file(path / "adapter_model.safetensors"),
            "state": load_train_state(path / "train_state.pt")}  # weights only: never runs code


def load_resume(saved: dict, model) -> tuple[int, dict]:
    """read_adapter's weights into the peft model; -> (step, train_state)."""
    from peft import set_peft_model_state_dict

    result = set_peft_model_state_dict(model, saved["weights"])
    if result.unexpected_keys:
        raise UserError(f"--resume: {saved['path']} holds weights the model lacks ({result.unexpected_keys[0]}, ...)")
    return saved["step"], saved["state"]


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
    from physics_llm.models.registry import check_hf_base
    from training import distributed

    out = Path(out)
    # The cheap checks first (about a second), then the ones that load torch and the base model.
    check_out(out, resume, cfg)
    loop.check_tensorboard(cfg)
    if cfg.device == "cuda" or cfg.dtype != "float32":  # a GPU asked for: say whether there is one first
        distributed.pick_device(cfg.device, cfg.dtype)
    check_hf_base(cfg.base, "base")  # a directory with config.json and weights, or an id in the local HF cache
    train_ds, val_ds = loop.open_split(data, "train"), loop.open_split(data, "val")  # fails before the slow imports
    if resume and loop.single_process():  # a save a kill interrupted is finished (or undone) first
        loop.recover_checkpoints(out, CHECKPOINTS)
    src = loop.resume_from(out, "adapter", complete_adapter) if resume else None  # under torchrun: read only
    saved = read_adapter(src, cfg) if src else None  # check_out made sure its files are there
    if resume and src is None and distributed.is_main():
        print(f"note: {out} has no complete adapter checkpoint (the run was stopped before its first one): "
              "starting it over from step 0", file=sys.stderr)
    return loop.on_devices(cfg, out, CHECKPOINTS, saved["state"] if saved else None,
                           lambda rt: _run(cfg, data, out, saved, rt, stop, progress, train_ds, val_ds))


def _run(cfg: TrainLoRAConfig, data, out: Path, saved: dict | None, rt, stop, progress: bool, train_ds,
         val_ds) -> dict:
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
    if saved is not None:  # resumed: read before clear_debris put its directory in place
        step, state = load_resume(saved, model)
    model.to(device)
    optimizer = loop.make_optimizer(model, cfg, fused=rt.cuda)  # only the LoRA weights require grad
    if saved is not None:
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

    trainee = loop.Trainee(
        model, optimizer,
        batch_at=lambda s, part: curriculum.batch(cfg.seed, s, part_size, tokens.pad_id, part, cfg.micro_batches),
        loss_of=lambda batch: batch_loss(train_model, batch, device, rt.autocast, **no_cache),
        eval_loss_of=lambda batch: batch_loss(model, batch, device, rt.autocast),
        predictor=HFPredictor(model, tok, fmt), train_model=train_model)
    output = loop.Output(out, LOG_FIELDS, columns=columns, save=save, desc="train lora", progress=progress,
                         postfix=lambda s: {"stage": curriculum.stage_at(s).number})
    return loop.train_loop(cfg, trainee, loop.Span(step, stop, curriculum.total, acc), evals, output, rt)
