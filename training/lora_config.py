"""TrainLoRAConfig (configs/train/lora.yaml, --set key=value) and the LoRA wrapping of a base model.

The mission's fine-tune: peft LoRA r=32, alpha=64 on every linear layer family of LFM2
(measured module names: q_proj, k_proj, v_proj, out_proj in attention; in_proj, out_proj in
the short-conv blocks; w1, w2, w3 in the feed-forward). peft has no default list for LFM2,
and a Llama-style list silently adapts only q/k/v, so apply_lora checks that every name
matched (the original system's defect was exactly such a list).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from physics_llm.errors import ConfigError, UserError
from training.config import TrainConfig, trainer_defaults

LFM2_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "in_proj", "w1", "w2", "w3"]
STAGES = 5  # training/curriculum.py: the dataset's tags.stage, 1 (few slow circles) .. 5 (40-50 fast mixed)
# Keys a resumed run must keep (with config.TEXT_KEYS): they fix the adapter's shapes.
ADAPTER_KEYS = ("base", "r", "alpha", "target_modules")


@dataclass(kw_only=True)
@trainer_defaults(batch_size=8, lr=2e-4, min_lr=2e-5, warmup=20, weight_decay=0.0,  # optimisation, LoRA weights only
                  eval_every=100, eval_examples=64, eval_windows=2, ckpt_every=200)  # evaluation, checkpoints
class TrainLoRAConfig(TrainConfig):
    # Model: a Hugging Face causal LM present locally (a directory, or an id in the HF cache).
    base: str = "LiquidAI/LFM2-350M"
    r: int = 32
    alpha: int = 64  # peft lora_alpha: the update is scaled by alpha / r = 2
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(LFM2_TARGETS))
    max_tokens: int = 512  # prompt + target tokens of one example; longer ones are skipped
    # Curriculum (training/curriculum.py): steps of stages 1..5, in order; from the second stage
    # on, a `replay` fraction of every batch comes from the earlier stages. The learning-rate
    # schedule spans the stages present in the data.
    stage_steps: list[int] = field(default_factory=lambda: [200, 200, 200, 200, 200])
    replay: float = 0.2
    # Devices (training/config.py: device, dtype, compile, micro_batches). dtype bfloat16 also
    # loads the frozen base's weights in bfloat16 (the LoRA weights stay float32).
    # Gradient checkpointing: each layer's activations are recomputed in the backward pass instead
    # of kept (less memory for long examples or big batches, ~30% more compute).
    gradient_checkpointing: bool = False

    def check(self) -> None:
        super().check()
        self.at_least(1, "r", "alpha", "max_tokens")
        if not self.base:
            raise ConfigError("base must name a model (a directory, or an id in the Hugging Face cache)")
        if not self.target_modules:
            raise ConfigError(f"target_modules must list at least one layer name (LFM2: {', '.join(LFM2_TARGETS)})")
        if len(self.stage_steps) != STAGES or any(s < 0 for s in self.stage_steps) or not sum(self.stage_steps):
            raise ConfigError(f"stage_steps must be {STAGES} step counts >= 0 (stages 1..{STAGES}) with a positive "
                              f"sum, got {self.stage_steps}")
        if not 0 <= self.replay < 1:
            raise ConfigError(f"replay must be in [0, 1) (the share of a batch from earlier stages), got {self.replay}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")


def lora_config(cfg: TrainLoRAConfig):
    from peft import LoraConfig, TaskType

    return LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.target_modules), task_type=TaskType.CAUSAL_LM)


def apply_lora(model, cfg: TrainLoRAConfig):
    """Base model -> peft model with LoRA on cfg.target_modules; UserError unless every name matched.

    Seed torch before calling: the A matrices start random (B starts at zero).
    """
    from peft import get_peft_model

    from physics_llm.models.hf_loading import check_lora_targets, lora_mismatch, missing_targets, quiet_peft

    names = [n for n, _ in model.named_modules()]
    missing = missing_targets(cfg.target_modules, names)
    if len(missing) == len(cfg.target_modules):  # peft itself refuses with a message that names no layers
        raise UserError(lora_mismatch(missing, model))
    with quiet_peft():
        peft_model = get_peft_model(model, lora_config(cfg))
    check_lora_targets(peft_model, cfg.target_modules)
    return peft_model
