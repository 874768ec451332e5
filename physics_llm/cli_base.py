"""What every `physics-llm` command shares: the parser class, the top-level parser, and running a
command with its errors turned into one line (physics_llm/cli.py; `python -m app` through app/cli.py).

It knows no command group, so a group's module may import it without importing physics_llm/cli.py
back. Bad input (UserError) ends with a one-line message on stderr and exit code 2, never a
traceback; Ctrl-C prints `interrupted` (exit 130).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable

from physics_llm.errors import UserError

DESCRIPTION = "The `physics-llm` command. Each command group registers itself from its own module."


class Parser(argparse.ArgumentParser):
    """argparse with its errors as the one line `error: ...` (no usage block); exit code 2 as before.
    Subcommand parsers are made of the same class, so every command gets it."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {one_line(message)} (see `{self.prog} --help`)\n")


def one_line(text: str) -> str:
    """A message on one line: its lines joined, surrounding whitespace dropped."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip()) or "unknown error"


def make_parser(registers: Iterable[Callable]) -> argparse.ArgumentParser:
    """The `physics-llm` parser with the commands that each `register(subparsers)` adds, in order."""
    parser = Parser(prog="physics-llm", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in registers:
        register(sub)
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse argv (None: sys.argv[1:]) and run the command's `func`; returns the exit code."""
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
