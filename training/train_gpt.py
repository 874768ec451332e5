"""Train the from-scratch GPT on a dataset's object-steps (`physics-llm train gpt`), read top to bottom.

RUN (the --out directory) holds:
    config.yaml   the resolved TrainGPTConfig
    log.csv       one row per evaluation: step, lr, train_loss (mean since the last row), val_loss,
                  tokens_per_s, data_frac (share of step time spent building batches), and the
                  single-step pos/vel RMSE and parse rate of the model and of constvel on fixed
                  val frames
    ckpt/         the checkpoint (models/checkpoint.py) every ckpt_every steps and at the end, with
                  the train state (optimizer, step, torch RNG, loss accumulator) for --resume

A batch is a pure function of (seed, step) (training/examples.py), so a run of 2N
steps equals N steps + --resume + N steps, weights and losses bit for bit on the CPU
(with the same number of threads).
`stop` (--steps) ends a run early without changing the schedule, which always spans
config `steps`.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import numpy as np

from physics_llm.config import save_config, to_dict
from physics_llm.errors import UserError
from training.examples import STREAM_VAL, ExampleSampler, collate, eval_windows
from training.gpt_config import MODEL_KEYS, TEXT_KEYS, TrainGPTConfig

LOG_FIELDS = ["step", "lr", "train_loss", "val_loss", "tokens_per_s", "data_frac", "pos_rmse", "vel_rmse",
              "parse_rate", "constvel_pos_rmse", "constvel_vel_rmse", "seconds"]
RUN_FILES = ("config.yaml", "log.csv", "ckpt")
BETAS = (0.9, 0.99)  # nanoGPT's choice for small models on small batches


def check_out(out: Path, resume: bool) -> None:
    """Refuse, before anything is written, to overwrite a run or to resume none."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a directory for the run")
    if resume:
        if not (out / "ckpt").is_dir() and not any(out.glob("ckpt.old-*")):  # .old: a save killed mid-rename
            raise UserError(f"--resume: no checkpoint at {out / 'ckpt'} (start a new run without --resume, "
                            f"or delete {out} if its first checkpoint was never written)")
    elif any((out / f).exists() for f in RUN_FILES):
        raise UserError(f"--out {out}: already holds a run; add --resume to continue it, or choose a new --out")


def open_split(data: str | Path, split: str):
    from physics_llm.data.store import open_dataset

    root = Path(data)
    if not root.is_dir():
        raise UserError(f"--data {root}: no such directory (make one with `physics-llm data generate --out {root}`)")
    ds = open_dataset(root, split)
    if split == "train" and len(ds) == 0:
        raise UserError(f"--data {root}: the dataset has no train split (splits: {', '.join(ds.splits) or 'none'}); "
                        "generate one with a train fraction > 0")
    return ds


def lr_at(step: int, cfg: TrainGPTConfig) -> float:
    """Linear warmup to lr over `warmup` steps, then cosine down to min_lr at `steps`."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if step >= cfg.steps:
        return cfg.min_lr
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * frac)) * (cfg.lr - cfg.min_lr)


def make_optimizer(model, cfg: TrainGPTConfig):
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]  # matrices and embeddings; not biases or LayerNorm
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=BETAS)


def val_loss(model, examples: list, batch_size: int, pad_id: int) -> float:
    """Mean cross-entropy per target token over fixed examples (NaN when there are none)."""
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for k in range(0, len(examples), batch_size):
            b = collate(examples[k:k + batch_size], pad_id)
            n = int((b.targets != -1).sum())
            _, loss = model(torch.from_numpy(b.idx), torch.from_numpy(b.targets))
            total += float(loss) * n
            count += n
    return total / count if count else float("nan")


def step_metrics(predictor, cases: list) -> dict:
    """Single-step RMSE of a predictor over fixed cases [(scene, windows, truth)], pooled over objects."""
    from physics_llm.eval.metrics import parse_rate, pos_sq_err, rms, root_mean, vel_err

    if not cases:
        return {"pos_rmse": float("nan"), "vel_rmse": float("nan"), "parse_rate": float("nan")}
    preds = predictor.predict_many([(scene, windows, None) for scene, windows, _ in cases])  # one batch for a GPT
    pos = np.concatenate([pos_sq_err(p.states, truth).ravel() for p, (_, _, truth) in zip(preds, cases)])
    vel = np.concatenate([vel_err(p.states, truth).ravel() for p, (_, _, truth) in zip(preds, cases)])
    parsed = np.concatenate([p.parsed.ravel() for p in preds])
    return {"pos_rmse": root_mean(pos), "vel_rmse": rms(vel), "parse_rate": parse_rate(parsed)}


def read_log(path: Path, upto: int) -> list[dict]:
    """Rows of an earlier log.csv up to step `upto` (a killed run may have logged past its checkpoint)."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        rows = [{k: int(v) if k == "step" else float(v) if v else None for k, v in r.items()}
                for r in csv.DictReader(f)]
    return [r for r in rows if r["step"] <= upto]


