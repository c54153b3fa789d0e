"""othello-gpt: the Othello world and the model that learns it.

Layers, lowest first (each imports only from those below it): ``errors`` and ``files`` (the error family,
atomic writes), ``engine`` (the game), ``data`` (game files, imports, streams, seeds), ``model`` (the
TransformerLens model, hooks, tokens, checkpoints), ``train`` (the loop, evaluation, schedule). Reading and
editing the board inside the model is the ``probes`` package; pictures and tables are ``views``; the command
line, demo and report are ``apps``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
