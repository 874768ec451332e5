"""Where a training run computes: one process or torchrun's K (DDP), on the CPU or a GPU.

Config keys (training/config.py, both trainers):
    device         auto (a GPU when torch sees one), cpu or cuda
    dtype          float32, or bfloat16: the forward under torch.autocast (GPU only)
    compile        torch.compile the training forward (the GPT; the LoRA model too)
    micro_batches  the global batch (batch_size examples) is drawn as this many micro-batches of
                   batch_size / micro_batches examples, micro-batch p of step s a pure function of
                   (seed, s, p) (training/examples.py). K processes take micro_batches / K of them
                   each and accumulate their gradients, so a step's gradient is the same whatever K
                   (micro_batches 1: the single-process batch of earlier versions, bit for bit).

Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK in the environment) every process joins one
process group: gloo on the CPU, nccl on GPUs (process LOCAL_RANK uses GPU LOCAL_RANK). Rank 0
alone evaluates and writes (config.yaml, log.csv, checkpoints, TensorBoard, the progress bar);
the other ranks wait at a barrier meanwhile. Checks that depend on the world (micro_batches a
multiple of it, the same world as the run being resumed) and on the device (a GPU that is
there, bfloat16 it can do) run before anything is written; only rank 0 prints their one line.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import timedelta

from physics_llm.errors import UserError

# Rank 0 evaluates (rollouts can take minutes) while the others wait at a barrier: a long timeout.
TIMEOUT = timedelta(minutes=120)


def env_rank() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    def num(name: str, default: int) -> int:
        v = os.environ.get(name, "")
        return int(v) if v.strip().isdigit() else default

    return num("RANK", 0), num("WORLD_SIZE", 1), num("LOCAL_RANK", 0)


def is_main() -> bool:
    return env_rank()[0] == 0


def pick_device(device: str, dtype: str, local_rank: int = 0):
    """The torch.device of config `device` (auto, cpu, cuda); UserError for a GPU that is not there,
    or bfloat16 where the device cannot do it."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda: torch sees no GPU here (torch.cuda.is_available() is False); "
                        "use --set device=cpu (or auto)")
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if dtype == "bfloat16":
        if not cuda:
            raise UserError("dtype bfloat16 is for a GPU (CPU bfloat16 matmuls are slow, and device is "
                            f"{device} with no GPU here); use --set dtype=float32")
        if not torch.cuda.is_bf16_supported():
            raise UserError(f"dtype bfloat16: this GPU ({torch.cuda.get_device_name(local_rank)}) cannot do it; "
                            "use --set dtype=float32")
    if not cuda:
        return torch.device("cpu")
    n = torch.cuda.device_count()
    if local_rank >= n:
        raise UserError(f"device cuda: torchrun started local rank {local_rank} but this machine has {n} GPU(s); "
                        f"use --nproc_per_node={n} (or fewer)")
    return torch.device("cuda", local_rank)


def check_world(cfg, world: int, resumed_world: int | None = None) -> None:
    """micro_batches must be shared evenly by the processes; a resumed run keeps its world size."""
    if cfg.micro_batches % world:
        raise UserError(f"micro_batches {cfg.micro_batches}: the global batch (batch_size {cfg.batch_size} drawn as "
                        f"{cfg.micro_batches} micro-batches) cannot be shared by {world} processes; use --set "
                        f"micro_batches=N with N a multiple of {world} that divides batch_size")
    if resumed_world is not None and resumed_world != world:
        how = ("one process (no torchrun, or torchrun --nproc_per_node=1)" if resumed_world == 1 else
               f"{resumed_world} processes (torchrun with --nnodes x --nproc_per_node = {resumed_world})")
        raise UserError(f"--resume: the run was trained by {resumed_world} process{'es' * (resumed_world > 1)} and "
                        f"now {world} {'are' if world > 1 else 'is'} started; resume it with {how}, "
                        "or start a new --out")


@dataclass
class Runtime:
    """One process of a run: its rank, the world size, its device and autocast dtype."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: object = "cpu"  # torch.device
    dtype: str = "float32"
    group: bool = field(default=False, repr=False)  # this process joined a process group

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def cuda(self) -> bool:
        return getattr(self.device, "type", self.device) == "cuda"

    def parts(self, micro_batches: int) -> range:
        """The micro-batches of every global batch this process draws and trains on."""
        k = micro_batches // self.world
        return range(self.rank * k, (self.rank + 1) * k)

    def autocast(self):
        import torch

        if self.dtype == "bfloat16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def wrap(self, model):
        """DDP around the model that trains (the identity in a single process)."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(model, device_ids=[self.device.index] if self.cuda else None)

    def no_sync(self, model, sync: bool):
        """DDP syncs gradients at the last micro-batch of a step only."""
        if self.world == 1 or sync or not hasattr(model, "no_sync"):
            return contextlib.nullcontext()
        return model.no_sync()

    def all_sum(self, values: list[float]) -> list[float]:
        """Sums over the processes (float64; a single process gets its values back)."""
        if self.world == 1:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier(device_ids=[self.device.index]) if self.cuda else dist.barrier()

    def rng_states(self) -> list | None:
        """Every rank's torch RNG state (CPU, and CUDA on a GPU) for the checkpoint; None when there is
        one CPU process (the checkpoint's torch_rng is all there is). A collective: every rank calls it."""
        import torch

        if self.world == 1 and not self.cuda:
            return None
        own = {"cpu": torch.get_rng_state()}
        if self.cuda:
            own["cuda"] = torch.cuda.get_rng_state(self.device)
        if self.world == 1:
            return [own]
        import torch.distributed as dist

        out = [None] * self.world
        dist.all_gather_object(out, own)
        return out

    def restore_rng(self, state: dict) -> None:
        """This rank's RNG states from a checkpoint's train state (written by rng_states)."""
        import torch

        states = state.get("rank_rng")
        if not states or self.rank >= len(states):
            return
        own = states[self.rank]
        torch.set_rng_state(own["cpu"])
        if self.cuda and "cuda" in own:
            torch.cuda.set_rng_state(own["cuda"], self.device)

    def close(self, ok: bool = True) -> None:
        """Leave the process group (after a last barrier when the run ended well)."""
        if not self.group:
            return
        import torch.distributed as dist

        if ok:
            self.barrier()
        dist.destroy_process_group()
        self.group = False


def start(cfg, resumed_world: int | None = None) -> Runtime:
    """Check the device and the world against cfg, then join torchrun's process group if there is one.
    Nothing is written; a UserError here is the same on every rank."""
    import torch

    rank, world, local = env_rank()
    check_world(cfg, world, resumed_world)
    device = pick_device(cfg.device, cfg.dtype, local)
    rt = Runtime(rank=rank, world=world, local_rank=local, device=device, dtype=cfg.dtype)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True  # float32 matmuls on tensor cores (GPUs only)
        torch.backends.cudnn.allow_tf32 = True
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
        rt.group = True
    return rt


@contextlib.contextmanager
def quiet_ranks():
    """Under torchrun, a UserError (the same on every rank: bad config, bad --resume) is printed by
    rank 0 alone; the other ranks exit with code 2 silently."""
    try:
        yield
    except UserError:
        if not is_main():
            raise SystemExit(2) from None
        raise
