"""physics-llm: teach language models 2D rigid-body physics and judge them honestly."""

__version__ = "0.1.0"
