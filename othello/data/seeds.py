"""The registry of seeded synthetic streams: which stream is for what, so held-out games stay held out.

A synthetic stream is all the random games of one seed (``othello.engine.games.random_games``); game ``i`` of a
stream depends only on ``(seed, i)``. Training reads the train split of its stream; everything that measures a
model reads other streams, which no model here was trained on.
"""

from __future__ import annotations

__all__ = [
    "TRAIN_SEED",
    "EVAL_SEED",
    "PROBE_SEED",
    "CIRCUITS_SEED",
    "SAE_SEED",
    "CAUSAL_SEED",
    "EDIT_CASES_BASE",
    "edit_cases_seed",
    "STREAMS",
]

TRAIN_SEED = 1  # the training stream of every shipped model (``TrainConfig.data_seed``)
EVAL_SEED = 5  # held-out games for the legal-move rates and the demo's example game
PROBE_SEED = 7  # the games probes are fitted (train split) and scored (the rest) on
CIRCUITS_SEED = 9  # neuron profiles and rules, head classes, ablations
SAE_SEED = 11  # sparse autoencoders: trained on its train split, scored on the rest
CAUSAL_SEED = 13  # the causal-variable benchmark's pairs: its first games score, games from 1,000,000 on fit DAS
EDIT_CASES_BASE = 1000  # intervention cases of case seed s come from stream 1000 + s

STREAMS: dict[str, str] = {
    "train": f"seed {TRAIN_SEED}: training (train split; its validation split scores checkpoints)",
    "eval": f"seed {EVAL_SEED}: held-out legal-move rates",
    "probe": f"seed {PROBE_SEED}: probe fitting and scoring",
    "circuits": f"seed {CIRCUITS_SEED}: neuron profiles and rules (first half fits, second scores), head classes",
    "sae": f"seed {SAE_SEED}: sparse autoencoders (train split trains, the rest evaluates)",
    "causal": f"seed {CAUSAL_SEED}: causal-variable benchmark pairs (first games score; from game 1,000,000 DAS fits)",
    "edit_cases": f"seeds {EDIT_CASES_BASE}+s: intervention benchmark cases of case seed s",
}


def edit_cases_seed(seed: int) -> int:
    """The stream that intervention cases of case seed ``seed`` are drawn from."""
    return EDIT_CASES_BASE + seed
