"""Train the from-scratch GPT on a dataset's object-steps (`physics-llm train gpt`), read top to bottom.

RUN (the --out directory) holds:
    config.yaml   the resolved TrainGPTConfig
    log.csv       one row per evaluation: step, lr, train_loss (mean since the last row), val_loss,
                  tokens_per_s, data_frac (share of step time spent building batches), and the
                  single-step pos/vel RMSE and parse rate of the model and of constvel on fixed
                  val frames
    ckpt/         the checkpoint (models/checkpoint.py) every ckpt_every steps and at the end, with
                  the train state (optimizer, step, torch RNG, loss accumulator) for --resume

The loop, schedule, evaluation and log are training/loop.py's, shared with the LoRA fine-tune.
A batch is a pure function of (seed, step) (training/examples.py), so a run of 2N
steps equals N steps + --resume + N steps, weights and losses bit for bit on the CPU
(with the same number of threads, and the same number of torchrun processes).
Devices, bfloat16 autocast, torch.compile and torchrun (DDP): training/distributed.py.
`stop` (--steps) ends a run early without changing the schedule, which always spans
config `steps`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from physics_llm.errors import UserError
from training import loop
from training.config import TEXT_KEYS
from training.examples import ExampleSampler
from training.gpt_config import MODEL_KEYS, TrainGPTConfig

LOG_FIELDS = ["step", "lr", "train_loss", "val_loss", "tokens_per_s", "data_frac", "pos_rmse", "vel_rmse",
              "parse_rate", "constvel_pos_rmse", "constvel_vel_rmse", "roll_pos_rmse", "roll_escaped_frac",
              "constvel_roll_pos_rmse", "constvel_roll_escaped_frac", "seconds"]
RUN_FILES = ("config.yaml", "log.csv", "ckpt", "best")


def complete_checkpoint(d: Path, train_state: bool = True) -> bool:
    """A checkpoint directory a save wrote whole: every file there, meta.json and (last written)
    train_state.pt readable. For the copies a killed save left (ckpt.tmp-PID, ckpt.old-PID)."""
    import json

    from physics_llm.models.checkpoint import FILES, OLD_WEIGHTS, WEIGHTS, load_train_state

    if not all((d / f).is_file() for f in FILES) or not any((d / w).is_file() for w in (WEIGHTS, OLD_WEIGHTS)):
        return False
    try:
        meta = json.loads((d / "meta.json").read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("step"), int):
            return False
        if train_state:
            load_train_state(d / "train_state.pt")
    except (OSError, ValueError, UserError):
        return False
    return True


# The run's checkpoint directories, each swapped in whole (io.swap_dir), and what makes a copy complete.
CHECKPOINTS = {"ckpt": complete_checkpoint, "best": lambda d: complete_checkpoint(d, train_state=False)}


def check_out(out: Path, resume: bool, cfg: TrainGPTConfig | None = None) -> None:
    """Refuse, before anything is written, to overwrite a run or to resume none (loop.check_out)."""
    loop.check_out(out, resume, RUN_FILES, CHECKPOINTS, cfg)
    if resume:
        loop.resume_from(out, "ckpt", complete_checkpoint)


def check_init_from(cfg: TrainGPTConfig) -> None:
    """init_from must name a checkpoint directory (its files are read after torch loads)."""
    if not cfg.init_from:
        return
    from physics_llm.models.checkpoint import FILES, OLD_WEIGHTS, WEIGHTS

    p = Path(cfg.init_from)
    if not p.is_dir():
        raise UserError(f"init_from {p}: no such checkpoint directory; give a checkpoint (e.g. RUN/ckpt or "
                        "assets/checkpoints/gpt-small) or --set init_from=null")
    missing = [f for f in FILES if not (p / f).is_file()]
    if missing or not any((p / w).is_file() for w in (WEIGHTS, OLD_WEIGHTS)):
        raise UserError(f"init_from {p}: not a checkpoint (missing {', '.join(missing) or WEIGHTS}); give a "
                        "checkpoint directory or --set init_from=null")


def check_same_model(cfg: TrainGPTConfig, ck, out: Path) -> None:
    """A resumed run must keep the keys that fix the weights' shapes and the meaning of the text."""
    saved = {**{k: getattr(ck.gpt_cfg, k) for k in MODEL_KEYS}, **ck.fmt.to_dict()}
    for k in MODEL_KEYS + TEXT_KEYS:
        if saved[k] != getattr(cfg, k):
            raise UserError(f"--resume: {k} is {saved[k]!r} in the checkpoint at {out / 'ckpt'} but "
                            f"{getattr(cfg, k)!r} now; a resumed run keeps its model and text format")


