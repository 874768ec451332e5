"""TrainConfig: the keys both trainers share (text, sampling, optimisation, evaluation), checked once.

The text keys are TextFormat's fields (physics_llm/text/format.py), inherited through keys_of:
their names, types and defaults are declared there alone, and the YAML keeps them flat
(`view: object`, `--set encoding=walls`). TrainGPTConfig (gpt_config.py) adds the GPT's model
keys and TrainLoRAConfig (lora_config.py) the adapter's. The keys with no default here get one
in each subclass (trainer_defaults): the two models train with different batch sizes, learning
rates and eval cadences (configs/train/*.yaml).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from physics_llm.errors import ConfigError
from physics_llm.sim.physics import ONSET_PX_S
from physics_llm.text import TextFormat


def keys_of(source: type, *, skip: tuple[str, ...] = (), base: type = object) -> type:
    """A kw_only dataclass (subclassing `base`) whose fields are those of the dataclass `source`, less
    `skip`: the same names, types, defaults and order, so a config that inherits it declares none again."""
    hints = typing.get_type_hints(source)
    specs = [(f.name, hints[f.name], dataclasses.field(default=f.default, default_factory=f.default_factory))
             for f in dataclasses.fields(source) if f.name not in skip]
    return dataclasses.make_dataclass(f"{source.__name__}Keys", specs, bases=(base,), kw_only=True,
                                      namespace={"__module__": __name__})


def trainer_defaults(**values):
    """Class decorator, under @dataclass: a trainer's defaults for TrainConfig's keys that have none
    (batch_size, lr, ...), one keyword each, with TrainConfig's types."""

    def apply(cls: type) -> type:
        hints = typing.get_type_hints(TrainConfig)
        for name, value in values.items():
            if name not in hints:
                raise TypeError(f"trainer_defaults: TrainConfig has no key {name!r}")
            cls.__annotations__[name] = hints[name]
            setattr(cls, name, value)
        return cls

    return apply


# Keys a resumed run must keep: they fix what the text means.
TEXT_KEYS = tuple(f.name for f in dataclasses.fields(TextFormat))


@dataclass(kw_only=True)
class TrainConfig(keys_of(TextFormat)):
    # Text: TextFormat's fields, with its defaults (keys_of; physics_llm/text/format.py).
    # Sampling (training/examples.py): object-steps whose velocity change differs from g*dt by more
    # than onset_px_s (collision onsets, 1% of object-steps holding 82% of the velocity error) are
    # drawn onset_weight times as often as the others.
    onset_weight: float = 10.0
    onset_px_s: float = ONSET_PX_S
    # Noise on the context (training/examples.py, learning_to_simulate's idea): in a noise_frac
    # share of the examples, a random walk on the context velocities whose last step has std
    # noise_vel (px/s), integrated into the positions, plus one shift of every context position
    # of std noise_pos (px). noise_target "truth": the target stays the true next state, so the
    # model learns to correct the noise back to the true trajectory; "sim": the target is Pymunk
    # stepped from the perturbed state, what physics does from what a rollout's errors look like.
    noise_vel: float = 0.0
    noise_pos: float = 0.0
    noise_frac: float = 0.5
    noise_target: str = "truth"
    # Optimisation: AdamW, linear warmup, then cosine from lr to min_lr at the last step (loop.lr_at).
    batch_size: int  # examples per step
    lr: float
    min_lr: float
    warmup: int  # steps
    weight_decay: float
    grad_clip: float = 1.0  # max gradient norm (0 = off)
    seed: int = 0
    # Evaluation and checkpoints. Every eval_every steps: the loss on eval_examples fixed val
    # examples, and the single-step RMSE of the model (and of constvel) on eval_windows val frames.
    eval_every: int
    eval_examples: int
    eval_windows: int
    # Every evaluation also rolls the first eval_rollouts val scenes out for eval_horizon frames
    # (position RMSE and escaped object-frames, beside constvel's); the best such checkpoint is kept.
    eval_rollouts: int = 0
    eval_horizon: int = 40
    ckpt_every: int
    threads: int = 2  # torch CPU threads
    # Devices and processes (training/distributed.py). The global batch of batch_size examples is
    # drawn as micro_batches micro-batches (a pure function of seed, step and micro-batch), shared
    # by torchrun's processes and accumulated, so any world size that divides micro_batches trains
    # on the same batches; 1 is the single-process batch of earlier versions, bit for bit.
    device: str = "auto"  # auto (a GPU when torch sees one), cpu or cuda
    dtype: str = "float32"  # float32, or bfloat16 (torch.autocast; GPU only)
    compile: bool = False  # torch.compile the training forward
    micro_batches: int = 1
    # Processes per training process that build the next batches ahead (0: built in the loop, between
    # steps). Batches are pure functions of (seed, step, micro-batch), so the run is the same either
    # way; a GPU needs them (a 64-example object-view batch takes ~0.1-0.3 s of one core to build).
    data_workers: int = 0
    tensorboard: bool = False  # TensorBoard event files beside log.csv (needs `pip install tensorboard`)

    def check(self) -> None:
        self.text_format()  # raises ConfigError on a bad view, encoding, context...
        self.at_least(1, "batch_size", "eval_every", "ckpt_every", "threads", "micro_batches")
        if self.batch_size % self.micro_batches:
            raise ConfigError(f"batch_size {self.batch_size} must be a multiple of micro_batches {self.micro_batches} "
                              "(the global batch is drawn as micro_batches equal micro-batches)")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"dtype must be float32 or bfloat16, got {self.dtype!r}")
        self.at_least(0, "warmup", "eval_examples", "eval_windows", "eval_rollouts", "data_workers")
        self.at_least(1, "eval_horizon")
        if not 0 < self.min_lr <= self.lr:
            raise ConfigError(f"need 0 < min_lr <= lr, got min_lr {self.min_lr} and lr {self.lr}")
        if self.onset_weight < 1 or self.onset_px_s <= 0:
            raise ConfigError(f"onset_weight must be >= 1 and onset_px_s > 0, got {self.onset_weight} "
                              f"and {self.onset_px_s}")
        for key, hi, unit in (("noise_vel", 1000.0, "px/s"), ("noise_pos", 100.0, "px"),
                              ("noise_frac", 1.0, "a share of the examples")):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= hi:
                raise ConfigError(f"{key} must be a number in [0, {hi:g}] ({unit}), got {v!r}")
        if self.noise_target not in ("truth", "sim"):
            raise ConfigError(f"noise_target must be truth (the true next state) or sim (Pymunk stepped from the "
                              f"perturbed context), got {self.noise_target!r}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError(f"weight_decay and grad_clip must be >= 0, got {self.weight_decay} and {self.grad_clip}")

    def at_least(self, low: int, *names: str) -> None:
        for name in names:
            if getattr(self, name) < low:
                raise ConfigError(f"{name} must be >= {low}, got {getattr(self, name)}")

    def noise(self):
        from training.examples import Noise

        return Noise(vel=float(self.noise_vel), pos=float(self.noise_pos), frac=float(self.noise_frac),
                     target=self.noise_target)

    def text_format(self) -> TextFormat:
        return TextFormat(**{k: getattr(self, k) for k in TEXT_KEYS})
