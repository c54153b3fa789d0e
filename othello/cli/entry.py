"""``othello-gpt``: the command line. Each command parses its arguments, calls one library function, and prints
what a view renders; the same names work from Python (README, "Python API")."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from othello.cli.args import check_game, inputs_of, outputs_of
from othello.cli.commands import FAMILIES
from othello.errors import OthelloError
from othello.files import protecting_inputs, refuse_overwriting_inputs

__all__ = ["build_parser", "main", "run"]


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


@contextlib.contextmanager
def stops_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into ``Terminated`` inside the block (main thread only; elsewhere nothing changes).

    Python runs a signal handler at whatever line comes next, and that line may be inside a callback whose
    exceptions are printed and dropped (a ctypes callback while numba compiles, a finaliser): the stop would be
    lost and the command run to the end. A dropped stop is raised again a moment later, from SIGALRM, once the
    callback has returned (where there is SIGALRM: not on Windows)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    alarm = hasattr(signal, "setitimer")
    previous_hook = sys.unraisablehook

    def raise_again(unraisable: sys.UnraisableHookArgs) -> None:
        if alarm and isinstance(unraisable.exc_value, (Terminated, KeyboardInterrupt)):
            signal.setitimer(signal.ITIMER_REAL, 0.05)
        else:
            previous_hook(unraisable)

    numbers = (signal.SIGTERM, signal.SIGALRM) if alarm else (signal.SIGTERM,)
    previous = {number: signal.signal(number, _terminate) for number in numbers}
    sys.unraisablehook = raise_again
    try:
        yield
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
        sys.unraisablehook = previous_hook
        for number, handler in previous.items():
            signal.signal(number, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_game(args)
        inputs = inputs_of(args)
        refuse_overwriting_inputs(outputs_of(args), inputs)  # before any work
        with stops_on_sigterm(), protecting_inputs(inputs):
            args.func(args)
    except (OthelloError, OSError) as error:  # bad input or a file problem: one line; anything else is a bug
        if sys.stderr.isatty():
            print(file=sys.stderr)  # below a progress bar that the error cut short, not glued to it
        print(f"othello-gpt {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated):
        print(f"othello-gpt {args.command}: stopped (no file was left half-written)", file=sys.stderr)
        return 130
    return 0


def run() -> None:
    """The ``othello-gpt`` program: ``main``, then exit with its status. After an error (status 2) the process ends
    at once, its line printed and its temporaries removed: the interpreter's teardown would free the handles of
    an HDF5 write that failed on a full disk, and HDF5 crashes on that (``othello.data.datasets.open_for_writing``),
    so nothing may run after the error line."""
    code = main()
    if code == 2:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


if __name__ == "__main__":
    run()
