"""``python -m othello.cli``: the same program as ``othello-gpt``."""

from othello.cli.entry import run

run()
