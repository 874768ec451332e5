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
from physics_llm.text import TextFormat
from training.gpt_config import TEXT_KEYS

LFM2_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "in_proj", "w1", "w2", "w3"]
STAGES = 5  # training/curriculum.py: the dataset's tags.stage, 1 (few slow circles) .. 5 (40-50 fast mixed)
# Keys a resumed run must keep: they fix the adapter's shapes and what the text means.
ADAPTER_KEYS = ("base", "r", "alpha", "target_modules")


@dataclass
class TrainLoRAConfig:
    # Model: a Hugging Face causal LM present locally (a directory, or an id in the HF cache).
    base: str = "LiquidAI/LFM2-350M"
    r: int = 32
    alpha: int = 64  # peft lora_alpha: the update is scaled by alpha / r = 2
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(LFM2_TARGETS))
    max_tokens: int = 512  # prompt + target tokens of one example; longer ones are skipped
    # Text (physics_llm.text.TextFormat).
    view: str = "object"
    encoding: str = "residual"
    context: int = 3
    neighbours: int = 6
    neighbour_radius: float = 60.0
    # Sampling (training/examples.py): collision onsets drawn onset_weight times as often.
    onset_weight: float = 10.0
    onset_px_s: float = 50.0
    # Curriculum (training/curriculum.py): steps of stages 1..5, in order; from the second stage
    # on, a `replay` fraction of every batch comes from the earlier stages.
    stage_steps: list[int] = field(default_factory=lambda: [200, 200, 200, 200, 200])
    replay: float = 0.2
    # Optimisation: AdamW on the LoRA weights, linear warmup, then cosine from lr to min_lr at the
    # last step of the curriculum.
    batch_size: int = 8  # examples per step
    lr: float = 2e-4
    min_lr: float = 2e-5
    warmup: int = 20  # steps
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max gradient norm (0 = off)
    seed: int = 0
    # Evaluation and checkpoints: every eval_every steps the loss on eval_examples fixed val
    # examples and the single-step RMSE of the model (and of constvel) on eval_windows val frames.
    eval_every: int = 100
    eval_examples: int = 64
    eval_windows: int = 2
    ckpt_every: int = 200
    device: str = "auto"  # auto (cuda when there is one), cpu or cuda
    dtype: str = "float32"  # weights of the frozen base: float32, or bfloat16 on a GPU
    threads: int = 2  # torch CPU threads

    def check(self) -> None:
        self.text_format()  # raises ConfigError on a bad view, encoding, context...
        for name in ("r", "alpha", "max_tokens", "batch_size", "eval_every", "ckpt_every", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup", "eval_examples", "eval_windows"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
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
        if not 0 < self.min_lr <= self.lr:
            raise ConfigError(f"need 0 < min_lr <= lr, got min_lr {self.min_lr} and lr {self.lr}")
        if self.onset_weight < 1 or self.onset_px_s <= 0:
            raise ConfigError(f"onset_weight must be >= 1 and onset_px_s > 0, got {self.onset_weight} "
                              f"and {self.onset_px_s}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError(f"weight_decay and grad_clip must be >= 0, got {self.weight_decay} and {self.grad_clip}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"dtype must be float32 or bfloat16, got {self.dtype!r}")

    def text_format(self) -> TextFormat:
        return TextFormat(**{k: getattr(self, k) for k in TEXT_KEYS})


def lora_config(cfg: TrainLoRAConfig):
    from peft import LoraConfig, TaskType

    return LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.target_modules), task_type=TaskType.CAUSAL_LM)


def apply_lora(model, cfg: TrainLoRAConfig):
    """Base model -> peft model with LoRA on cfg.target_modules; UserError unless every name matched.

    Seed torch before calling: the A matrices start random (B starts at zero).
    """
    from peft import get_peft_model

    from physics_llm.models.hf_predictor import check_lora_targets, lora_mismatch, missing_targets, quiet_peft

    names = [n for n, _ in model.named_modules()]
    missing = missing_targets(cfg.target_modules, names)
    if len(missing) == len(cfg.target_modules):  # peft itself refuses with a message that names no layers
        raise UserError(lora_mismatch(missing, model))
    with quiet_peft():
        peft_model = get_peft_model(model, lora_config(cfg))
    check_lora_targets(peft_model, cfg.target_modules)
    return peft_model
