"""The error family: every error a user's input can cause is an ``OthelloError`` (a ``ValueError``).

The command line catches ``OthelloError`` (and ``OSError``: a missing file, a full disk) and prints one line;
anything else is a bug and keeps its traceback. Each package defines its own subclasses beside the code that
raises them (``IllegalMoveError`` in the engine, ``DatasetError`` in data, ``CheckpointError`` in model, ...).
"""

from __future__ import annotations

__all__ = ["OthelloError", "ConfigError"]


class OthelloError(ValueError):
    """Bad input: the message names the file, game and ply, or the field and the value."""


class ConfigError(OthelloError):
    """A configuration field or option with a value it cannot take."""
