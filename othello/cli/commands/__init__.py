"""The commands of ``othello-gpt``, one module per family, each command's arguments beside what it does: a
handler parses nothing itself, calls one library function and prints what a view renders.

- ``world``: generate, import, export, labels, info, show, perft, train, eval, predict, convert.
- ``probing``: probe, readout, intervene-eval, intervene.
- ``circuits``: neurons, neuron, heads, attribute, patch.
- ``sae``: sae train, sae eval, sae features.
- ``transcoders``: transcoders train, transcoders eval, graph.
- ``causal``: causal-bench.
- ``runs``: demo, explore, report.
"""

from othello.cli.commands import causal, circuits, probing, runs, sae, transcoders, world

__all__ = ["FAMILIES"]

FAMILIES = (world, probing, circuits, sae, transcoders, causal, runs)
