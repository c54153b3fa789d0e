"""``othello-gpt``: the command line. Each command parses its arguments, calls one library function, and prints
what a view renders; the same names work from Python (README, "Python API")."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
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


class Terminated(BaseException):
    """SIGTERM, raised where the command is, so that ``finally`` blocks remove temporary files on the way out; a
    ``BaseException`` like ``KeyboardInterrupt``, so that no ``except Exception`` on the way (a library compiling,
    a reader wrapping errors) takes it for an error of its own."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = (
        signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() else None
    )
    try:
        args.func(args)
    except (OthelloError, OSError) as error:  # bad input or a file problem: one line; anything else is a bug
        if sys.stderr.isatty():
            print(file=sys.stderr)  # below a progress bar that the error cut short, not glued to it
        print(f"othello-gpt {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated):
        print(f"othello-gpt {args.command}: stopped (no file was left half-written)", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


if __name__ == "__main__":
    sys.exit(main())
