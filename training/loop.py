"""The training loop both trainers share (train_gpt.py, train_lora.py), read top to bottom.

train_loop(cfg, trainee, span, evals, output) trains `trainee` (Trainee: the model, its optimizer,
its batches and loss) over `span` (Span: which steps of the schedule), evaluates on `evals`
(EvalSet) and writes `output` (Output: RUN, the log's columns, the checkpoint savers). Its steps
are named functions: RunLog (config.yaml, log.csv, TensorBoard, the best rollout), evaluate (a
log row), train_step (one optimizer step), checkpoint (the train state for --resume).

RUN (the --out directory) gets config.yaml (the resolved config), log.csv (one row per
evaluation, the trainer's LOG_FIELDS) and the trainer's checkpoint, which holds the train
state (optimizer, torch RNG, loss accumulator) for --resume.

Schedule: AdamW, linear warmup to lr, then cosine down to min_lr at the last step, `total`
(the config's steps for the GPT, the curriculum's for LoRA). `stop` (--steps) ends a run
early without changing the schedule. Every eval_every steps and at `total`: the loss on fixed
val examples and the single-step RMSE of the model and of constvel on fixed val frames.
Every ckpt_every steps and at `stop`: a checkpoint. A batch is a pure function of (seed,
step) (training/examples.py), so a resumed run continues bit for bit on the CPU.

A step trains on the global batch's micro-batches this process owns (training/distributed.py:
all of them in a single process, micro_batches / K under torchrun), each one's mean loss
weighted by its share of the global batch's target tokens, so the gradient and the logged loss
are those of the whole global batch, whatever the number of processes. Rank 0 alone
evaluates and writes.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from physics_llm.config import save_config, to_dict
from physics_llm.errors import UserError
from physics_llm.io import atomic_open
from training.examples import STREAM_VAL, collate, eval_windows

BETAS = (0.9, 0.99)  # nanoGPT's choice for small models on small batches


def check_out(out: Path, resume: bool, run_files: tuple[str, ...], checkpoints: dict[str, Callable] | None = None,
              cfg=None) -> None:
    """Refuse, before anything is written, to write into a file or an unwritable place, or over a run.

    checkpoints: {name: complete(dir)} of the run's checkpoint directories (RUN/ckpt, RUN/best, ...),
    swapped in by io.swap_dir. A directory that holds files of a run (run_files) but no whole checkpoint,
    not even one a kill left half swapped in, is what a run killed before its first checkpoint leaves:
    a new run with the same config (cfg, once it is known) may start over there (clear_debris);
    each trainer checks its --resume (resume_from).
    """
    from physics_llm.io import check_out_dir, swapped_dir

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a directory for the run")
    check_out_dir(out, "--out")  # a parent that is a file, no permission: one line now, not after indexing
    if resume:
        return
    for name, complete in (checkpoints or {}).items():
        src = swapped_dir(out / name, complete)
        if src is not None:
            raise UserError(f"--out {out}: already holds a run (checkpoint {src}); add --resume to continue it, "
                            "or choose a new --out")
    present = [f for f in run_files if (out / f).exists()]
    if not present or cfg is None:  # nothing of a run there, or decided once the config is loaded
        return
    saved = out / "config.yaml"
    if not saved.is_file():
        raise UserError(f"--out {out}: already holds {', '.join(present)} but no config.yaml or checkpoint of a run; "
                        "choose a new --out (or remove those files)")
    diff = config_difference(saved, cfg)
    if diff:
        raise UserError(f"--out {out}: holds a run stopped before its first checkpoint, made with another config "
                        f"({diff}); rerun with that config (or add --resume to start it over with it), "
                        "or choose a new --out")


def config_difference(saved: Path, cfg) -> str | None:
    """'key: A there, B now' for the first key where RUN/config.yaml differs from cfg; None when they agree."""
    from physics_llm.config import load_config

    try:
        theirs = to_dict(load_config(type(cfg), saved))
    except UserError as e:
        return f"its config.yaml cannot be read: {str(e)[:120]}"
    mine = to_dict(cfg)
    for k in sorted(set(mine) | set(theirs)):
        if mine.get(k) != theirs.get(k):
            return f"{k}: {theirs.get(k)!r} there, {mine.get(k)!r} now"
    return None


def resume_from(out: Path, name: str, complete: Callable) -> Path | None:
    """The checkpoint --resume continues from: RUN/NAME, or the whole copy a save killed part way left
    (io.swapped_dir: a complete NAME.tmp-PID or NAME.old-PID); read only. None: the run was killed before
    its first checkpoint (it starts over from step 0 with RUN/config.yaml). UserError when there is no run."""
    from physics_llm.io import swapped_dir

    src = swapped_dir(out / name, complete)
    if src is None and not (out / "config.yaml").is_file():
        raise UserError(f"--resume: no checkpoint at {out / name} and no run in {out}; start a new run "
                        "without --resume")
    return src


def recover_checkpoints(out: Path, checkpoints: dict[str, Callable]) -> bool:
    """Finish or undo the checkpoint swaps a kill interrupted (io.recover_dir: the newest whole copy
    renamed into place, dead processes' temps removed). -> whether the run has a checkpoint now."""
    from physics_llm.io import recover_dir

    found = [recover_dir(out / name, complete) for name, complete in checkpoints.items()]
    return any(f is not None for f in found)


def single_process() -> bool:
    """No torchrun world: the one process may put a run's files right before it reads them."""
    from training.distributed import env_rank

    return env_rank()[1] == 1


def clear_debris(out: Path, checkpoints: dict[str, Callable]) -> None:
    """Before training writes into RUN (rank 0, once every rank has read its checkpoint): recover_checkpoints,
    and, when the run starts over from step 0 (no checkpoint), drop the log rows and TensorBoard events
    of the run that was killed before its first checkpoint (they are written again, the same)."""
    if recover_checkpoints(out, checkpoints) or not out.is_dir():
        return
    (out / "log.csv").unlink(missing_ok=True)
    for f in out.glob("events.out.tfevents.*"):
        if f.is_file() and not f.is_symlink():
            f.unlink()


def on_devices(cfg, out: Path, checkpoints: dict[str, Callable], train_state: dict | None, body: Callable) -> dict:
    """body(runtime) on this process's Runtime -> its result (the last log row). distributed.start checks
    the device and the world (the resumed train_state's too; a rendezvous under torchrun) and writes
    nothing; then rank 0, once every rank has read its checkpoint, puts the run's files right
    (clear_debris). The runtime is closed after body, with ok=False when it raised."""
    from training import distributed

    rt = distributed.start(cfg, saved_world(train_state))
    if rt.main:
        clear_debris(out, checkpoints)
    try:
        last = body(rt)
    except BaseException:
        rt.close(ok=False)
        raise
    rt.close()
    return last


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


def make_optimizer(model, cfg, fused: bool = False):
    """AdamW over the parameters that train; weight decay on matrices and embeddings only.
    fused: one kernel for all parameters (CUDA only; the CPU keeps the default implementation)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]  # not biases or LayerNorm
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=BETAS, **({"fused": True} if fused else {}))


def check_tensorboard(cfg) -> None:
    """tensorboard: true needs torch.utils.tensorboard (the tensorboard package); checked before anything is written."""
    if not getattr(cfg, "tensorboard", False):
        return
    import importlib.util

    try:
        if importlib.util.find_spec("tensorboard") is None:  # the usual case, told before torch loads
            raise ImportError("tensorboard")
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        raise UserError("tensorboard: true needs the tensorboard package (`pip install tensorboard`); "
                        "install it or use --set tensorboard=false") from None


class Board:
    """TensorBoard event files in RUN (beside log.csv): every log row, and the loss and lr of every step."""

    def __init__(self, out: Path, enabled: bool):
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(out))

    def row(self, row: dict) -> None:
        if self.writer is None:
            return
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                self.writer.add_scalar(f"eval/{k}", v, row["step"])
        self.writer.flush()

    def step(self, step: int, loss: float, lr: float) -> None:
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, step)
            self.writer.add_scalar("train/lr", lr, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def new_acc() -> dict:
    """The loss and speed accumulator of the steps since the last log row (saved in the train state)."""
    return {"loss_sum": 0.0, "loss_n": 0, "tokens": 0, "seconds": 0.0, "data_seconds": 0.0}


def restore(optimizer, state: dict, runtime=None) -> dict:
    """Optimizer and torch RNG (this rank's, on its device) from a checkpoint's train state; -> its accumulator."""
    import torch

    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    if runtime is not None:
        runtime.restore_rng(state)
    return {**new_acc(), **state["acc"]}


def saved_world(state: dict | None) -> int | None:
    """The number of processes that trained a checkpoint (1 for those written before torchrun)."""
    if state is None:
        return None
    w = state.get("world_size", 1)
    return int(w) if isinstance(w, int) and not isinstance(w, bool) else 1


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


_BUILD: Callable | None = None  # the batch_at of the run whose Prefetcher forked this worker


def _build(key: tuple):
    return _BUILD(*key)


class Prefetcher:
    """batch_at(s, part) for the next `ahead` steps, built by `workers` forked processes while the
    model trains (each worker holds a copy of the samplers). workers 0: built in place, when asked."""

    def __init__(self, batch_at: Callable, workers: int, parts: list, stop: int, ahead: int | None = None):
        self.batch_at, self.parts, self.stop = batch_at, list(parts), stop
        self.ahead = ahead or max(2, 2 * workers // max(1, len(self.parts)))
        self.pending: dict = {}
        self.pool = None
        if workers > 0:
            import multiprocessing as mp

            global _BUILD
            _BUILD = batch_at
            try:
                ctx = mp.get_context("fork")  # the children inherit the samplers; they never touch torch
            except ValueError:  # no fork on this platform: build in place
                return
            self.pool = ctx.Pool(workers)

    def batches(self, s: int) -> list:
        if self.pool is None:
            return [self.batch_at(s, p) for p in self.parts]
        for t in range(s, min(s + self.ahead, self.stop)):
            for p in self.parts:
                if (t, p) not in self.pending:
                    self.pending[(t, p)] = self.pool.apply_async(_build, ((t, p),))
        return [(self.pending.pop((s, p)) if (s, p) in self.pending else
                 self.pool.apply_async(_build, ((s, p),))).get() for p in self.parts]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


@dataclass
class Trainee:
    """What trains: the model, its optimizer, where its batches come from and how their loss is taken."""

    model: Any  # the plain model: evaluated and checkpointed
    optimizer: Any
    batch_at: Callable  # batch_at(s, part) -> the Batch of step s (part None) or micro-batch `part` of it
    loss_of: Callable  # loss_of(batch) -> the scalar mean loss tensor, through train_model
    predictor: Any  # the model as a Predictor (single-step and rollout metrics)
    train_model: Any = None  # the model as it trains (compiled, DDP); default: model
    eval_loss_of: Callable | None = None  # loss_of through the plain model, for the val loss; default: loss_of
    params: list = field(init=False, repr=False)  # the parameters that train (a LoRA model's frozen base has none)

    def __post_init__(self):
        self.train_model = self.model if self.train_model is None else self.train_model
        self.eval_loss_of = self.eval_loss_of or self.loss_of
        self.params = [p for p in self.model.parameters() if p.requires_grad]


@dataclass
class Span:
    """The steps one call trains: `step`..`stop` of a `total`-step schedule, from a checkpoint's accumulator."""

    step: int  # the first step (the checkpoint's; 0 for a new run)
    stop: int
    total: int
    acc: dict = field(default_factory=new_acc)  # new_acc(): the loss and speed since the last log row


@dataclass
class Output:
    """What a run writes and shows (rank 0 alone): RUN/config.yaml, log.csv, checkpoints, the progress bar."""

    out: Path  # RUN
    fields: list[str]  # log.csv's columns (the trainer's LOG_FIELDS)
    columns: Callable  # columns(at) -> the trainer's own log values at step `at` (lr, stage)
    save: Callable  # save(at, train_state, last_row) writes the checkpoint
    save_best: Callable | None = None  # save_best(at, row) after an evaluation whose rollout is the best so far
    desc: str = "train"  # the progress bar's label
    postfix: Callable = lambda s: {}  # postfix(s) -> extra progress-bar fields
    progress: bool = True


def train_loop(cfg, trainee: Trainee, span: Span, evals: EvalSet | None, output: Output, runtime=None) -> dict:
    """Train span.step..span.stop into output.out; evaluate every eval_every steps and at span.total,
    checkpoint every ckpt_every steps and at span.stop. Returns the last log row.

    runtime: training/distributed.py's Runtime (default: one CPU process); only its rank 0
    evaluates (evals may be None elsewhere), writes and shows progress.
    """
    from tqdm import tqdm

    from training.distributed import Runtime

    rt = runtime or Runtime()
    log = RunLog(cfg, output, rt.main, span.step)
    last = log.rows[-1] if log.rows else {}
    if span.step == 0:  # the untrained model's row
        if rt.main:
            last = log.add(evaluate(0, cfg, trainee, evals, span.acc, output.columns))
            print(f"step 0: val loss {last['val_loss']:.4f}", file=sys.stderr)
        rt.barrier()
    trainee.model.train()
    parts = [None] if cfg.micro_batches == 1 else list(rt.parts(cfg.micro_batches))  # this process's micro-batches
    feed = Prefetcher(trainee.batch_at, getattr(cfg, "data_workers", 0), parts, span.stop)
    try:
        bar = tqdm(range(span.step, span.stop), initial=span.step, total=span.stop, desc=output.desc, file=sys.stderr,
                   disable=not (output.progress and rt.main), dynamic_ncols=True)
        for s in bar:
            loss, lr, tokens, dt = train_step(s, cfg, trainee, span, feed, rt)
            done = s + 1
            if rt.main:
                log.board.step(done, loss, lr)
                bar.set_postfix(**output.postfix(s), loss=f"{span.acc['loss_sum'] / span.acc['loss_n']:.4f}",
                                tok_s=f"{tokens / dt:,.0f}", refresh=False)
            if done % cfg.eval_every == 0 or done == span.total:
                if rt.main:
                    last = log.add(evaluate(done, cfg, trainee, evals, span.acc, output.columns))
                    log.keep_if_best(done, last)
                    bar.write(eval_line(last))
                rt.barrier()
            if done % cfg.ckpt_every == 0 or done == span.stop:
                checkpoint(done, trainee, span, rt, output.save, last)
    finally:
        feed.close()
        log.board.close()
    bar.close()
    return last


class RunLog:
    """RUN/config.yaml, log.csv (the rows so far), the TensorBoard events and the best rollout so far.
    Only rank 0 (main) writes: elsewhere it holds no rows and an idle Board."""

    def __init__(self, cfg, output: Output, main: bool, step: int):
        self.output, self.path = output, output.out / "log.csv"
        self.rows: list[dict] = []
        self.board = Board(output.out, False)
        if main:
            output.out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, output.out / "config.yaml")
            self.rows = read_log(self.path, step) if step else []  # from step 0: no row of an earlier start is kept
            self.board = Board(output.out, getattr(cfg, "tensorboard", False))
        self.best = min((rollout_rank(r) for r in self.rows if r["step"] > 0), default=(math.inf, math.inf))

    def add(self, row: dict) -> dict:
        self.rows.append(row)
        write_log(self.path, self.rows, self.output.fields)
        self.board.row(row)
        return row

    def keep_if_best(self, at: int, row: dict) -> None:
        """output.save_best(at, row) when row's rollout is the best of the run so far."""
        if self.output.save_best is not None and at > 0 and rollout_rank(row) < self.best:
            self.best = rollout_rank(row)
            self.output.save_best(at, row)


def rollout_rank(row: dict) -> tuple:
    """Lower is better: fewer escaped object-frames, then a lower rollout position RMSE; rows without one last."""
    r = row.get("roll_pos_rmse")
    if r is None or not math.isfinite(r):
        return (math.inf, math.inf)
    return (row.get("roll_escaped_frac") or 0.0, r)


def evaluate(at: int, cfg, trainee: Trainee, evals: EvalSet, acc: dict, columns: Callable) -> dict:
    """The log row of step `at`: the val loss, the train loss and speed since the last row (acc, then reset),
    the model's and constvel's single-step and rollout metrics."""
    trainee.model.eval()
    row = {"step": at, **columns(at), "val_loss": evals.val_loss(trainee.eval_loss_of, cfg.batch_size),
           "seconds": round(acc["seconds"], 3)}
    if acc["loss_n"]:  # steps were taken since the last row
        row.update(train_loss=acc["loss_sum"] / acc["loss_n"],
                   tokens_per_s=acc["tokens"] / max(acc["seconds"], 1e-9),
                   data_frac=acc["data_seconds"] / max(acc["seconds"], 1e-9))
    row.update(step_metrics(trainee.predictor, evals.cases))
    row.update(evals.rollout(trainee.predictor))
    row.update({f"constvel_{k}": v for k, v in evals.constvel.items() if k != "parse_rate"})
    trainee.model.train()
    acc.update(new_acc())
    return row


def eval_line(row: dict) -> str:
    """An evaluation's line under the progress bar."""
    stage = f" (stage {row['stage']})" if "stage" in row else ""
    return (f"step {row['step']}{stage}: train loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}, "
            f"vel RMSE {row['vel_rmse']:.2f} (constvel {row['constvel_vel_rmse']:.2f}), parsed {row['parse_rate']:.1%}"
            + (f", rollout {row['roll_pos_rmse']:.1f} px (constvel {row['constvel_roll_pos_rmse']:.1f}), "
               f"escaped {row['roll_escaped_frac']:.1%}" if "roll_pos_rmse" in row else ""))


def train_step(s: int, cfg, trainee: Trainee, span: Span, feed: Prefetcher, rt) -> tuple[float, float, int, float]:
    """Step s: its lr, this process's micro-batches (accumulate), clipping, the optimizer step; its loss,
    tokens and time added to span.acc. -> (the global batch's loss, lr, its tokens, seconds)."""
    import torch

    t0 = time.perf_counter()
    lr = lr_at(s, cfg, span.total)
    for group in trainee.optimizer.param_groups:
        group["lr"] = lr
    batches = feed.batches(s)
    counts = [int((b.targets != -1).sum()) for b in batches]  # target tokens: what the loss averages over
    n_all, tokens = sum(counts), sum(b.tokens for b in batches)
    if rt.world > 1:
        n_all, tokens = (int(v) for v in rt.all_sum([n_all, tokens]))
    t_data = time.perf_counter() - t0
    trainee.optimizer.zero_grad(set_to_none=True)
    step_loss = accumulate(batches, counts, n_all, trainee.loss_of, trainee.train_model, rt)
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(trainee.params, cfg.grad_clip)
    trainee.optimizer.step()
    loss = step_loss.item() if rt.world == 1 else rt.all_sum([step_loss.item()])[0]
    dt = time.perf_counter() - t0
    acc = span.acc
    acc["loss_sum"] += loss
    acc["loss_n"] += 1
    acc["tokens"] += tokens
    acc["seconds"] += dt
    acc["data_seconds"] += t_data
    return loss, lr, tokens, dt


def checkpoint(done: int, trainee: Trainee, span: Span, rt, save: Callable, last: dict) -> None:
    """save(done, train state, last row) on rank 0; the train state holds every rank's RNG (a collective),
    for a bit-for-bit --resume."""
    import torch

    rngs = rt.rng_states()
    if rt.main:
        state = {"optimizer": trainee.optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                 "acc": dict(span.acc), "world_size": rt.world}
        if rngs is not None:
            state["rank_rng"] = rngs
        save(done, state, last)


def accumulate(batches: list, counts: list[int], n_all: int, loss_of: Callable, train_model, rt):
    """Backward of this process's micro-batches of a step; -> its share of the step's loss (a tensor).

    Micro-batch b's mean loss is weighted by counts[b] / n_all, its share of the target tokens of
    the whole global batch (n_all, summed over the processes), times K because DDP averages the
    K processes' gradients: the gradient is that of the global batch's mean loss. DDP syncs at
    the last micro-batch only. One micro-batch of one process: the plain loss.backward().
    """
    K = rt.world
    step_loss = None
    for j, (batch, n) in enumerate(zip(batches, counts)):
        with rt.no_sync(train_model, sync=j == len(batches) - 1):
            loss = loss_of(batch)  # the mean over this micro-batch's target tokens
            w = n * K / n_all
            (loss if w == 1.0 else loss * w).backward()
        part = loss.detach() if n == n_all else loss.detach() * (n / n_all)
        step_loss = part if step_loss is None else step_loss + part
    return step_loss
