"""Training entry points and loops (DESIGN.md layout): `physics-llm train gpt` (cli.py -> train_gpt.py)."""
