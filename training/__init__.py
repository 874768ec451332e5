"""Training entry points and loops (docs/DESIGN.md "Layout"): `physics-llm train gpt` (cli.py -> train_gpt.py) and `train lora` (cli_lora.py -> train_lora.py), both run by loop.py."""
