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
A batch is a pure function of (seed, step), so --resume continues exactly where it stopped.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from physics_llm.config import save_config, to_dict
from physics_llm.errors import UserError
from training.curriculum import Curriculum
from training.examples import STREAM_VAL, ExampleSampler, collate, eval_windows
from training.gpt_config import TEXT_KEYS
from training.lora_config import ADAPTER_KEYS, TrainLoRAConfig
from training.train_gpt import lr_at, make_optimizer, open_split, step_metrics

LOG_FIELDS = ["step", "stage", "lr", "train_loss", "val_loss", "tokens_per_s", "pos_rmse", "vel_rmse", "parse_rate",
              "constvel_pos_rmse", "constvel_vel_rmse", "seconds"]
RUN_FILES = ("config.yaml", "log.csv", "adapter")
STATE_FILES = ("adapter_config.json", "adapter_model.safetensors", "text_format.json", "meta.json", "train_state.pt")


def check_out(out: Path, resume: bool) -> None:
    """Refuse, before anything is written, to overwrite a run or to resume none."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a directory for the run")
    if resume:
        missing = [f for f in STATE_FILES if not (out / "adapter" / f).is_file()]
        if missing:
            raise UserError(f"--resume: no checkpoint at {out / 'adapter'} (missing {', '.join(missing)}); start a new "
                            f"run without --resume, or delete {out} if its first checkpoint was never written")
    elif any((out / f).exists() for f in RUN_FILES):
        raise UserError(f"--out {out}: already holds a run; add --resume to continue it, or choose a new --out")


def pick_device(cfg: TrainLoRAConfig):
    import torch

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda: torch sees no GPU here; use --set device=cpu (or auto)")
    cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if cfg.dtype == "bfloat16" and not cuda:
        raise UserError("dtype bfloat16 is for a GPU (CPU bfloat16 matmuls are slow); use --set dtype=float32 here")
    return torch.device("cuda" if cuda else "cpu")


def save_adapter(path: Path, model, fmt, *, step: int, train_state: dict, meta: dict) -> None:
    """Write RUN/adapter into a temp directory, then swap it in: a kill leaves the old one or the new one."""
    import torch

    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    old = path.with_name(f"{path.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)  # peft: adapter_config.json + adapter_model.safetensors, LoRA weights only
    (tmp / "text_format.json").write_text(json.dumps(fmt.to_dict(), indent=1) + "\n")
    (tmp / "meta.json").write_text(json.dumps({"step": step, **meta}, indent=1) + "\n")
    torch.save(train_state, tmp / "train_state.pt")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def load_resume(path: Path, model, cfg: TrainLoRAConfig) -> tuple[int, dict]:
    """Adapter weights into the peft model; -> (step, train_state). The run must keep its model and text."""
    import torch
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
    return int(meta["step"]), torch.load(path / "train_state.pt", map_location="cpu", weights_only=False)


def batch_loss(model, batch, device):
    """Mean cross-entropy over the batch's target tokens (targets -1 elsewhere)."""
    import torch
    import torch.nn.functional as F

    idx = torch.from_numpy(batch.idx).to(device)  # (B, T)
    targets = torch.from_numpy(batch.targets).to(device)  # (B, T)
    logits = model(input_ids=idx).logits  # (B, T, V)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-1)


def val_loss(model, examples: list, batch_size: int, pad_id: int, device) -> float:
    """Mean cross-entropy per target token over fixed examples (NaN when there are none)."""
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for k in range(0, len(examples), batch_size):
            b = collate(examples[k:k + batch_size], pad_id)
            n = int((b.targets != -1).sum())
            total += float(batch_loss(model, b, device)) * n
            count += n
    return total / count if count else float("nan")


