"""What the explorer's Graph panel computes (``othello-gpt explore --transcoders DIR``): the attribution graph of the
current position and a chosen move, pruned and laid out as nodes, edges and board-labelled supernodes; the
position re-run with a supernode ablated; a transcoder latent's page.

Each computation runs on a copy of the model leased from the pool, so a graph never sees another request's hooks.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from othello.engine.board import Board, square_colours
from othello.engine.notation import parse_moves, parse_square, square_name
from othello.errors import OthelloError
from othello.model.pool import ModelPool
from othello.model.tokens import check_prefix, square_probabilities
from othello.sae.graph import build_graph, graph_scores, node_influence, node_label, prune_graph, supernodes
from othello.sae.graph_checks import edited_logits, top_move
from othello.sae.runs import feature_page
from othello.sae.transcoders import input_hook, latent_labels, load_transcoders

__all__ = ["GraphBackend", "GraphRequest", "AblateRequest", "MAX_EDGES"]

MAX_EDGES = 400  # the strongest kept edges drawn; the answer says how many were kept in all


class GraphRequest(BaseModel):
    moves: str = Field(max_length=400, description="the game so far, like 'f5 d6 c3 d3 c4'")
    move: str | None = Field(None, max_length=2, description="the move whose logit is explained (default: the top one)")
    node_threshold: float = Field(0.8, ge=0, le=1, allow_inf_nan=False, description="share of influence kept in nodes")
    edge_threshold: float = Field(0.98, ge=0, le=1, allow_inf_nan=False, description="share kept in edges")


class AblateRequest(BaseModel):
    moves: str = Field(max_length=400, description="the game so far")
    latents: list[tuple[int, int, int]] = Field(
        max_length=512, description="the latents to ablate, each [block, position, latent]"
    )


def _squares(moves: str) -> list[int]:
    try:
        squares = check_prefix(parse_moves(moves))
        Board(squares)  # a game the rules allow, as every other view asks
    except OthelloError as error:
        raise OthelloError(f"moves: {error}") from None
    return squares


@dataclass
class GraphBackend:
    """The transcoder set in ``folder`` (one per block, evaluated for board labels or not) over the model of
    ``pool``."""

    pool: ModelPool
    folder: str | os.PathLike
    games: int = 300  # held-out games a latent's top positions are drawn from
    _pages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.transcoders = load_transcoders(self.folder)
        blocks = self.pool.template.cfg.n_layers
        missing = sorted(set(range(blocks)) - set(self.transcoders))
        if missing:
            raise OthelloError(f"{self.folder}: no transcoder for blocks {missing} (a graph replaces every MLP)")
        self.labels = latent_labels(self.folder, self.transcoders)

    def info(self) -> dict[str, Any]:
        first = self.transcoders[0].cfg
        return {"folder": str(self.folder), "latents": first.d_sae, "k": first.k, "labelled": sorted(self.labels)}

    def graph(self, request: GraphRequest) -> dict[str, Any]:
        """The pruned graph of ``request.move`` (default: the model's top move) after ``request.moves``, laid out
        for drawing: ``nodes`` (kept ones), ``edges`` (the ``MAX_EDGES`` strongest kept ones), ``supernodes``,
        both scores, the logit and probability and the seconds it took."""
        squares = _squares(request.moves)
        start = time.perf_counter()
        with self.pool.lease() as model:
            move = top_move(model, squares) if request.move is None else _move(request.move)
            graph = build_graph(model, self.transcoders, squares, move)
        keep, edges = prune_graph(graph, request.node_threshold, request.edge_threshold)
        influence = node_influence(graph)
        out = _layout(graph, keep, edges, influence, self.labels)
        out |= {
            "moves": " ".join(square_name(s) for s in squares),
            "board": square_colours(Board(squares).to_array()),
            "move": square_name(move),
            "logit": graph.logit,
            "probability": graph.probability,
            "blocks": len(self.transcoders),
            **graph_scores(graph),
            "all_nodes": len(graph.nodes),
            "labelled": bool(self.labels),
            "seconds": round(time.perf_counter() - start, 2),
        }
        return out

    def ablate(self, request: AblateRequest) -> dict[str, Any]:
        """The next-move probabilities before and after the latents are set to 0 (every MLP replaced by its
        transcoder, error nodes held: exact before the edit)."""
        squares = _squares(request.moves)
        for block, position, latent in request.latents:
            if block not in self.transcoders or not 0 <= position < len(squares):
                raise OthelloError(f"latents: no block {block} at position {position} in a {len(squares)}-move game")
            if not 0 <= latent < self.transcoders[block].cfg.d_sae:
                raise OthelloError(f"latents: block {block} has no latent {latent}")
        with self.pool.lease() as model:
            logits = edited_logits(model, self.transcoders, squares, [((), 1.0), (request.latents, 0.0)])
        before, after = square_probabilities(logits)
        named = lambda p: {square_name(s): round(float(v), 5) for s, v in enumerate(p) if v > 0}  # noqa: E731
        return {"before": named(before), "after": named(after), "ablated": len(request.latents)}

    def latent(self, block: int, latent: int) -> dict[str, Any]:
        """A transcoder latent's page (``othello.sae.runs.feature_page`` at its input hook); cached."""
        if block not in self.transcoders:
            raise OthelloError(f"no block {block}: the transcoders cover blocks 0..{len(self.transcoders) - 1}")
        if (block, latent) not in self._pages:
            with self.pool.lease() as model:
                page = feature_page(
                    model, self.transcoders[block], input_hook(block), latent, Path(self.folder) / f"block_{block}",
                    games=self.games,
                )  # fmt: skip
            for ex in page["examples"]:
                ex["board"] = square_colours(ex["board"])
            if block in self.labels:
                page["label"] = {
                    "property": self.labels[block][0][latent],
                    "f1": float(self.labels[block][1][latent]),
                }
            page["block"] = block
            self._pages[(block, latent)] = page
        return self._pages[(block, latent)]


def _move(text: str) -> int:
    try:
        return parse_square(text)
    except OthelloError as error:
        raise OthelloError(f"move: {error}") from None


def _node_row(graph: Any, i: int, influence: np.ndarray, labels: Any) -> dict[str, Any]:
    n = graph.nodes[i]
    row = {
        "id": int(i),
        "kind": n.kind,
        "block": n.block,
        "position": n.position,
        "move": square_name(graph.moves[n.position]),
        "latent": n.latent,
        "activation": n.activation,
        "influence": float(influence[i]),
        "label": node_label(graph, i, labels),
    }
    if n.kind == "latent" and n.block in labels:
        row["property"], row["f1"] = labels[n.block][0][n.latent], float(labels[n.block][1][n.latent])
    return row


def _layout(graph: Any, keep: np.ndarray, edges: np.ndarray, influence: np.ndarray, labels: Any) -> dict[str, Any]:
    """The kept nodes, the strongest kept edges, the supernodes (with the square their property names)."""
    nodes = [_node_row(graph, int(i), influence, labels) for i in np.flatnonzero(keep)]
    targets, sources = np.nonzero(edges)
    weights = graph.adjacency[targets, sources]
    order = np.argsort(-np.abs(weights))[:MAX_EDGES]
    drawn = [{"source": int(sources[k]), "target": int(targets[k]), "weight": float(weights[k])} for k in order]
    groups = []
    for g in supernodes(graph, keep, labels):
        square, state = g["property"].split()
        groups.append({**g, "square": square, "state": state, "move": square_name(graph.moves[g["position"]])})
    return {"nodes": nodes, "edges": drawn, "kept_edges": int(edges.sum()), "supernodes": groups}
