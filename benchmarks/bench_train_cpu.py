"""Training throughput of `train gpt` on the CPU vs a bare loop of the same model on the same batches.

Target: the trainer at >= 0.8x the bare loop's tokens/s. Both train the same GPT (the config's
shape, the same seed) on the same batches (sampler.batch(seed, step), as the trainer draws them):

  bare     the batches built beforehand; each step zero_grad, forward, backward, gradient
           clipping, AdamW step. Nothing else: the floor of what any training loop must do.
  trainer  training/train_gpt.train as `physics-llm train gpt` runs it: batches built between
           steps (data_workers 0, the CPU default), loss accounting, progress, the log. Its
           tokens/s is log.csv's (training steps only); the wall figure adds everything the run
           did (indexing, evaluations at the first and last step, the checkpoint).

The bare loop runs before and after the trainer; the ratio is against their mean (the cores
here are shared, so each figure is printed).

    python benchmarks/bench_train_cpu.py [--config configs/train/gpt.yaml] [--steps 6] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET = 0.8


def dataset(root: Path, scenes: int) -> Path:
    from physics_llm.config import load_config
    from physics_llm.data.config import DataConfig
    from physics_llm.data.generate import generate_dataset

    generate_dataset(load_config(DataConfig, ROOT / "configs/data/default.yaml", [f"scenes={scenes}"]), root,
                     progress=False)
    return root


def bare(cfg, batches) -> tuple[float, float]:
    """(tokens/s, seconds) of the bare loop over `batches`."""
    import torch

    from physics_llm.models.gpt import GPT, GPTConfig
    from physics_llm.text import DigitTokenizer
    from training.loop import lr_at, make_optimizer

    torch.manual_seed(cfg.seed)
    model = GPT(GPTConfig(vocab_size=DigitTokenizer().vocab_size, **cfg.model_kwargs()))
    opt = make_optimizer(model, cfg)
    model.train()
    tensors = [(torch.from_numpy(b.idx), torch.from_numpy(b.targets)) for b in batches]
    t0 = time.perf_counter()
    for s, (idx, tgt) in enumerate(tensors):
        for g in opt.param_groups:
            g["lr"] = lr_at(s, cfg, cfg.steps)
        opt.zero_grad(set_to_none=True)
        loss = model(idx, tgt)[1]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
    dt = time.perf_counter() - t0
    return sum(b.tokens for b in batches) / dt, dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs/train/gpt.yaml"))
    ap.add_argument("--data", help="dataset directory (default: 20 default scenes made in a temp directory)")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on shared cores)")
    args = ap.parse_args()

    import torch

    from physics_llm.config import load_config
    from physics_llm.data.store import open_dataset
    from physics_llm.text import DigitTokenizer
    from training import train_gpt
    from training.examples import ExampleSampler
    from training.gpt_config import TrainGPTConfig

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else dataset(Path(tmp) / "ds", 20)
        sets = [f"steps={args.steps}", f"eval_every={args.steps}", f"ckpt_every={args.steps}", "eval_examples=16",
                "eval_windows=0", "eval_rollouts=0", f"threads={args.threads}", "device=cpu", "data_workers=0"]
        cfg = load_config(TrainGPTConfig, args.config, sets)
        sampler = ExampleSampler(open_dataset(data, "train"), cfg.text_format(), DigitTokenizer(), cfg.block_size,
                                 cfg.onset_weight, cfg.onset_px_s, noise=cfg.noise())
        t0 = time.perf_counter()
        batches = [sampler.batch(cfg.seed, s, cfg.batch_size) for s in range(args.steps)]
        build = (time.perf_counter() - t0) / args.steps
        before, t_before = bare(cfg, batches)
        t0 = time.perf_counter()
        train_gpt.train(cfg, data, Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - t0
        with open(Path(tmp) / "run/log.csv", newline="") as f:
            last = list(csv.DictReader(f))[-1]
        after, t_after = bare(cfg, batches)
    ref = (before + after) / 2
    trainer = float(last["tokens_per_s"])
    tokens = sum(b.tokens for b in batches)
    print(f"{Path(args.config).name}: {cfg.n_layer}x{cfg.n_embd}, batch {cfg.batch_size}, {args.steps} steps, "
          f"{tokens / args.steps:,.0f} tokens/step, {args.threads} thread(s)")
    print(f"  bare loop     {before:10,.0f} tokens/s before, {after:,.0f} after ({t_before:.1f} s, {t_after:.1f} s)")
    print(f"  trainer       {trainer:10,.0f} tokens/s (log.csv; batches built in the loop: "
          f"{float(last['data_frac']):.1%} of step time, {build * 1000:.0f} ms each)")
    print(f"  trainer wall  {tokens / wall:10,.0f} tokens/s ({wall:.1f} s with indexing, 2 evaluations, checkpoint)")
    ratio = trainer / ref
    print(f"ratio trainer / bare: {ratio:.2f}x (target >= {TARGET}x: {'met' if ratio >= TARGET else 'NOT met'}); "
          f"wall / bare {tokens / wall / ref:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
