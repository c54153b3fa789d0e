"""``othello-gpt``: the command line. Each command parses its arguments, calls one library function, and prints
what a view renders; the same names work from Python (README, "Python API")."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from apps.commands import FAMILIES
from othello.errors import OthelloError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="othello-gpt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for family in FAMILIES:
        family.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (OthelloError, OSError) as error:  # bad input or a file problem: one line; anything else is a bug
        print(f"othello-gpt {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
