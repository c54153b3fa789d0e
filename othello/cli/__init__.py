"""``othello-gpt``, the command line: a thin shell that parses arguments and calls one library function per command.

- ``entry``: ``main`` and ``build_parser`` (the program itself; ``python -m othello.cli`` runs it too).
- ``args``: the argument types and flag groups every command shares.
- ``commands``: one module per command family (world, probing, circuits, sae, runs).
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {"othello.cli.entry": ["main", "build_parser"]})

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.cli.entry import build_parser, main
