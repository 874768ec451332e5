"""GPU smoke and speed check of the trainers: tokens/s, model FLOPs utilisation and peak memory.

On a CUDA machine (one GPU; ~5-8 minutes on an H100/H200-class GPU, not yet measured: nothing
here has run on a GPU so far):

  gpt_small, gpt_base   configs/train/gpt_*.yaml with bfloat16 autocast and torch.compile: a few
                        hundred training steps on batches built beforehand (the trainer's own step:
                        micro-batches, token-weighted accumulation, clipping, fused AdamW), then
                        `train gpt` itself for a few dozen steps (batches built by data_workers
                        processes while the GPU trains: its tokens/s says whether they keep up).
  lora_lfm2_350m        the LoRA fine-tune (r=32, alpha=64 on every LFM2 linear family) of a model of
                        LiquidAI/LFM2-350M's exact shape, built with random weights from its published
                        config.json (hidden 1024, 16 layers of which attention at 2, 5, 8, 10, 12, 14,
                        16 heads / 8 KV heads, block_ff_dim 6656 -> 4608 after LFM2's auto-adjust,
                        vocab 65536, tied embeddings: 354,483,968 parameters, as on its model card),
                        weights in bfloat16 under autocast, batch 16 (configs/train/lora.yaml).
                        Example lengths are character-level (tests/hf_tiny.py's tokenizer), an upper
                        bound of what LFM2's own tokenizer makes of the same text.

MFU = achieved model FLOPs / the GPU's dense bfloat16 peak (H100/H200 SXM 989 TFLOPS, A100 312;
--peak-tflops for others). GPT FLOPs per real (non-pad) token: 6N + 12 L d T (PaLM, nanoGPT),
T the batch's padded length; LoRA: 4N + 12 L_attn d T (forward 2N, the backward's input
gradients 2N, the frozen weights get no weight gradients), N without the embeddings.

    python benchmarks/gpu_smoke.py                  # on a CUDA machine
    python benchmarks/gpu_smoke.py --cpu            # the same code on tiny shapes on the CPU (checks the script)

Without a GPU (and without --cpu) it says that it needs CUDA and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # hf_tiny.py: the character tokenizer

# LiquidAI/LFM2-350M's config.json, as transformers' Lfm2Config takes it.
LFM2_350M = dict(vocab_size=65536, hidden_size=1024, intermediate_size=6656, num_hidden_layers=16,
                 num_attention_heads=16, num_key_value_heads=8, full_attn_idxs=[2, 5, 8, 10, 12, 14],
                 block_auto_adjust_ff_dim=True, block_multiple_of=256, block_ffn_dim_multiplier=1.0,
                 conv_L_cache=3, conv_bias=False, norm_eps=1e-5, max_position_embeddings=128000,
                 tie_word_embeddings=True, pad_token_id=0, bos_token_id=1, eos_token_id=7)
LFM2_350M_PARAMS = 354_483_968
PEAK_BF16 = (("H200", 989e12), ("H100", 989e12), ("GH200", 989e12), ("A100", 312e12), ("L40S", 362e12),
             ("A10", 125e12), ("L4", 121e12))


def peak_flops(device, given_tflops: float | None) -> float | None:
    import torch

    if given_tflops:
        return given_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16 if k in name), None)


def make_data(root: Path, scenes: int, workers: int) -> Path:
    from physics_llm.config import load_config
    from physics_llm.data.config import DataConfig
    from physics_llm.data.generate import generate_dataset

    cfg = load_config(DataConfig, ROOT / "configs/data/default.yaml", [f"scenes={scenes}", "split=[0.9, 0.1, 0.0]"])
    generate_dataset(cfg, root, workers=workers, progress=False)
    return root


def prebuilt(sampler, seed: int, part_size: int, parts: int, steps: int, workers: int) -> list[list]:
    """steps global batches, each `parts` micro-batches, built by `workers` processes."""
    from training.loop import Prefetcher

    feed = Prefetcher(lambda s, p: sampler.batch(seed, s, part_size, p), workers, list(range(parts)), steps,
                      ahead=steps)
    try:
        return [feed.batches(s) for s in range(steps)]
    finally:
        feed.close()


def timed_steps(rt, model, train_model, optimizer, batches, loss_of, steps: int, warmup: int, budget_s: float,
                flops_of) -> dict:
    """The trainer's step (loop.accumulate, clipping, AdamW) over `batches` in turn: warmup steps, then
    up to `steps` timed ones (fewer when budget_s runs out)."""
    import torch

    from training.loop import accumulate

    params = [p for p in model.parameters() if p.requires_grad]

    def step(global_batch):
        counts = [int((b.targets != -1).sum()) for b in global_batch]
        optimizer.zero_grad(set_to_none=True)
        loss = accumulate(global_batch, counts, sum(counts), loss_of, train_model, rt)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        return loss

    sync = torch.cuda.synchronize if rt.cuda else (lambda: None)
    t0 = time.perf_counter()
    first = float("nan")
    for i in range(warmup):
        loss = step(batches[i % len(batches)])
        first = float(loss) if i == 0 else first
    sync()
    warm_s = time.perf_counter() - t0
    if rt.cuda:
        torch.cuda.reset_peak_memory_stats(rt.device)
    tokens = flops = 0.0
    done = 0
    t0 = time.perf_counter()
    while done < steps and (done < 3 or time.perf_counter() - t0 < budget_s):
        gb = batches[(warmup + done) % len(batches)]
        loss = step(gb)
        tokens += sum(b.tokens for b in gb)
        flops += sum(flops_of(b) for b in gb)
        done += 1
    last = float(loss)
    sync()
    dt = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(rt.device) / 2**30 if rt.cuda else float("nan")
    return {"steps": done, "tokens_s": tokens / dt, "flops_s": flops / dt, "step_ms": 1000 * dt / done,
            "peak_gib": peak, "warmup_s": warm_s, "loss": f"{first:.3f} -> {last:.3f}"}


def gpt_case(name: str, args, rt, data: Path, out: Path) -> dict:
    import torch

    from physics_llm.config import load_config
    from physics_llm.data.store import open_dataset
    from physics_llm.models.gpt import GPT, GPTConfig
    from physics_llm.text import DigitTokenizer
    from training import loop
    from training.examples import ExampleSampler
    from training.gpt_config import TrainGPTConfig

    sets = [f"dtype={rt.dtype}", f"compile={str(args.compile).lower()}", f"device={rt.device.type}"]
    if args.cpu:  # tiny shapes: a check of this script, not a figure
        sets += ["n_layer=2", "n_head=2", "n_embd=32", "batch_size=16", "micro_batches=2", "threads=1"]
    cfg = load_config(TrainGPTConfig, ROOT / f"configs/train/{name}.yaml", sets)
    tok = DigitTokenizer()
    sampler = ExampleSampler(open_dataset(data, "train"), cfg.text_format(), tok, cfg.block_size,
                             cfg.onset_weight, cfg.onset_px_s, noise=cfg.noise())
    part = cfg.batch_size // cfg.micro_batches
    batches = prebuilt(sampler, cfg.seed, part, cfg.micro_batches, args.batches, args.workers)
    torch.manual_seed(cfg.seed)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, **cfg.model_kwargs())).to(rt.device)
    optimizer = loop.make_optimizer(model, cfg, fused=rt.cuda)
    train_model = torch.compile(model) if cfg.compile else model

    def loss_of(b):
        idx, tgt = torch.from_numpy(b.idx), torch.from_numpy(b.targets)
        if cfg.compile and idx.shape[1] % 64:
            pad = min(-idx.shape[1] % 64, cfg.block_size - idx.shape[1])
            idx = torch.nn.functional.pad(idx, (0, pad), value=tok.pad_id)
            tgt = torch.nn.functional.pad(tgt, (0, pad), value=-1)
        with rt.autocast():
            return train_model(idx.to(rt.device, non_blocking=True), tgt.to(rt.device, non_blocking=True))[1]

    r = timed_steps(rt, model, train_model, optimizer, batches, loss_of, args.steps, args.warmup, args.budget,
                    lambda b: b.tokens * model.flops_per_token(b.idx.shape[1]))
    r.update(name=name, params=model.num_params(), tokens_step=sum(b.tokens for b in batches[0]))
    del model, train_model, optimizer
    if rt.cuda:
        torch.cuda.empty_cache()
    if args.trainer_steps:  # `train gpt` itself, batches built by data_workers while the GPU trains
        from training import train_gpt

        tsets = sets + [f"steps={args.trainer_steps}", f"eval_every={args.trainer_steps}",
                        f"ckpt_every={args.trainer_steps}", "eval_examples=32", "eval_windows=0", "eval_rollouts=0",
                        f"data_workers={args.workers}", "warmup=2"]
        tcfg = load_config(TrainGPTConfig, ROOT / f"configs/train/{name}.yaml", tsets)
        t0 = time.perf_counter()
        train_gpt.train(tcfg, data, out / name, progress=False)
        with open(out / name / "log.csv", newline="") as f:
            row = list(csv.DictReader(f))[-1]
        r.update(trainer_tokens_s=float(row["tokens_per_s"]), trainer_data_frac=float(row["data_frac"]),
                 trainer_wall_s=time.perf_counter() - t0)
    return r


def lora_case(args, rt, data: Path) -> dict:
    import torch
    from transformers import Lfm2Config, Lfm2ForCausalLM

    from hf_tiny import tiny_tokenizer
    from physics_llm.config import load_config
    from physics_llm.data.store import open_dataset
    from physics_llm.models.hf_loading import HFTokens
    from training import loop
    from training.examples import ExampleSampler
    from training.lora_config import TrainLoRAConfig, apply_lora
    from training.train_lora import batch_loss

    shape = dict(LFM2_350M)
    if args.cpu:
        shape.update(vocab_size=512, hidden_size=64, intermediate_size=256, num_hidden_layers=4,
                     num_attention_heads=4, num_key_value_heads=2, full_attn_idxs=[1, 3])
    cfg = load_config(TrainLoRAConfig, ROOT / "configs/train/lora.yaml",
                      [f"dtype={rt.dtype}", f"device={rt.device.type}", "lora_dropout=0.0"]
                      + (["batch_size=4", "threads=1"] if args.cpu else []), extra={"base": "random LFM2-350M shape"})
    torch.manual_seed(cfg.seed)
    dtype = torch.bfloat16 if rt.dtype == "bfloat16" else torch.float32
    with torch.device(rt.device):
        base = Lfm2ForCausalLM(Lfm2Config(**shape)).to(dtype)
    n_params = sum(p.numel() for p in base.parameters())
    if not args.cpu and n_params != LFM2_350M_PARAMS:
        print(f"warning: the LFM2-350M shape has {n_params:,} parameters, not {LFM2_350M_PARAMS:,}", file=sys.stderr)
    n_body = sum(p.numel() for p in base.model.layers.parameters())  # without the (tied) embeddings
    if args.lora_gc:
        enable = getattr(base, "activation_checkpointing_enable", None)
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = apply_lora(base, cfg).to(rt.device)
    tokens = HFTokens(tiny_tokenizer())  # character ids: every id < 65536
    sampler = ExampleSampler(open_dataset(data, "train"), cfg.text_format(), tokens, cfg.max_tokens,
                             cfg.onset_weight, cfg.onset_px_s)
    batches = prebuilt(sampler, cfg.seed, cfg.batch_size, 1, args.batches, args.workers)
    optimizer = loop.make_optimizer(model, cfg, fused=rt.cuda)
    model.train()
    head = shape["hidden_size"] * shape["vocab_size"]  # the tied lm_head's matmul
    n_attn = len(shape["full_attn_idxs"])
    kw = {"use_cache": False}
    r = timed_steps(rt, model, model, optimizer, batches, lambda b: batch_loss(model, b, rt.device, rt.autocast, **kw),
                    args.lora_steps, args.warmup, args.budget,
                    lambda b: b.tokens * (4 * (n_body + head) + 12 * n_attn * shape["hidden_size"] * b.idx.shape[1]))
    r.update(name="lora_lfm2_350m" + ("_gc" if args.lora_gc else ""), params=n_params,
             tokens_step=sum(b.tokens for b in batches[0]))
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="run the same code on tiny shapes on the CPU (a check)")
    ap.add_argument("--steps", type=int, default=300, help="timed GPT steps per preset (fewer if --budget runs out)")
    ap.add_argument("--lora-steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps first (torch.compile compiles here)")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of timed steps per case at most")
    ap.add_argument("--batches", type=int, default=8, help="distinct global batches built beforehand, used in turn")
    ap.add_argument("--trainer-steps", type=int, default=30, help="steps of `train gpt` itself per preset (0: none)")
    ap.add_argument("--workers", type=int, default=max(1, min(12, (os.cpu_count() or 2) - 2)),
                    help="processes building batches")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--float32", action="store_true", help="no bfloat16 autocast")
    ap.add_argument("--lora-gc", action="store_true", help="LoRA with gradient checkpointing")
    ap.add_argument("--only", action="append", choices=["gpt_small", "gpt_base", "lora"], help="run only these")
    ap.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, for MFU (default: known GPUs)")
    args = ap.parse_args()

    import torch

    from training.distributed import Runtime

    if not args.cpu and not torch.cuda.is_available():
        print("gpu_smoke: needs CUDA (torch sees no GPU here); nothing was run. "
              "`python benchmarks/gpu_smoke.py --cpu` checks the script on tiny shapes on the CPU.")
        return 0
    if args.cpu:
        args.compile, args.float32 = False, True
        args.steps, args.lora_steps, args.warmup, args.batches = min(args.steps, 3), min(args.lora_steps, 2), 1, 2
        args.trainer_steps = min(args.trainer_steps, 2)
        args.workers = min(args.workers, 2)
        torch.set_num_threads(1)
    device = torch.device("cpu") if args.cpu else torch.device("cuda", 0)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    dtype = "float32" if args.float32 or (device.type == "cuda" and not torch.cuda.is_bf16_supported()) else "bfloat16"
    rt = Runtime(device=device, dtype=dtype)
    peak = peak_flops(device, args.peak_tflops)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (tiny shapes: a check, not figures)"
    print(f"gpu_smoke on {where}: {dtype}, compile {args.compile}, {args.workers} batch workers, torch {torch.__version__}")
    t_all = time.perf_counter()
    results, failed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(Path(tmp) / "ds", 12 if args.cpu else 60, args.workers)
        print(f"dataset: {time.perf_counter() - t_all:.1f} s", flush=True)
        for name in ("gpt_small", "gpt_base", "lora"):
            if args.only and name not in args.only:
                continue
            t0 = time.perf_counter()
            try:
                r = lora_case(args, rt, data) if name == "lora" else gpt_case(name, args, rt, data, Path(tmp))
            except Exception:  # report and go on to the next case
                traceback.print_exc()
                failed.append(name)
                continue
            r["case_s"] = time.perf_counter() - t0
            results.append(r)
            mfu = f"{r['flops_s'] / peak:.1%}" if peak else "n/a"
            extra = (f"; train gpt: {r['trainer_tokens_s']:,.0f} tokens/s, data {r['trainer_data_frac']:.0%} of step "
                     f"time" if "trainer_tokens_s" in r else "")
            print(f"{r['name']:>16}: {r['params'] / 1e6:7.1f}M params, {r['steps']} steps of {r['tokens_step']:,} "
                  f"tokens, {r['step_ms']:.1f} ms/step, {r['tokens_s']:,.0f} tokens/s, MFU {mfu}, peak memory "
                  f"{r['peak_gib']:.1f} GiB, loss {r['loss']} (warm-up/compile {r['warmup_s']:.0f} s, case "
                  f"{r['case_s']:.0f} s){extra}", flush=True)
    print(f"total {time.perf_counter() - t_all:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