def write_log(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def check_same_model(cfg: TrainGPTConfig, ck, out: Path) -> None:
    """A resumed run must keep the keys that fix the weights' shapes and the meaning of the text."""
    saved = {**{k: getattr(ck.gpt_cfg, k) for k in MODEL_KEYS}, **ck.fmt.to_dict()}
    for k in MODEL_KEYS + TEXT_KEYS:
        if saved[k] != getattr(cfg, k):
            raise UserError(f"--resume: {k} is {saved[k]!r} in the checkpoint at {out / 'ckpt'} but "
                            f"{getattr(cfg, k)!r} now; a resumed run keeps its model and text format")


def train(cfg: TrainGPTConfig, data: str | Path, out: str | Path, *, resume: bool = False,
          stop: int | None = None, progress: bool = True) -> dict:
    """Train (or resume) into `out` until step `stop` (default cfg.steps). Returns the last log row."""
    import torch
    from tqdm import tqdm

    from physics_llm.models.checkpoint import load_checkpoint, save_checkpoint
    from physics_llm.models.gpt import GPT, GPTConfig
    from physics_llm.models.gpt_predictor import GPTPredictor
    from physics_llm.models.registry import load_predictor
    from physics_llm.text import DigitTokenizer

    out = Path(out)
    check_out(out, resume)
    stop = cfg.steps if stop is None else stop
    if not 1 <= stop <= cfg.steps:
        raise UserError(f"--steps {stop}: must be 1..{cfg.steps} (the config's steps, which the learning-rate "
                        f"schedule spans; use --set steps={stop} for a shorter schedule)")
    train_ds, val_ds = open_split(data, "train"), open_split(data, "val")
    ck = load_checkpoint(out / "ckpt", with_train_state=True) if resume else None
    if ck is not None:
        check_same_model(cfg, ck, out)
        if ck.step >= stop:
            raise UserError(f"--resume: the checkpoint is at step {ck.step} already; give --steps or "
                            f"--set steps=N beyond it to train on")

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    fmt, tok = cfg.text_format(), DigitTokenizer()
    gpt_cfg = GPTConfig(vocab_size=tok.vocab_size, **cfg.model_kwargs())
    model = GPT(gpt_cfg)
    optimizer = make_optimizer(model, cfg)
    step, acc = 0, {"loss_sum": 0.0, "loss_n": 0, "tokens": 0, "seconds": 0.0, "data_seconds": 0.0}
    if ck is not None:
        model.load_state_dict(ck.model.state_dict())
        optimizer.load_state_dict(ck.train_state["optimizer"])
        torch.set_rng_state(ck.train_state["torch_rng"])
        step, acc = ck.step, ck.train_state["acc"]

    t_index = time.perf_counter()
    print(f"indexing {len(train_ds)} train and {len(val_ds)} val scenes", file=sys.stderr)
    sampler = ExampleSampler(train_ds, fmt, tok, cfg.block_size, cfg.onset_weight, cfg.onset_px_s)
    val_examples = []
    if len(val_ds):
        val_sampler = ExampleSampler(val_ds, fmt, tok, cfg.block_size, cfg.onset_weight, cfg.onset_px_s)
        if val_sampler.size:
            val_examples = val_sampler.examples(np.random.default_rng([cfg.seed, STREAM_VAL]), cfg.eval_examples)
    cases = eval_windows(val_ds, fmt.context, cfg.seed, cfg.eval_windows)
    constvel = step_metrics(load_predictor("baseline:constvel"), cases)
    print(f"{model.num_params() / 1e6:.2f}M parameters; {sampler.size} train object-steps "
          f"({len(sampler.onsets)} onsets, drawn x{cfg.onset_weight:g}); {len(val_examples)} val examples, "
          f"{len(cases)} val frames; indexed in {time.perf_counter() - t_index:.1f} s", file=sys.stderr)

    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    log_path = out / "log.csv"
    rows = read_log(log_path, step)

    def evaluate(at: int) -> dict:
        model.eval()
        row = {"step": at, "val_loss": val_loss(model, val_examples, cfg.batch_size, tok.pad_id),
               "seconds": round(acc["seconds"], 3)}
        if acc["loss_n"]:  # steps were taken since the last row
            row.update(lr=lr_at(at - 1, cfg), train_loss=acc["loss_sum"] / acc["loss_n"],
                       tokens_per_s=acc["tokens"] / max(acc["seconds"], 1e-9),
                       data_frac=acc["data_seconds"] / max(acc["seconds"], 1e-9))
        row.update(step_metrics(GPTPredictor(model, fmt, tok), cases))
        row.update({f"constvel_{k}": v for k, v in constvel.items() if k != "parse_rate"})
        model.train()
        acc.update(loss_sum=0.0, loss_n=0, tokens=0, seconds=0.0, data_seconds=0.0)
        rows.append(row)
        write_log(log_path, rows)
        return row

    def checkpoint(at: int, last: dict) -> None:
        state = {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(), "acc": dict(acc),
                 "sampler": {"seed": cfg.seed, "next_step": at}}
        meta = {"data": str(data), "config": to_dict(cfg), "val_loss": last.get("val_loss"),
                "train_loss": last.get("train_loss")}
        save_checkpoint(out / "ckpt", model, gpt_cfg, fmt, tok, step=at, train_state=state, meta=meta)

    last = rows[-1] if rows else {}
    if step == 0:
        last = evaluate(0)
        print(f"step 0: val loss {last['val_loss']:.4f}", file=sys.stderr)
    model.train()
    bar = tqdm(range(step, stop), initial=step, total=stop, desc="train gpt", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    for s in bar:
        t0 = time.perf_counter()
        lr = lr_at(s, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = sampler.batch(cfg.seed, s, cfg.batch_size)
        t_data = time.perf_counter() - t0
        _, loss = model(torch.from_numpy(batch.idx), torch.from_numpy(batch.targets))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        dt = time.perf_counter() - t0
        acc["loss_sum"] += loss.item()
        acc["loss_n"] += 1
        acc["tokens"] += batch.tokens
        acc["seconds"] += dt
        acc["data_seconds"] += t_data
        bar.set_postfix(loss=f"{acc['loss_sum'] / acc['loss_n']:.4f}", tok_s=f"{batch.tokens / dt:,.0f}",
                        refresh=False)
        done = s + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            last = evaluate(done)
            bar.write(f"step {done}: train loss {last['train_loss']:.4f}, val loss {last['val_loss']:.4f}, "
                      f"vel RMSE {last['vel_rmse']:.2f} (constvel {last['constvel_vel_rmse']:.2f}), "
                      f"parsed {last['parse_rate']:.1%}")
        if done % cfg.ckpt_every == 0 or done == stop:
            checkpoint(done, last)
    bar.close()
    if sampler.skipped:
        print(f"note: {sampler.skipped} examples longer than block_size {cfg.block_size} were skipped",
              file=sys.stderr)
    return last
