"""othello-gpt: the Othello world (rules, notation, datasets, model, training)."""

__version__ = "0.1.0"
