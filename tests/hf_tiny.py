"""A tiny LFM2 causal LM and a character tokenizer, built in-process (nothing is downloaded).

Tests and smoke runs use it where the real LiquidAI/LFM2-350M cannot be: same architecture
(short-conv and attention layers, the same linear-layer names), ~25K parameters. The tokenizer
has one token per character of physics_llm.text.ALPHABET plus four specials, wrapped as a
transformers PreTrainedTokenizerFast so the code under test sees a real HF tokenizer.

    python tests/hf_tiny.py runs/hf-tiny      # the base that configs/train/lora_tiny.yaml names
"""

from __future__ import annotations

import sys
from pathlib import Path

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]


def tiny_tokenizer():
    """Character-level PreTrainedTokenizerFast: ids 0-3 the specials, then the alphabet."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from physics_llm.text import ALPHABET

    vocab = {tok: i for i, tok in enumerate(SPECIALS + list(ALPHABET))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # every char, "\n" too
    core.decoder = decoders.Fuse()  # join the characters back without spaces
    core.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<bos>",
                                   eos_token="<eos>", unk_token="<unk>")


def tiny_config(vocab_size: int):
    """One short-conv layer and one attention layer, 32 wide: both kinds of LFM2 block.

    initializer_range 0.2, not 0.02: the (tied, frozen) embeddings then give logits wide enough
    for a LoRA update to move them (with 0.02 a LoRA run stalls near the uniform loss).
    """
    from transformers import Lfm2Config

    return Lfm2Config(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, layer_types=["conv", "full_attention"],
                      max_position_embeddings=1024, block_auto_adjust_ff_dim=False, initializer_range=0.2,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2)


def build_tiny_lfm2(path, seed: int = 0) -> Path:
    """Save a randomly initialised tiny Lfm2ForCausalLM and its tokenizer into `path`; returns it."""
    import torch
    from transformers import Lfm2ForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    path = Path(path)
    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    model = Lfm2ForCausalLM(tiny_config(len(tok)))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/hf_tiny.py OUT_DIR")
    print(build_tiny_lfm2(sys.argv[1]))
