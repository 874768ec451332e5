"""TrainGPTConfig: everything `physics-llm train gpt` does (configs/train/gpt.yaml, --set key=value).

The resolved config is written to RUN/config.yaml. The model keys become the
checkpoint's GPTConfig and the text keys its TextFormat, so the checkpoint alone
rebuilds the model; the keys shared with the LoRA fine-tune live in training/config.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from physics_llm.errors import ConfigError
from training.config import TrainConfig, trainer_defaults

# Keys a resumed run must keep (with config.TEXT_KEYS): they fix the weights' shapes.
MODEL_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "dropout")


@dataclass(kw_only=True)
@trainer_defaults(batch_size=64, lr=1e-3, min_lr=1e-4, warmup=100, weight_decay=0.1,  # optimisation
                  eval_every=250, eval_examples=256, eval_windows=8, ckpt_every=500)  # evaluation, checkpoints
class TrainGPTConfig(TrainConfig):
    # Model: the fields of physics_llm.models.gpt.GPTConfig but vocab_size (the tokenizer's), with its
    # defaults. They are declared again here because that module loads torch (seconds), which a config
    # with a typo should not wait for; tests/test_config_keys.py checks that they are GPTConfig's.
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 384  # prompt + target tokens; longer examples are skipped (object view: <= ~330)
    dropout: float = 0.0
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
