"""The training loop both trainers share (train_gpt.py, train_lora.py), read top to bottom.

RUN (the --out directory) gets config.yaml (the resolved config), log.csv (one row per
evaluation, the trainer's LOG_FIELDS) and the trainer's checkpoint, which holds the train
state (optimizer, torch RNG, loss accumulator) for --resume.

Schedule: AdamW, linear warmup to lr, then cosine down to min_lr at the last step, `total`
(the config's steps for the GPT, the curriculum's for LoRA). `stop` (--steps) ends a run
early without changing the schedule. Every eval_every steps and at `total`: the loss on fixed
val examples and the single-step RMSE of the model and of constvel on fixed val frames.
Every ckpt_every steps and at `stop`: a checkpoint. A batch is a pure function of (seed,
step) (training/examples.py), so a resumed run continues bit for bit on the CPU.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from physics_llm.config import save_config, to_dict
from physics_llm.errors import UserError
from physics_llm.io import atomic_open
from training.examples import STREAM_VAL, collate, eval_windows

BETAS = (0.9, 0.99)  # nanoGPT's choice for small models on small batches


def check_out(out: Path, resume: bool, run_files: tuple[str, ...]) -> None:
    """Refuse, before anything is written, to write into a file or over a run (each trainer checks its --resume)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a directory for the run")
    if not resume and any((out / f).exists() for f in run_files):
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


def stop_step(stop: int | None, step: int, total: int, *, span: str, more: str) -> int:
    """The step to stop at (default `total`), checked against the schedule and a resumed `step`."""
    stop = total if stop is None else stop
    if not 1 <= stop <= total:
        raise UserError(f"--steps {stop}: must be 1..{total} ({span})")
    if step >= stop:
        raise UserError(f"--resume: the checkpoint is at step {step} of {total} already; {more} to train on")
    return stop


def lr_at(step: int, cfg, total: int) -> float:
    """Linear warmup to cfg.lr over cfg.warmup steps, then cosine down to cfg.min_lr at `total`."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if step >= total:
        return cfg.min_lr
    frac = (step - cfg.warmup) / max(1, total - cfg.warmup)
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * frac)) * (cfg.lr - cfg.min_lr)


def make_optimizer(model, cfg):
    """AdamW over the parameters that train; weight decay on matrices and embeddings only."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]  # not biases or LayerNorm
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=BETAS)


def new_acc() -> dict:
    """The loss and speed accumulator of the steps since the last log row (saved in the train state)."""
    return {"loss_sum": 0.0, "loss_n": 0, "tokens": 0, "seconds": 0.0, "data_seconds": 0.0}


def restore(optimizer, state: dict) -> dict:
    """Optimizer and torch RNG from a checkpoint's train state; -> its accumulator."""
    import torch

    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    return {**new_acc(), **state["acc"]}


def run_meta(cfg, data: str | Path, last: dict) -> dict:
    """What a checkpoint records of its run: data, config and the last losses."""
    return {"data": str(data), "config": to_dict(cfg), "val_loss": last.get("val_loss"),
            "train_loss": last.get("train_loss")}


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


def rollout_metrics(predictor, cases: list, context: int, horizon: int) -> dict:
    """Rollouts of `horizon` frames from the first `context` true frames of each val scene (eval's
    runner): the position RMSE at the last step and the share of object-frames outside the world."""
    from physics_llm.eval.config import EvalConfig
    from physics_llm.eval.runner import run_rollouts

    if not cases or horizon <= 0:
        return {"roll_pos_rmse": float("nan"), "roll_escaped_frac": float("nan")}
    ecfg = EvalConfig(context=context, horizon=horizon, rollout_batch=len(cases))
    rows = {(h, m): v for h, m, v in run_rollouts(predictor, cases, ecfg).metrics([horizon])}
    last = max(h for h, _ in rows)
    return {"roll_pos_rmse": rows[(last, "pos_rmse")], "roll_escaped_frac": rows[(last, "escaped_frac")]}


