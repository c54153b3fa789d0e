"""othello-gpt: the Othello world, the model that learns it, and the tools that read how it computes.

Layers, lowest first (each imports only from those below it; ``tests/test_architecture.py`` checks it):

- the world: ``errors`` and ``files`` (the error family, atomic writes), ``engine`` (the game), ``data`` (game
  files, imports, streams, seeds);
- the model: ``model`` (the TransformerLens model, hooks, tokens, checkpoints), ``train`` (the loop, evaluation);
- reading the board: ``probes`` (activations, board labels, linear and MLP probes);
- the analyses, side by side: ``othello.probes.interventions`` (editing the board), ``circuits`` (neurons, heads,
  attribution, patching), ``sae`` (sparse autoencoders scored by the board);
- ``views``: pictures and tables of what the analyses computed;
- the applications: ``lab`` (the demo pipeline and the report), ``explorer`` (the live page and the notebook
  widget), ``cli`` (``othello-gpt``).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
