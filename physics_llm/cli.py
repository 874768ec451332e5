"""The `physics-llm` command: COMMAND_GROUPS lists every command and the module that registers it.

A module is imported only when its command runs (`physics-llm scene ...` imports neither training/
nor app/); `--help`, no command or an unknown one import them all, since those messages list every
command. physics_llm/ names training/ and app/ only here, as strings, and they import only
physics_llm/cli_base.py back (the parser and the one-line errors), so there is no import cycle.
Heavy modules are imported inside the command that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from physics_llm.cli_base import make_parser, run

# command -> the module whose `register(subparsers)` adds it (and sets `func`); --help lists them in this order.
COMMAND_GROUPS: dict[str, str] = {
    "scene": "physics_llm.cli_scene",
    "data": "physics_llm.data.cli",
    "eval": "physics_llm.eval.cli",
    "gif": "physics_llm.eval.cli",  # registered with eval
    "train": "training.cli",
    "app": "app.cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with only `command`'s module registered, or with every module (command None or unknown)."""
    if command in COMMAND_GROUPS:
        modules = [COMMAND_GROUPS[command]]
    else:
        modules = list(dict.fromkeys(COMMAND_GROUPS.values()))
    return make_parser(importlib.import_module(name).register for name in modules)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    return run(build_parser(argv[0] if argv else None), argv)


if __name__ == "__main__":
    sys.exit(main())
