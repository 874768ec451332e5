"""State <-> text (docs/DESIGN.md "Text"): views, encodings, the tolerant parser, the digit tokenizer."""

from physics_llm.text.format import ALPHABET, TextFormat
from physics_llm.text.parse import ParseResult, parse_outputs
from physics_llm.text.tokenizer import DigitTokenizer
from physics_llm.text.views import build_prompts, format_target, format_targets, make_examples, scene_examples_text

__all__ = ["ALPHABET", "TextFormat", "ParseResult", "parse_outputs", "DigitTokenizer", "build_prompts",
           "format_target", "format_targets", "make_examples", "scene_examples_text"]
