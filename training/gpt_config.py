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

    def check(self) -> None:
        super().check()
        self.at_least(1, "n_layer", "n_head", "n_embd", "block_size", "steps")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    def model_kwargs(self) -> dict:
        """The GPTConfig fields set here (vocab_size is the tokenizer's)."""
        return {k: getattr(self, k) for k in MODEL_KEYS}
