"""`hf:PATH_OR_ID` and `hf:BASE@ADAPTER_DIR`: a Hugging Face causal LM, optionally with a LoRA adapter.

The HF backend of models/text_predictor.py. Loading is models/hf_loading.py's (nothing is
downloaded); the text format is the one saved beside the adapter (or the model directory) as
text_format.json, else TextFormat(). Prompt tokens (HFTokens: prompt with bos, tokenised apart
from the target, exactly as the LoRA trainer does) -> greedy batched generation with left
padding, at most max_target_tokens new tokens, constrained by the target grammar over the
tokenizer's tokens (hf_decoding.py) -> text.
"""

from __future__ import annotations

import numpy as np

from physics_llm.errors import UserError
from physics_llm.models.hf_loading import HFTokens, load_adapter, load_base, load_format
from physics_llm.models.text_predictor import TextPredictor
from physics_llm.text import TextFormat

SPEC_EXAMPLE = "hf:PATH_OR_ID or hf:BASE@ADAPTER_DIR (e.g. hf:LiquidAI/LFM2-350M@runs/lora1/adapter)"
DEFAULT_BATCH = 64  # prompts per generate call: ~300-token prompts of a 350M model stay near 1 GB of activations


def parse_spec(arg: str) -> tuple[str, str | None]:
    """'BASE@ADAPTER' -> (BASE, ADAPTER); 'BASE' -> (BASE, None)."""
    base, sep, adapter = arg.partition("@")
    if not base or (sep and not adapter):
        raise UserError(f"'hf' needs a model: {SPEC_EXAMPLE}, got 'hf:{arg}'")
    return base, adapter or None


class HFPredictor(TextPredictor):
    name = "hf"

    def __init__(self, model, tokenizer, fmt: TextFormat, batch_size: int = DEFAULT_BATCH, constrained: bool = True):
        from transformers import GenerationConfig

        from physics_llm.models.hf_decoding import hf_grammar

        super().__init__(fmt, batch_size)
        self.model = model.eval()
        self.tok = tokenizer
        self.tokens = HFTokens(tokenizer)
        # Greedy plus the grammar, nothing else: a base's shipped generation settings would fill
        # every option generate() is not given, and some act in greedy decoding too (LFM2's card
        # recommends repetition_penalty 1.05, which would penalise repeated digits).
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # under a peft wrapper
        inner.generation_config = GenerationConfig(bos_token_id=self.tokens.bos_id, eos_token_id=self.tokens.eos_id,
                                                   pad_token_id=self.tokens.pad_id)
        # MAX_NUMBER_DIGITS for every field, whatever the encoding: unlike the GPT, the hf: grammar
        # has never bounded a residual's digits (field_digits), and decoding stays as it was.
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

    def encode(self, prompt: str, need: int) -> list[int]:
        return self.tokens.encode(prompt, bos=True)

    def decoder(self):
        """Greedy generation of a left-padded chunk under the grammar (none when not constrained)."""
        import torch
        from transformers import LogitsProcessorList

        from physics_llm.models.hf_decoding import grammar_processor

        def decode(enc: list[list[int]], lines: list[list[int]], need: list[int]) -> list[str]:
            device = self.model.device
            L = max(len(e) for e in enc)
            ids = np.full((len(enc), L), self.tokens.pad_id, dtype=np.int64)  # (B, L) left-padded
            mask = np.zeros((len(enc), L), dtype=np.int64)
            for r, e in enumerate(enc):
                ids[r, L - len(e):] = e
                mask[r, L - len(e):] = 1
            procs = None
            if self.grammar is not None:
                procs = LogitsProcessorList([grammar_processor(self.grammar, lines, L)])
            with torch.no_grad():
                gen = self.model.generate(input_ids=torch.from_numpy(ids).to(device),
                                          attention_mask=torch.from_numpy(mask).to(device),
                                          max_new_tokens=max(need), do_sample=False, num_beams=1,
                                          logits_processor=procs, pad_token_id=self.tokens.pad_id,
                                          eos_token_id=self.tokens.eos_id)
            return self.tok.batch_decode(gen[:, L:].tolist(), skip_special_tokens=True)

        return decode