def read_log(path: Path, upto: int) -> list[dict]:
    """Rows of an earlier log.csv up to step `upto` (a killed run may have logged past its checkpoint)."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [r for r in csv.DictReader(f) if int(r["step"]) <= upto]


def write_log(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def train(cfg: TrainLoRAConfig, data: str | Path, out: str | Path, *, resume: bool = False,
          stop: int | None = None, progress: bool = True) -> dict:
    """Fine-tune (or resume) into `out` until step `stop` (default: the whole curriculum). Returns the last log row."""
    out = Path(out)
    check_out(out, resume)
    train_ds, val_ds = open_split(data, "train"), open_split(data, "val")  # bad input fails before the slow imports

    import torch
    from tqdm import tqdm

    from physics_llm.models.hf_predictor import HFPredictor, HFTokens, load_base
    from physics_llm.models.registry import load_predictor
    from training.lora_config import apply_lora

    device = pick_device(cfg)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    base, tok = load_base(cfg.base, dtype=getattr(torch, cfg.dtype))
    fmt, tokens = cfg.text_format(), HFTokens(tok)
    model = apply_lora(base, cfg)
    step, acc = 0, {"loss_sum": 0.0, "loss_n": 0, "tokens": 0, "seconds": 0.0}
    if resume:
        step, state = load_resume(out / "adapter", model, cfg)
    model.to(device)
    optimizer = make_optimizer(model, cfg)  # only the LoRA weights require grad
    if resume:
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        acc = state["acc"]

    def sampler(ds) -> ExampleSampler:
        return ExampleSampler(ds, fmt, tokens, cfg.max_tokens, cfg.onset_weight, cfg.onset_px_s)

    curriculum = Curriculum(train_ds, cfg.stage_steps, cfg.replay, sampler)
    stop = curriculum.total if stop is None else stop
    if not 1 <= stop <= curriculum.total:
        raise UserError(f"--steps {stop}: must be 1..{curriculum.total} (the curriculum's steps)")
    if step >= stop:
        raise UserError(f"--resume: the checkpoint is at step {step} of {curriculum.total} already; raise "
                        f"stage_steps (or --steps) to train on")
    # train_gpt.lr_at reads these four: both trainers share one warmup + cosine rule, spanning the curriculum here.
    schedule = SimpleNamespace(warmup=cfg.warmup, steps=curriculum.total, lr=cfg.lr, min_lr=cfg.min_lr)
    val_examples = []
    if len(val_ds) and cfg.eval_examples:
        val_sampler = sampler(val_ds)
        if val_sampler.size:
            val_examples = val_sampler.examples(np.random.default_rng([cfg.seed, STREAM_VAL]), cfg.eval_examples)
    cases = eval_windows(val_ds, fmt.context, cfg.seed, cfg.eval_windows)
    constvel = step_metrics(load_predictor("baseline:constvel"), cases)
    predictor = HFPredictor(model, tok, fmt)  # generates with the adapter as it trains
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    plan = ", ".join(f"stage {s.number}: {s.steps} steps, {s.sampler.size} object-steps" for s in curriculum.stages)
    print(f"{cfg.base}: {trainable / 1e6:.3f}M LoRA parameters on {device}; {plan}"
          + (f"; stages {curriculum.skipped} have no scenes here and are skipped" if curriculum.skipped else ""),
          file=sys.stderr)

    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    log_path = out / "log.csv"
    rows = read_log(log_path, step)

    def evaluate(at: int) -> dict:
        model.eval()
        row = {"step": at, "stage": curriculum.stage_at(max(at - 1, 0)).number, "lr": lr_at(max(at - 1, 0), schedule),
               "val_loss": val_loss(model, val_examples, cfg.batch_size, tokens.pad_id, device),
               "seconds": round(acc["seconds"], 3)}
        if acc["loss_n"]:
            row.update(train_loss=acc["loss_sum"] / acc["loss_n"],
                       tokens_per_s=acc["tokens"] / max(acc["seconds"], 1e-9))
        row.update(step_metrics(predictor, cases))
        row.update({f"constvel_{k}": v for k, v in constvel.items() if k != "parse_rate"})
        model.train()
        acc.update(loss_sum=0.0, loss_n=0, tokens=0, seconds=0.0)
        rows.append(row)
        write_log(log_path, rows)
        return row

    def checkpoint(at: int, last: dict) -> None:
        state = {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(), "acc": dict(acc)}
        meta = {"base": cfg.base, "data": str(data), "config": to_dict(cfg), "val_loss": last.get("val_loss"),
                "train_loss": last.get("train_loss")}
        save_adapter(out / "adapter", model, fmt, step=at, train_state=state, meta=meta)

    last = rows[-1] if rows else {}
    if step == 0:
        last = evaluate(0)
        print(f"step 0: val loss {last['val_loss']:.4f}", file=sys.stderr)
    model.train()
    bar = tqdm(range(step, stop), initial=step, total=stop, desc="train lora", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    for s in bar:
        t0 = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(s, schedule)
        batch = curriculum.batch(cfg.seed, s, cfg.batch_size, tokens.pad_id)
        loss = batch_loss(model, batch, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
        optimizer.step()
        dt = time.perf_counter() - t0
        acc["loss_sum"] += loss.item()
        acc["loss_n"] += 1
        acc["tokens"] += batch.tokens
        acc["seconds"] += dt
        bar.set_postfix(stage=curriculum.stage_at(s).number, loss=f"{acc['loss_sum'] / acc['loss_n']:.4f}",
                        tok_s=f"{batch.tokens / dt:,.0f}", refresh=False)
        done = s + 1
        if done % cfg.eval_every == 0 or done == curriculum.total:
            last = evaluate(done)
            bar.write(f"step {done} (stage {last['stage']}): train loss {last['train_loss']:.4f}, val loss "
                      f"{last['val_loss']:.4f}, vel RMSE {last['vel_rmse']:.2f} (constvel "
                      f"{last['constvel_vel_rmse']:.2f}), parsed {last['parse_rate']:.1%}")
        if done % cfg.ckpt_every == 0 or done == stop:
            checkpoint(done, last)
    bar.close()
    return last