@dataclass
class EvalSet:
    """What every evaluation of a run measures on, drawn once from the val split."""

    examples: list  # [(idx, targets)] fixed val examples, for the loss
    cases: list  # [(scene, windows (1, C, N, 6), truth (1, N, 6))] fixed val frames, for the single-step RMSE
    constvel: dict  # constvel's step_metrics on `cases` (and rollout_metrics on `rollouts`)
    pad_id: int
    rollouts: list = ()  # [eval Case] the first eval_rollouts val scenes, rolled out eval_horizon frames
    context: int = 3
    horizon: int = 0

    def rollout(self, predictor) -> dict:
        return rollout_metrics(predictor, list(self.rollouts), self.context, self.horizon) if self.rollouts else {}

    def val_loss(self, loss_of: Callable, batch_size: int) -> float:
        """Mean cross-entropy per target token over the examples (NaN when there are none)."""
        import torch

        total, count = 0.0, 0
        with torch.no_grad():
            for k in range(0, len(self.examples), batch_size):
                b = collate(self.examples[k:k + batch_size], self.pad_id)
                n = int((b.targets != -1).sum())
                total += float(loss_of(b)) * n
                count += n
        return total / count if count else float("nan")


def eval_set(val_ds, make_sampler: Callable, cfg, pad_id: int) -> EvalSet:
    """make_sampler(ds) -> ExampleSampler with the trainer's format, tokens and length limit."""
    from physics_llm.models.registry import load_predictor

    examples = []
    if len(val_ds) and cfg.eval_examples:
        sampler = make_sampler(val_ds)
        if sampler.size:
            examples = sampler.examples(np.random.default_rng([cfg.seed, STREAM_VAL]), cfg.eval_examples)
    cases = eval_windows(val_ds, cfg.context, cfg.seed, cfg.eval_windows)
    rollouts = rollout_cases(val_ds, cfg.eval_rollouts)
    ev = EvalSet(examples, cases, {}, pad_id, rollouts, cfg.context, cfg.eval_horizon)
    constvel = load_predictor("baseline:constvel")
    ev.constvel = {**step_metrics(constvel, cases), **ev.rollout(constvel)}
    return ev


def rollout_cases(ds, k: int) -> list:
    """The first k scenes of a split as eval Cases (ground truth for rollouts)."""
    from physics_llm.eval.suites import Case

    out = []
    for i in range(min(k, len(ds))):
        scene, tr = ds[i]
        out.append(Case(scene=scene, traj=tr.traj, contacts=tr.contacts, label=f"val[{i}]"))
    return out


def read_log(path: Path, upto: int) -> list[dict]:
    """Rows of an earlier log.csv up to step `upto` (a killed run may have logged past its checkpoint)."""
    if not path.exists():
        return []

    def value(v: str):  # written back unchanged: ints stay ints (step, stage), floats keep their repr
        return int(v) if v.lstrip("-").isdigit() else float(v) if v else None

    with path.open(newline="") as f:
        rows = [{k: value(v) for k, v in r.items()} for r in csv.DictReader(f)]
    return [r for r in rows if r["step"] <= upto]


def write_log(path: Path, rows: list[dict], fields: list[str]) -> None:
    with atomic_open(path, "w", newline="") as f:  # a unique temp, never a symlink planted beside the log
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")  # a trainer may log fewer columns
        w.writeheader()
        w.writerows(rows)


