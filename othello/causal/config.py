"""What the causal-variable benchmark runs: ``BenchConfig`` and the names it checks against (no torch here: the
command line builds its parser from these)."""

from __future__ import annotations

from dataclasses import dataclass

from othello.engine.notation import parse_square
from othello.errors import ConfigError

__all__ = ["BenchConfig", "METHODS", "DAS_SQUARES", "FIT_OFFSET"]

METHODS = ("full", "random", "probe", "gradient", "das", "neurons", "sae", "transcoders")
# spread over the board: centre (d3, e6), inner (c4, f5), edge (a4, h5), corner (a1, h8), X (b2, g7), C (b1, g8)
DAS_SQUARES = ("d3", "e6", "c4", "f5", "a4", "h5", "a1", "h8", "b2", "g7", "b1", "g8")
FIT_OFFSET = 1_000_000  # DAS's fitting games start this far into the causal stream


@dataclass
class BenchConfig:
    """What ``causal_bench`` runs (see the module)."""

    layers: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
    methods: tuple[str, ...] = ("full", "random", "probe", "gradient", "das", "neurons")
    pairs: int = 2000
    games: int = 1000  # games the scoring pairs are drawn from
    positions: str = "last"
    das_dims: tuple[int, ...] = (1, 2, 4, 8)
    das_squares: tuple[str, ...] = DAS_SQUARES
    das_pairs: int = 64  # fitting pairs per DAS square
    # Adam steps per (layer, k), each minibatch holding every DAS square's pairs: at layer 6, 100 / 200 / 400
    # steps scored 0.50 / 0.71 / 0.79 on its decisive pairs (k 2; docs/causal.md)
    das_steps: int = 400
    das_batch: int = 128
    random_dim: int = 2  # the random subspace's dimension: the probe's
    neuron_games: int = 1000
    sae: str | None = None  # an evaluated SAE run folder (for "sae")
    transcoders: str | None = None  # an evaluated transcoder set's folder (for "transcoders")
    seed: int = 0

    def check(self, n_layers: int) -> BenchConfig:
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ConfigError(f"unknown method {', '.join(unknown)}; choose from {', '.join(METHODS)}")
        bad = [L for L in self.layers if not 1 <= L <= n_layers]
        if bad:
            raise ConfigError(f"layers {bad}: the residual stream's layers 1..{n_layers} (L = after block L-1)")
        if "sae" in self.methods and not self.sae:
            raise ConfigError("the sae method needs --sae RUN (an evaluated SAE run folder)")
        if "transcoders" in self.methods and not self.transcoders:
            raise ConfigError("the transcoders method needs --transcoders DIR (an evaluated transcoder set)")
        for name in self.das_squares:
            parse_square(name)
        return self
