"""TrainGPTConfig: everything `physics-llm train gpt` does (configs/train/gpt.yaml, --set key=value).

The resolved config is written to RUN/config.yaml. The model keys become the
checkpoint's GPTConfig and the text keys its TextFormat, so the checkpoint alone
rebuilds the model; nothing here is repeated elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from physics_llm.errors import ConfigError
from physics_llm.text import TextFormat

# Keys a resumed run must keep: they fix the weights' shapes and what the text means.
MODEL_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "dropout")
TEXT_KEYS = ("view", "encoding", "context", "neighbours", "neighbour_radius")


@dataclass
class TrainGPTConfig:
    # Model (physics_llm.models.gpt.GPTConfig; vocab_size comes from the tokenizer).
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 384  # prompt + target tokens; longer examples are skipped (object view: <= ~330)
    dropout: float = 0.0
    # Text (physics_llm.text.TextFormat).
    view: str = "object"
    encoding: str = "residual"
    context: int = 3
    neighbours: int = 6
    neighbour_radius: float = 60.0
    # Sampling: object-steps whose velocity change differs from g*dt by more than onset_px_s
    # (collision onsets, 1% of object-steps holding 82% of the velocity error) are drawn
    # onset_weight times as often as the others.
    onset_weight: float = 10.0
    onset_px_s: float = 50.0
    # Optimisation: AdamW, linear warmup, then cosine from lr to min_lr at `steps`.
    steps: int = 5000
    batch_size: int = 64  # examples per step
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100  # steps
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # max gradient norm (0 = off)
    seed: int = 0
    # Evaluation and checkpoints. Every eval_every steps: the loss on eval_examples fixed val
    # examples, and the single-step RMSE of the model (and of constvel) on eval_windows val frames.
    eval_every: int = 250
    eval_examples: int = 256
    eval_windows: int = 8
    ckpt_every: int = 500
    threads: int = 2  # torch CPU threads

    def check(self) -> None:
        self.text_format()  # raises ConfigError on a bad view, encoding, context...
        for name in ("n_layer", "n_head", "n_embd", "block_size", "steps", "batch_size", "eval_every",
                     "ckpt_every", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup", "eval_examples", "eval_windows"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.min_lr <= self.lr:
            raise ConfigError(f"need 0 < min_lr <= lr, got min_lr {self.min_lr} and lr {self.lr}")
        if self.onset_weight < 1 or self.onset_px_s <= 0:
            raise ConfigError(f"onset_weight must be >= 1 and onset_px_s > 0, got {self.onset_weight} "
                              f"and {self.onset_px_s}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError(f"weight_decay and grad_clip must be >= 0, got {self.weight_decay} "
                              f"and {self.grad_clip}")

    def text_format(self) -> TextFormat:
        return TextFormat(**{k: getattr(self, k) for k in TEXT_KEYS})

    def model_kwargs(self) -> dict:
        """The GPTConfig fields set here (vocab_size is the tokenizer's)."""
        return {k: getattr(self, k) for k in MODEL_KEYS}
