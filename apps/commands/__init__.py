"""The commands of ``othello-gpt``, one module per family, each command's arguments beside what it does: a
handler parses nothing itself, calls one library function and prints what a view renders.

- ``world``: generate, import, export, labels, info, show, perft, train, eval, predict, convert.
- ``probing``: probe, readout, intervene-eval, intervene.
- ``runs``: demo, explore, report.
"""

from apps.commands import probing, runs, world

__all__ = ["FAMILIES"]

FAMILIES = (world, probing, runs)
