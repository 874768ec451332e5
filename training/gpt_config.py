"""TrainGPTConfig: everything `physics-llm train gpt` does (configs/train/gpt.yaml, --set key=value).

The resolved config is written to RUN/config.yaml. The model keys are GPTConfig's fields
(physics_llm/models/gpt_config.py, torch-free) less vocab_size, inherited through keys_of as the
text keys are TextFormat's: they become the checkpoint's GPTConfig and TextFormat, so the
checkpoint alone rebuilds the model. The keys shared with the LoRA fine-tune live in
training/config.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from physics_llm.errors import ConfigError
from physics_llm.models.gpt_config import GPTConfig
from training.config import TrainConfig, keys_of, trainer_defaults

# Keys a resumed run must keep (with config.TEXT_KEYS): they fix the weights' shapes.
MODEL_KEYS = tuple(f.name for f in fields(GPTConfig) if f.name != "vocab_size")
MAX_UNROLL = 8  # unroll_steps: frames the model predicts itself before an example's target


@dataclass(kw_only=True)
@trainer_defaults(batch_size=64, lr=1e-3, min_lr=1e-4, warmup=100, weight_decay=0.1,  # optimisation
                  eval_every=250, eval_examples=256, eval_windows=8, ckpt_every=500)  # evaluation, checkpoints
class TrainGPTConfig(keys_of(GPTConfig, skip=("vocab_size",), base=TrainConfig)):
    # Model: GPTConfig's fields but vocab_size (the tokenizer's), with its defaults (keys_of).
    # Optimisation (training/config.py): the learning-rate schedule spans `steps`.
    steps: int = 5000
    # Warm start: the weights of this checkpoint directory (shapes that match are copied; a longer
    # block_size keeps the old position embeddings for the first positions). The optimizer and
    # the schedule start fresh. null: random initialisation.
    init_from: str | None = None
    # Pushforward (training/examples.py Unroll, LagrangeBench's idea): from step unroll_start on, an
    # unroll_frac share of the examples gets a context the model made itself, unroll_steps frames
    # predicted from the true window before them (0 = off); the target is Pymunk stepped from the
    # model's last frame (unroll_target "sim") or the true next frame ("truth").
    unroll_steps: int = 0
    unroll_frac: float = 0.25
    unroll_start: int = 0
    unroll_target: str = "sim"

    def check(self) -> None:
        super().check()
        self.at_least(1, "n_layer", "n_head", "n_embd", "block_size", "steps")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        for key, hi in (("unroll_steps", MAX_UNROLL), ("unroll_start", None)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 or (hi is not None and v > hi):
                raise ConfigError(f"{key} must be a whole number from 0" + (f" to {hi} (frames)" if hi else " (a training step)")
                                  + f", got {v!r}")
        v = self.unroll_frac
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ConfigError(f"unroll_frac must be a number in [0, 1] (a share of the examples), got {v!r}")
        if self.unroll_target not in ("truth", "sim"):
            raise ConfigError(f"unroll_target must be sim (Pymunk stepped from the model's own frame) or truth "
                              f"(the true next frame), got {self.unroll_target!r}")
        if self.unroll_steps and self.data_workers:
            raise ConfigError("unroll_steps needs the model itself to build the batches: set data_workers: 0 "
                              "(or unroll_steps: 0)")

    def unroll(self):
        from training.examples import Unroll

        return Unroll(steps=int(self.unroll_steps), frac=float(self.unroll_frac), start=int(self.unroll_start),
                      target=self.unroll_target)

    def model_kwargs(self) -> dict:
        """The GPTConfig fields set here (vocab_size is the tokenizer's)."""
        return {k: getattr(self, k) for k in MODEL_KEYS}
