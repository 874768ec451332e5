"""The `physics-llm` command. Each command group registers itself from its own module.

Bad input (UserError) ends with a one-line message on stderr and exit code 2,
never a traceback. Heavy modules are imported inside the command that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from physics_llm.errors import UserError

# Modules with `register(subparsers)`; each adds its commands and sets `func` on them.
COMMAND_MODULES = [
    "physics_llm.cli_scene",
    "physics_llm.data.cli",
    "physics_llm.eval.cli",
    "training.cli",
    "app.cli",
]


class Parser(argparse.ArgumentParser):
    """argparse with its errors as the one line `error: ...` (no usage block); exit code 2 as before.
    Subcommand parsers are made of the same class, so every command gets it."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {one_line(message)} (see `{self.prog} --help`)\n")


def one_line(text: str) -> str:
    """A message on one line: its lines joined, surrounding whitespace dropped."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip()) or "unknown error"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="physics-llm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except UserError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a full disk, a file that vanished or cannot be written: the OS's reason, one line
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{one_line(e.strerror or e)} (check the path, its permissions and the free disk "
              "space, then rerun)", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
