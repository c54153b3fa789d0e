"""What the explorer's circuits views compute: the neuron table and a neuron's page, the head classes, and a
patching grid for the current game with one move corrupted.

The profiles of a layer (every neuron's rule over ``games`` held-out games) take a while the first time, then
come from memory; the head classes likewise. Like the rest of the explorer, each call gets what it needs and
shares no state between pages beyond those caches.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field

from othello.circuits.directions import directions_from_probes, neuron_weights
from othello.circuits.heads import head_scores
from othello.circuits.neuron_cache import NeuronPages, cached_neuron_pages
from othello.circuits.patching import activation_patching, corrupted_games, corruptible_plies
from othello.data.seeds import CIRCUITS_SEED
from othello.engine.board import real_mover_board, square_colours
from othello.engine.games import random_games
from othello.engine.notation import parse_moves, parse_square, square_name
from othello.errors import OthelloError
from othello.model.pool import ModelPool
from othello.model.tokens import check_prefix, move_probabilities
from othello.probes.rules import RULE_DEPTH

__all__ = ["CircuitsBackend", "CircuitsError", "GameRequest", "PatchRequest"]


class CircuitsError(OthelloError):
    """A circuits request the explorer cannot answer (bad layer, neuron or move)."""


class PatchRequest(BaseModel):
    moves: str = Field(max_length=400, description="the clean game, e.g. 'f5 d6 c3 d3 c4'")
    corrupt: str = Field(max_length=4, description="the move of the game to replace, by its square, e.g. 'c3'")
    move: str | None = Field(default=None, max_length=4, description="target move (default: the model's top move)")


class GameRequest(BaseModel):
    moves: str = Field(max_length=400, description="a game prefix, e.g. 'f5 d6 c3 d3 c4'")


@dataclass
class CircuitsBackend:
    """Circuits for the model of ``pool`` over ``games`` games of the circuits stream (each computation on a copy
    leased from the pool). ``probes``: the explorer's linear relative probes ``{site: {layer: probe}}``
    (``resid_mid`` and ``resid_post``), which give each layer's neuron weights in the probe basis (none: no
    weights)."""

    pool: ModelPool
    games: int = 1000
    probes: dict[str, dict[int, Any]] | None = None
    progress: bool = False
    _pages: dict[int, NeuronPages] = field(default_factory=dict)
    _heads: list[dict[str, Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def model(self) -> torch.nn.Module:
        """The pool's template: for its config and weights only (runs go through ``pool.lease``)."""
        return self.pool.template

    def _layer(self, layer: int) -> NeuronPages:
        """Block ``layer``'s neuron pages: from the cache folder when computed before for these weights, games and
        depth (any process, any session), else computed once, whoever asks first (the others wait)."""
        n = self.model.cfg.n_layers
        if not 0 <= layer < n:
            raise CircuitsError(f"no layer {layer}: blocks 0..{n - 1} have MLP neurons")
        with self._lock, self.pool.lease() as model:
            if layer not in self._pages:
                weights = None
                if self.probes is not None:
                    weights = neuron_weights(
                        model,
                        layer,
                        directions_from_probes(self.probes["resid_mid"][layer + 1]),
                        directions_from_probes(self.probes["resid_post"][layer + 1]),
                    )
                games = random_games(self.games, CIRCUITS_SEED)
                self._pages[layer] = cached_neuron_pages(
                    model, layer, games, RULE_DEPTH, weights=weights, progress=self.progress
                )
            return self._pages[layer]

    def neurons(self, layer: int, sort: str = "r2", top: int = 50) -> dict[str, Any]:
        """The neuron table of ``layer``: the first ``top`` rows by ``sort`` ("r2" or "share")."""
        if sort not in ("r2", "share"):
            raise CircuitsError(f"sort by r2 or share, not {sort!r}")
        table = self._layer(layer).table()
        rows = table["rows"]
        key = "subspace_share" if sort == "share" and table["weights"] else "r2"
        rows.sort(key=lambda r: -r[key])
        return {
            **{k: table[k] for k in ("block", "layer", "hook", "games", "depth", "r2", "explained_share")},
            "sort": key,
            "rows": rows[: max(1, min(top, len(rows)))],
        }

    def neuron(self, layer: int, neuron: int) -> dict[str, Any]:
        """One neuron's page (``othello.circuits.neurons.neuron_page``), boards as square -> colour."""
        d_mlp = self.model.cfg.d_mlp
        if not 0 <= neuron < d_mlp:
            raise CircuitsError(f"no neuron {neuron}: block {layer} has neurons 0..{d_mlp - 1}")
        page = self._layer(layer).page(neuron)
        for ex in page["examples"]:
            ex["board"] = square_colours(ex["board"])
        page["conditional"] = {g: _by_square(v) for g, v in page["conditional"].items()}
        if page["weights"]:
            page["weights"] = {k: _by_square(v) for k, v in page["weights"].items()}
        return page

    def heads(self) -> list[dict[str, Any]]:
        """Every head's class and scores (``othello.circuits.heads.head_scores`` over 500 games)."""
        with self._lock, self.pool.lease() as model:
            if self._heads is None:
                self._heads = head_scores(model, random_games(min(self.games, 500), CIRCUITS_SEED))
            return self._heads

    def corruptible(self, request: GameRequest) -> dict[str, Any]:
        """The moves of the game that patching can corrupt (another legal move there keeps the rest legal): the
        only ones the Patch panel offers."""
        try:
            squares = check_prefix(parse_moves(request.moves))
            real_mover_board(squares)
        except OthelloError as error:
            raise CircuitsError(str(error)) from None
        return {"moves": [square_name(squares[ply]) for ply in corruptible_plies(squares)]}

    def patch(self, request: PatchRequest) -> dict[str, Any]:
        """Activation patching between the game and the game with move ``corrupt`` replaced by the first other move
        legal there that keeps the rest legal; the target is ``move`` or the model's top move on the clean game."""
        try:
            squares = check_prefix(parse_moves(request.moves))
            real_mover_board(squares)
            square = parse_square(request.corrupt)
        except OthelloError as error:
            raise CircuitsError(str(error)) from None
        if square not in squares:
            raise CircuitsError(f"{request.corrupt} is not a move of this game")
        ply = squares.index(square)
        games = corrupted_games(squares, ply)
        if not games:
            raise CircuitsError(
                f"no other move at ply {ply + 1} keeps the rest of the game legal; pick a later move to corrupt"
            )
        corrupt = games[0]
        with self.pool.lease() as model:
            if request.move is None:
                target = int(np.argmax(move_probabilities(model, squares)))
            else:
                try:
                    target = parse_square(request.move)
                except OthelloError as error:
                    raise CircuitsError(str(error)) from None
            result = activation_patching(model, squares, corrupt, target, ("resid_pre", "attn_out", "mlp_out"))
        summary = result.summary()
        n, T = self.model.cfg.n_layers, len(squares)
        summary["grids"] = {site: np.round(grid, 4).tolist() for site, grid in result.grids.items()}
        summary["replaced"] = {"ply": ply + 1, "played": square_name(square), "instead": square_name(corrupt[ply])}
        summary["shape"] = [n, T]
        del summary["rows"]
        return summary


def _by_square(values: list[float]) -> dict[str, float | None]:
    return {square_name(s): None if v != v else round(float(v), 4) for s, v in enumerate(values)}