def train_loop(cfg, out: Path, model, optimizer, evals: EvalSet, *, fields: list[str], desc: str, step: int,
               acc: dict, stop: int, total: int, batch_at: Callable, loss_of: Callable, predictor,
               columns: Callable, save: Callable, postfix: Callable = lambda s: {}, progress: bool = True,
               save_best: Callable | None = None) -> dict:
    """Train steps `step`..`stop` of a `total`-step schedule into `out`. Returns the last log row.

    batch_at(s) -> the Batch of step s; loss_of(batch) -> scalar loss tensor; predictor: the model
    as a Predictor; columns(at) -> the trainer's own log values at step `at` (lr, stage);
    save(at, train_state, last_row) writes the checkpoint; postfix(s) -> extra progress-bar fields;
    save_best(at, row), if given, is called after an evaluation whose rollout position RMSE
    (roll_pos_rmse, with no escaped object-frames preferred) is the best of the run so far.
    """
    import torch
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    log_path = out / "log.csv"
    rows = read_log(log_path, step)

    def evaluate(at: int) -> dict:
        model.eval()
        row = {"step": at, **columns(at), "val_loss": evals.val_loss(loss_of, cfg.batch_size),
               "seconds": round(acc["seconds"], 3)}
        if acc["loss_n"]:  # steps were taken since the last row
            row.update(train_loss=acc["loss_sum"] / acc["loss_n"],
                       tokens_per_s=acc["tokens"] / max(acc["seconds"], 1e-9),
                       data_frac=acc["data_seconds"] / max(acc["seconds"], 1e-9))
        row.update(step_metrics(predictor, evals.cases))
        row.update(evals.rollout(predictor))
        row.update({f"constvel_{k}": v for k, v in evals.constvel.items() if k != "parse_rate"})
        model.train()
        acc.update(new_acc())
        rows.append(row)
        write_log(log_path, rows, fields)
        return row

    def rank(row: dict) -> tuple:
        r = row.get("roll_pos_rmse")
        if r is None or not math.isfinite(r):
            return (math.inf, math.inf)
        return (row.get("roll_escaped_frac") or 0.0, r)

    best = [min((rank(r) for r in rows if r["step"] > 0), default=(math.inf, math.inf))]

    def maybe_best(at: int, row: dict) -> None:
        if save_best is not None and at > 0 and rank(row) < best[0]:
            best[0] = rank(row)
            save_best(at, row)

    last = rows[-1] if rows else {}
    if step == 0:
        last = evaluate(0)
        print(f"step 0: val loss {last['val_loss']:.4f}", file=sys.stderr)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]  # a LoRA model's frozen base has no grads
    bar = tqdm(range(step, stop), initial=step, total=stop, desc=desc, file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    for s in bar:
        t0 = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(s, cfg, total)
        batch = batch_at(s)
        t_data = time.perf_counter() - t0
        loss = loss_of(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        dt = time.perf_counter() - t0
        acc["loss_sum"] += loss.item()
        acc["loss_n"] += 1
        acc["tokens"] += batch.tokens
        acc["seconds"] += dt
        acc["data_seconds"] += t_data
        bar.set_postfix(**postfix(s), loss=f"{acc['loss_sum'] / acc['loss_n']:.4f}",
                        tok_s=f"{batch.tokens / dt:,.0f}", refresh=False)
        done = s + 1
        if done % cfg.eval_every == 0 or done == total:
            last = evaluate(done)
            maybe_best(done, last)
            stage = f" (stage {last['stage']})" if "stage" in last else ""
            bar.write(f"step {done}{stage}: train loss {last['train_loss']:.4f}, val loss {last['val_loss']:.4f}, "
                      f"vel RMSE {last['vel_rmse']:.2f} (constvel {last['constvel_vel_rmse']:.2f}), "
                      f"parsed {last['parse_rate']:.1%}"
                      + (f", rollout {last['roll_pos_rmse']:.1f} px (constvel {last['constvel_roll_pos_rmse']:.1f}), "
                         f"escaped {last['roll_escaped_frac']:.1%}" if "roll_pos_rmse" in last else ""))
        if done % cfg.ckpt_every == 0 or done == stop:
            state = {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(), "acc": dict(acc)}
            save(done, state, last)
    bar.close()
    return last
