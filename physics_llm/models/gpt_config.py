"""GPTConfig: the GPT's shape, in a module without torch.

The checkpoint stores it as gpt_config.json (models/checkpoint.py); the trainer's model keys
are its fields but vocab_size, which the tokenizer sets (training/gpt_config.py inherits them),
so a config with a typo is refused before torch loads (seconds).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GPTConfig:
    vocab_size: int = 64  # >= the tokenizer's 49 symbols, rounded up
    block_size: int = 384  # max tokens of prompt + target; longer training examples are skipped
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