def warm_start(model, path: str, say=lambda *a: print(*a, file=sys.stderr)) -> None:
    """Copy the weights of checkpoint `path` into `model` where the shapes allow (see init_from)."""
    import torch

    from physics_llm.models.checkpoint import load_checkpoint

    src = load_checkpoint(path, device="cpu").model.state_dict()
    own = model.state_dict()
    copied = 0
    with torch.no_grad():
        for k, v in own.items():
            w = src.get(k)
            if w is None or w.dim() != v.dim():
                continue
            if w.shape == v.shape:
                v.copy_(w)
            elif all(a <= b for a, b in zip(w.shape, v.shape)) and k.endswith("wpe.weight"):
                v[:w.shape[0]].copy_(w)  # a longer block: the first positions keep their embeddings
            else:
                continue
            copied += 1
    if not copied:
        raise UserError(f"init_from {path}: no weight of that checkpoint fits this model's shapes")
    say(f"warm start from {path}: {copied} of {len(own)} tensors copied")


# With compile: true, batches are padded to a multiple of this many tokens, so torch.compile sees a
# few sequence lengths (block_size / PAD_MULTIPLE at most) rather than a new one at nearly every step.
PAD_MULTIPLE = 64


def train(cfg: TrainGPTConfig, data: str | Path, out: str | Path, *, resume: bool = False,
          stop: int | None = None, progress: bool = True) -> dict:
    """Train (or resume) into `out` until step `stop` (default cfg.steps). Returns the last log row."""
    from physics_llm.models.checkpoint import load_checkpoint
    from training import distributed

    out = Path(out)
    span = {"span": f"the config's steps, which the learning-rate schedule spans; use --set steps={stop} for a "
                    "shorter schedule", "more": "give --steps or --set steps=N beyond it"}
    # The cheap checks first (about a second), then the ones that load torch.
    check_out(out, resume, cfg)
    loop.check_tensorboard(cfg)
    check_init_from(cfg)
    if not resume:
        loop.stop_step(stop, 0, cfg.steps, **span)
    train_ds, val_ds = loop.open_split(data, "train"), loop.open_split(data, "val")
    if resume and loop.single_process():  # a save a kill interrupted is finished (or undone) first
        loop.recover_checkpoints(out, CHECKPOINTS)
    src = loop.resume_from(out, "ckpt", complete_checkpoint) if resume else None  # under torchrun: read only
    ck = load_checkpoint(src, with_train_state=True, device="cpu") if src else None
    if ck is not None:
        check_same_model(cfg, ck, out)
    elif resume and distributed.is_main():
        print(f"note: {out} has no complete checkpoint (the run was stopped before its first one): "
              "starting it over from step 0", file=sys.stderr)
    stop = loop.stop_step(stop, ck.step if ck else 0, cfg.steps, **span)
    return loop.on_devices(cfg, out, CHECKPOINTS, ck.train_state if ck else None,
                           lambda rt: _run(cfg, data, out, ck, rt, stop, progress, train_ds, val_ds))


