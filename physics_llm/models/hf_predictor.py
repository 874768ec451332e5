"""`hf:PATH_OR_ID` and `hf:BASE@ADAPTER_DIR`: a Hugging Face causal LM, optionally with a LoRA adapter.

Nothing is downloaded: the base is a local directory or a model already in the Hugging
Face cache (resolved with local_files_only; transformers' own loader would still probe the
network for an adapter config and retry for ~20 s offline). The text format is the one
saved beside the adapter (or the model directory) as text_format.json, else TextFormat().

Windows -> the text layer's prompts -> tokens (HFTokens: prompt with bos, tokenised apart
from the target, exactly as the LoRA trainer does) -> greedy batched generation with left
padding, at most max_target_tokens new tokens, constrained by the target grammar
(hf_decoding.py) -> text -> the shared tolerant parser. The batching, prompt layout and
parsing are GPTPredictor's (a subclass: only loading and generation differ).
"""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from physics_llm.errors import UserError
from physics_llm.models.decoding import max_target_tokens
from physics_llm.models.gpt_predictor import GPTPredictor
from physics_llm.text import TextFormat

HF_HINT = ("the weights must be present locally, nothing is downloaded: give a directory with config.json and the "
           "weights, or fetch the model into the Hugging Face cache once where there is internet "
           "(e.g. `hf download LiquidAI/LFM2-350M`)")
ADAPTER_HINT = "train one with `physics-llm train lora ...`; its adapter is RUN/adapter"
SPEC_EXAMPLE = "hf:PATH_OR_ID or hf:BASE@ADAPTER_DIR (e.g. hf:LiquidAI/LFM2-350M@runs/lora1/adapter)"
DEFAULT_BATCH = 64  # prompts per generate call: ~300-token prompts of a 350M model stay near 1 GB of activations


def parse_spec(arg: str) -> tuple[str, str | None]:
    """'BASE@ADAPTER' -> (BASE, ADAPTER); 'BASE' -> (BASE, None)."""
    base, sep, adapter = arg.partition("@")
    if not base or (sep and not adapter):
        raise UserError(f"'hf' needs a model: {SPEC_EXAMPLE}, got 'hf:{arg}'")
    return base, adapter or None


def resolve_local(base: str) -> Path:
    """A model directory, or an id's snapshot in the local HF cache. UserError naming `base` otherwise."""
    from huggingface_hub import constants, snapshot_download

    p = Path(base)
    if p.exists():
        if not (p / "config.json").is_file():
            raise UserError(f"base model {base}: not a model directory (no config.json); {HF_HINT}")
        return p
    try:
        return Path(snapshot_download(base, local_files_only=True))
    except (OSError, ValueError):
        raise UserError(f"base model {base!r}: no such directory, and not in the Hugging Face cache "
                        f"{constants.HF_HUB_CACHE}; {HF_HINT}") from None


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


class HFPredictor(GPTPredictor):
    name = "hf"

    def __init__(self, model, tokenizer, fmt: TextFormat, batch_size: int = DEFAULT_BATCH, constrained: bool = True):
        from transformers import GenerationConfig

        from physics_llm.models.hf_decoding import hf_grammar

        super().__init__(model, fmt, tokenizer, batch_size)
        self.tokens = HFTokens(tokenizer)
        # Greedy plus the grammar, nothing else: a base's shipped generation settings would fill
        # every option generate() is not given, and some act in greedy decoding too (LFM2's card
        # recommends repetition_penalty 1.05, which would penalise repeated digits).
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # under a peft wrapper
        inner.generation_config = GenerationConfig(bos_token_id=self.tokens.bos_id, eos_token_id=self.tokens.eos_id,
                                                   pad_token_id=self.tokens.pad_id)
        self.grammar = hf_grammar(tokenizer) if constrained else None

    @classmethod
    def load(cls, arg: str, batch_size: int = DEFAULT_BATCH) -> "HFPredictor":
        import torch

        base, adapter = parse_spec(arg)
        model, tok = load_base(base)
        if adapter:
            model = load_adapter(model, adapter, base).merge_and_unload()  # plain weights: no LoRA matmuls per step
        if torch.cuda.is_available():
            model = model.to("cuda", dtype=torch.bfloat16)
        p = cls(model, tok, load_format(adapter or base), batch_size)
        p.name = f"hf:{arg}"
        return p

    def generate_texts(self, prompts: list[str], lines: list[list[int]]) -> list[str]:
        """Prompts and the object ids of each one's target lines -> the model's target texts."""
        import torch
        from transformers import LogitsProcessorList

        from physics_llm.models.hf_decoding import grammar_processor

        enc = [self.tokens.encode(p, bos=True) for p in prompts]
        order = sorted(range(len(enc)), key=lambda k: len(enc[k]))  # similar lengths share a chunk: little padding
        out = [""] * len(prompts)
        device = self.model.device
        for s in range(0, len(order), self.batch_size):
            chunk = order[s:s + self.batch_size]
            L = max(len(enc[k]) for k in chunk)
            ids = np.full((len(chunk), L), self.tokens.pad_id, dtype=np.int64)  # (B, L) left-padded
            mask = np.zeros((len(chunk), L), dtype=np.int64)
            for r, k in enumerate(chunk):
                ids[r, L - len(enc[k]):] = enc[k]
                mask[r, L - len(enc[k]):] = 1
            procs = None
            if self.grammar is not None:
                procs = LogitsProcessorList([grammar_processor(self.grammar, [lines[k] for k in chunk], L)])
            with torch.no_grad():
                gen = self.model.generate(input_ids=torch.from_numpy(ids).to(device),
                                          attention_mask=torch.from_numpy(mask).to(device),
                                          max_new_tokens=max(max_target_tokens(lines[k]) for k in chunk),
                                          do_sample=False, num_beams=1, logits_processor=procs,
                                          pad_token_id=self.tokens.pad_id, eos_token_id=self.tokens.eos_id)
            texts = self.tok.batch_decode(gen[:, L:].tolist(), skip_special_tokens=True)
            for k, text in zip(chunk, texts):
                out[k] = text
        return out


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__
