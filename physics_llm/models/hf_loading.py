"""Hugging Face models, tokenizers and LoRA adapters from local files, for the `hf:` predictor and the LoRA trainer.

Nothing is downloaded: the base is a local directory or a model already in the Hugging
Face cache (resolved with local_files_only; transformers' own loader would still probe the
network for an adapter config and retry for ~20 s offline). The LoRA checks make sure every
target name adapts a layer (peft silently skips names that match nothing).
"""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from pathlib import Path

from physics_llm.errors import UserError
from physics_llm.text import TextFormat

HF_HINT = ("the weights must be present locally, nothing is downloaded: give a directory with config.json and the "
           "weights, or fetch the model into the Hugging Face cache once where there is internet "
           "(e.g. `hf download LiquidAI/LFM2-350M`)")
ADAPTER_HINT = "train one with `physics-llm train lora ...`; its adapter is RUN/adapter"


def resolve_local(base: str) -> Path:
    """A model directory, or an id's snapshot in the local HF cache. UserError naming `base` otherwise
    (registry.check_hf_base: the same check the spec and the LoRA config get before anything loads)."""
    from physics_llm.models.registry import check_hf_base

    return check_hf_base(base)


def load_base(base: str, dtype=None):
    """-> (model in eval mode on the CPU, tokenizer padding on the left). dtype default float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()  # "Loading weights" bars on every load
    path = resolve_local(base)
    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype or torch.float32)
    except (OSError, ValueError) as e:
        raise UserError(f"base model {base}: cannot load it ({_first_line(e)}); {HF_HINT}") from None
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token  # generation pads finished rows; a target never contains eos mid-way
    if tok.eos_token_id is None:
        raise UserError(f"base model {base}: its tokenizer has no eos token, so a target cannot end")
    return model.eval(), tok


def load_format(directory) -> TextFormat:
    """text_format.json in `directory` (beside an adapter or a model), else the default format."""
    p = Path(directory) / "text_format.json"
    if not p.is_file():
        return TextFormat()
    try:
        return TextFormat.from_dict(json.loads(p.read_text()))
    except (json.JSONDecodeError, TypeError, AttributeError) as e:
        raise UserError(f"{p}: not a text format file ({_first_line(e)}); delete it or save it again") from None
    except UserError as e:  # an unknown version or field
        raise UserError(f"{p}: {e}") from None


def linear_names(model) -> list[str]:
    """Sorted distinct names of the model's linear layers (the last part of each module path)."""
    import torch

    names = set()
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear) and ".lora_" not in name:
            parts = name.split(".")
            names.add(parts[-2] if parts[-1] == "base_layer" and len(parts) > 1 else parts[-1])
    return sorted(names)


def missing_targets(targets, module_names) -> list[str]:
    """Target names (peft's rule: a module whose path is the name or ends with '.name') that match none."""
    return [t for t in targets if not any(n == t or n.endswith("." + t) for n in module_names)]


def check_lora_targets(peft_model, targets) -> None:
    """Every LoRA target name must have been wrapped somewhere, else UserError.

    peft adapts whatever matches and ignores the rest: a Llama-style list on LFM2 (o_proj,
    gate_proj, ...) silently adapts only q/k/v, the original system's defect.
    """
    from peft.tuners.lora import LoraLayer

    wrapped = [name for name, m in peft_model.named_modules() if isinstance(m, LoraLayer)]
    missing = missing_targets(targets, wrapped)
    if missing:
        raise UserError(lora_mismatch(missing, peft_model))


def lora_mismatch(missing, model) -> str:
    return (f"LoRA target_modules {', '.join(sorted(missing))} match no layer of the model; its linear layers are "
            f"{', '.join(linear_names(model))} (LFM2: q_proj, k_proj, v_proj, out_proj, in_proj, w1, w2, w3)")


@contextmanager
def quiet_peft():
    """peft 0.21 reads transformers 5's deprecated `is_gradient_checkpointing` on every wrap: a warning per load."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        yield


def load_adapter(model, adapter: str, base: str):
    """A LoRA adapter directory (peft save_pretrained) on the base model -> PeftModel."""
    from peft import PeftModel

    d = Path(adapter)
    if not d.is_dir():
        raise UserError(f"no LoRA adapter at {d} ({ADAPTER_HINT})")
    if not (d / "adapter_config.json").is_file():
        raise UserError(f"{d} is not a LoRA adapter directory: no adapter_config.json ({ADAPTER_HINT})")
    try:
        with quiet_peft():
            peft_model = PeftModel.from_pretrained(model, str(d))
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise UserError(f"adapter {d} does not fit base model {base} ({_first_line(e)}); use the base it was "
                        f"trained on (RUN/config.yaml: base)") from None
    check_lora_targets(peft_model, peft_model.peft_config["default"].target_modules)
    return peft_model


class HFTokens:
    """The tokenizer interface of training/examples.py (encode(text, bos, eos), pad_id) over an HF tokenizer.

    Prompt and target are tokenised separately, the prompt with bos, the target with eos, so
    the trainer's tokens and the predictor's prompt tokens are the same.
    """

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.pad_id, self.bos_id, self.eos_id = tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = self.tok.encode(text, add_special_tokens=False)
        return ([self.bos_id] if bos and self.bos_id is not None else []) + ids + ([self.eos_id] if eos else [])


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__