def _run(cfg: TrainGPTConfig, data, out: Path, ck, rt, stop: int, progress: bool, train_ds, val_ds) -> dict:
    """train() once its checks passed: build, then train on this process's device."""
    import torch

    from physics_llm.models.checkpoint import save_checkpoint
    from physics_llm.models.gpt import GPT, GPTConfig
    from physics_llm.models.gpt_predictor import GPTPredictor
    from physics_llm.text import DigitTokenizer

    say = (lambda *a: print(*a, file=sys.stderr)) if rt.main else (lambda *a: None)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    fmt, tok = cfg.text_format(), DigitTokenizer()
    gpt_cfg = GPTConfig(vocab_size=tok.vocab_size, **cfg.model_kwargs())
    model = GPT(gpt_cfg)
    step, acc = 0, loop.new_acc()
    if ck is None and cfg.init_from:
        warm_start(model, cfg.init_from, say)
    if ck is not None:
        model.load_state_dict(ck.model.state_dict())
    model.to(rt.device)
    optimizer = loop.make_optimizer(model, cfg, fused=rt.cuda)
    if ck is not None:
        step, acc = ck.step, loop.restore(optimizer, ck.train_state, rt)
    if rt.rank > 0 and ck is None:  # dropout masks of their own (rank 0 keeps the single-process stream)
        torch.manual_seed(cfg.seed * 100_003 + rt.rank)
        if rt.cuda:
            torch.cuda.manual_seed(cfg.seed * 100_003 + rt.rank)

    t_index = time.perf_counter()
    say(f"indexing {len(train_ds)} train and {len(val_ds)} val scenes")

    def sampler_of(ds) -> ExampleSampler:
        return ExampleSampler(ds, fmt, tok, cfg.block_size, cfg.onset_weight, cfg.onset_px_s)

    predictor = GPTPredictor(model, fmt, tok)

    def own_frames(items):
        """The model's greedy next frames for pushforward (training/examples.py Unroll), in eval mode."""
        was = model.training
        model.eval()
        try:
            return predictor.predict_many(items)
        finally:
            model.train(was)

    sampler = ExampleSampler(train_ds, fmt, tok, cfg.block_size, cfg.onset_weight, cfg.onset_px_s,
                             noise=cfg.noise(), unroll=cfg.unroll(), predict_many=own_frames)  # training examples only
    evals = loop.eval_set(val_ds, sampler_of, cfg, tok.pad_id) if rt.main else None
    where = (f" on {rt.device}" + (f" ({cfg.dtype})" if cfg.dtype != "float32" else "")
             + (", compiled" if cfg.compile else "") + (f", {rt.world} processes" if rt.world > 1 else "")
             if rt.cuda or rt.world > 1 or cfg.compile else "")
    say(f"{model.num_params() / 1e6:.2f}M parameters{where}; {sampler.size} train object-steps "
        f"({len(sampler.onsets)} onsets, drawn x{cfg.onset_weight:g}); "
        + (f"{len(evals.examples)} val examples, {len(evals.cases)} val frames; " if evals else "")
        + f"indexed in {time.perf_counter() - t_index:.1f} s")

    train_model = torch.compile(model) if cfg.compile else model
    train_model = rt.wrap(train_model)
    part_size = cfg.batch_size // cfg.micro_batches

    def tensors(batch):
        idx, tgt = torch.from_numpy(batch.idx), torch.from_numpy(batch.targets)
        if cfg.compile and idx.shape[1] % PAD_MULTIPLE:  # a few shapes to compile (pads carry no loss)
            pad = min(-idx.shape[1] % PAD_MULTIPLE, cfg.block_size - idx.shape[1])
            idx = torch.nn.functional.pad(idx, (0, pad), value=tok.pad_id)
            tgt = torch.nn.functional.pad(tgt, (0, pad), value=-1)
        return idx.to(rt.device, non_blocking=True), tgt.to(rt.device, non_blocking=True)

    def loss_of(batch):
        idx, tgt = tensors(batch)
        with rt.autocast():
            return train_model(idx, tgt)[1]

    def eval_loss_of(batch):
        idx, tgt = torch.from_numpy(batch.idx).to(rt.device), torch.from_numpy(batch.targets).to(rt.device)
        with rt.autocast():
            return model(idx, tgt)[1]

    def save(at: int, state: dict, last: dict) -> None:
        state["sampler"] = {"seed": cfg.seed, "next_step": at}
        save_checkpoint(out / "ckpt", model, gpt_cfg, fmt, tok, step=at, train_state=state,
                        meta=loop.run_meta(cfg, data, last))

    def save_best(at: int, row: dict) -> None:
        save_checkpoint(out / "best", model, gpt_cfg, fmt, tok, step=at, meta={**loop.run_meta(cfg, data, row),
                        "chosen_by": {k: row.get(k) for k in ("roll_pos_rmse", "roll_escaped_frac")}})

    trainee = loop.Trainee(model, optimizer, batch_at=lambda s, part: sampler.batch(cfg.seed, s, part_size, part),
                           loss_of=loss_of, predictor=predictor, train_model=train_model,
                           eval_loss_of=eval_loss_of)
    output = loop.Output(out, LOG_FIELDS, save=save, save_best=save_best, desc="train gpt", progress=progress,
                         columns=lambda at: {"lr": loop.lr_at(at - 1, cfg, cfg.steps)} if at else {})  # no lr at 0
    last = loop.train_loop(cfg, trainee, loop.Span(step, stop, cfg.steps, acc), evals, output, rt)
    if sampler.unrolled:
        say(f"{sampler.unrolled} examples had a context the model made itself (unroll_steps {cfg.unroll_steps})")
    if sampler.skipped:
        say(f"note: {sampler.skipped} examples longer than block_size {cfg.block_size} were skipped")
    return last
