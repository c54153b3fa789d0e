"""What the explorer computes for one position: the board, the model's next moves, every layer's read-out, edits.

    ```python
    backend = ExplorerBackend(load_model())
    backend.analyze(AnalyzeRequest(moves="f5 d6 c3"))["probes"][0]["read"]["e4"]
    ```

Stateless: each call gets the whole position (the moves and the edits), so several pages never share state. The
model and its probes load once (the probes stored beside the shipped model; for another model they are fitted
once and cached, with a progress bar).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, Field

from othello.circuits.heads import head_pattern
from othello.engine.board import COLOUR_NAMES, Board, real_mover_board, square_colours
from othello.engine.games import pad_games
from othello.engine.notation import parse_moves, parse_square, square_name
from othello.errors import ConfigError, OthelloError
from othello.model.hooks import layer_hook
from othello.model.pool import ModelPool
from othello.model.tokens import check_prefix, square_probabilities, to_tokens
from othello.probes.fit import ProbeConfig
from othello.probes.interventions.apply import intervene
from othello.probes.interventions.edits import DEFAULT_PROBES, EditSetting
from othello.probes.interventions.evaluation import recommended_setting
from othello.probes.store import PROBE_GAMES, layer_probes
from othello.probes.targets import CLASSES, board_labels

__all__ = ["ExplorerBackend", "AnalyzeRequest", "Edit", "AttentionRequest", "ExplorerError", "SITES", "LABELLINGS"]

SITES = ("resid_post", "resid_mid")
LABELLINGS = ("relative", "colour")
WRITES = ("square", "board", "board as read")


class ExplorerError(OthelloError):
    """A request the explorer cannot answer (the message says why; the server answers 400)."""


class Edit(BaseModel):
    square: str = Field(description="the square whose disc the edit changes, like 'e4'")
    op: Literal["flip", "erase"] = "flip"


class AnalyzeRequest(BaseModel):
    moves: str = Field("", max_length=400, description="the game so far, like 'f5 d6 c3' (passes are implied)")
    labelling: Literal["relative", "colour"] = "relative"
    edits: list[Edit] = Field(default_factory=list, max_length=64, description="edits of the model's internal board")
    method: Literal["linear", "gradient"] = "linear"
    layers: str | None = Field(
        None, max_length=200, description="layers to edit, like '4-8' or '3,5' (default: the tested ones)"
    )
    scale: float = Field(
        2.0, gt=0, le=100, allow_inf_nan=False, description="linear, one square: margin multiplier past the boundary"
    )
    positions: int = Field(5, ge=1, le=59, description="edit the last N positions that hold the square")
    writes: Literal["square", "board", "board as read"] = "board as read"


class AttentionRequest(BaseModel):
    moves: str = Field(max_length=400, description="the game, like 'f5 d6 c3'")
    layer: int = Field(0, ge=0, le=10_000, description="the block")
    head: int = Field(0, ge=0, le=10_000, description="the head of that block")


def _probabilities(probs: np.ndarray) -> dict[str, float]:
    return {square_name(s): round(float(p), 5) for s, p in enumerate(probs) if p > 0}


def _parse(moves: str) -> Board:
    """The board after ``moves``; replaying them names the ply of an illegal move."""
    squares = parse_moves(moves)
    if len(squares) > 60:
        raise ExplorerError(f"a game has at most 60 moves; got {len(squares)}")
    return Board(squares)


@dataclass
class ExplorerBackend:
    """The model, its read-out probes (linear, both labellings, every layer, at ``sites``) and its edit probes."""

    model: torch.nn.Module
    name: str = "model"
    data: str | os.PathLike | None = None
    sites: tuple[str, ...] = SITES
    probe_games: int = PROBE_GAMES  # games the probes are fitted on where none are stored (tests use fewer)
    probe_config: ProbeConfig | None = None  # their fitting settings (None: the defaults the stored probes use)
    progress: bool = True
    circuit_games: int = 1000  # held-out games the neuron and head views are computed over (tests use fewer)
    sae_run: str | os.PathLike | None = None  # an SAE run folder: the SAE views (``othello.explorer.sae``)
    transcoders: str | os.PathLike | None = None  # a transcoder set: the Graph panel (``othello.explorer.graph``)
    probes: dict[tuple[str, str], dict[int, torch.nn.Module]] = field(default_factory=dict)
    edit_probes: dict[str, dict[int, torch.nn.Module]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for site in self.sites:
            for labelling in LABELLINGS:
                self.probes[(labelling, site)] = layer_probes(
                    self.model,
                    labelling,
                    "linear",
                    games=self.probe_games,
                    config=self.probe_config,
                    site=site,
                    progress=self.progress,
                )
        for method, (labelling, kind) in DEFAULT_PROBES.items():
            self.edit_probes[method] = layer_probes(
                self.model, labelling, kind, games=self.probe_games, config=self.probe_config, progress=self.progress
            )
        # every request runs on a copy of the model of its own (hooks live on the model: shared, one request's edit
        # would show in another's answer); ``self.model`` stays the template, run only by the set-up above
        self.pool = ModelPool(self.model)
        self._games: np.ndarray | None = None
        self._circuits: Any = None
        self.sae: Any = None
        if self.sae_run is not None:
            from othello.explorer.sae import SAEBackend

            self.sae = SAEBackend(self.pool, self.sae_run)
        self.graph: Any = None
        if self.transcoders is not None:
            from othello.explorer.graph import GraphBackend

            self.graph = GraphBackend(self.pool, self.transcoders)
        if self.data is not None:
            from othello.data.datasets import load_moves

            self._games = load_moves(self.data)

    @property
    def circuits(self) -> Any:
        """The circuits views' backend (``othello.explorer.circuits``), made on first use."""
        if self._circuits is None:
            from othello.explorer.circuits import CircuitsBackend

            probes = {
                site: self.probes[("relative", site)] for site in ("resid_mid", "resid_post") if site in self.sites
            }
            self._circuits = CircuitsBackend(
                self.pool,
                games=self.circuit_games,
                probes=probes if len(probes) == 2 else None,
                progress=self.progress,
            )
        return self._circuits

    @property
    def n_layers(self) -> int:
        return self.model.cfg.n_layers

    def default_edit(self) -> dict[str, Any]:
        """The edit preselected: the recommended linear edit of the board as read (``recommended_setting``), the
        setting ``othello-gpt intervene --whole-board --keep read`` starts from."""
        setting = recommended_setting(self.n_layers, "linear", whole_board=True, keep="read")
        return {
            "method": "linear",
            "writes": "board as read",
            "layers": f"{setting.layers[0]}-{setting.layers[-1]}",
            "scale": setting.scale,
            "positions": setting.positions,
        }

    def info(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "n_layers": self.n_layers,
            "n_heads": self.model.cfg.n_heads,
            "sites": list(self.sites),
            "labellings": list(LABELLINGS),
            "classes": {lab: list(CLASSES[lab]) for lab in LABELLINGS},
            "methods": ["linear", "gradient"],
            "writes": list(WRITES),
            "defaults": self.default_edit(),
            "games": 0 if self._games is None else len(self._games),
            "sae": None if self.sae is None else self.sae.info(),
            "graph": None if self.graph is None else self.graph.info(),
        }

    def game(self, index: int) -> dict[str, Any]:
        """Game ``index`` of the ``--data`` file, as a move string."""
        if self._games is None:
            raise ExplorerError("no game file was given (start the explorer with --data FILE.h5)")
        if not 0 <= index < len(self._games):
            raise ExplorerError(f"game {index} is out of range: the file holds games 0..{len(self._games) - 1}")
        return {"index": index, "moves": " ".join(square_name(s) for s in self._games[index] if s >= 0)}

    def random_game(self, seed: int | None = None) -> dict[str, Any]:
        """A uniformly random legal game (of a random stream unless ``seed`` is given), as a move string."""
        from othello.engine.games import random_games

        seed = int(np.random.default_rng().integers(2**31)) if seed is None else seed
        return {"seed": seed, "moves": " ".join(square_name(s) for s in random_games(1, seed)[0] if s >= 0)}

    def _layers(self, text: str | None) -> tuple[int, ...]:
        """The edit's layers, ``"4-8"`` or ``"3,5"`` (the command line's parser), checked against the model."""
        from othello.values import parse_range

        try:
            return parse_range(text or self.default_edit()["layers"], lower=1, upper=self.n_layers)
        except ConfigError as error:
            raise ExplorerError(f"layers: {error} (edits run on layers 1..{self.n_layers})") from None

    @torch.no_grad()
    def _forward(
        self, model: torch.nn.Module, squares: list[int], labelling: str
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """One forward pass: the next-move probabilities ``[64]`` and every layer's read-out at every site."""
        hooks = {
            (L, site): layer_hook(L, self.n_layers, site)
            for (lab, site), probes in self.probes.items()
            if lab == labelling
            for L in probes
        }
        tokens = to_tokens(squares).to(next(model.parameters()).device)
        wanted = set(hooks.values())
        logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name in wanted)
        probs = square_probabilities(logits[:, -1])[0]
        true = board_labels(pad_games([squares]), labelling)[0, len(squares) - 1]  # [64]
        classes = CLASSES[labelling]
        out = []
        for (L, site), hook in sorted(hooks.items(), key=lambda kv: (SITES.index(kv[0][1]), kv[0][0])):
            probe = self.probes[(labelling, site)][L]
            confidence = probe(cache[hook][0, -1:].float()).softmax(-1)[0].cpu().numpy()  # [64, C]
            read = confidence.argmax(-1)
            out.append(
                {
                    "layer": L,
                    "site": site,
                    "hook": hook,
                    "read": {square_name(s): classes[read[s]] for s in range(64)},
                    "confidence": {square_name(s): round(float(confidence[s].max()), 4) for s in range(64)},
                    "accuracy": float((read == true).mean()),
                    "misread": [square_name(s) for s in range(64) if read[s] != true[s]],
                }
            )
        return probs, out

    def analyze(self, request: AnalyzeRequest, stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        """The position after ``request.moves``: board, next mover, legal moves, the model's probabilities, every
        layer's read-out, and with edits the edited board, its legal moves and the model's probabilities after.
        ``stop``: asked during a gradient edit; once it answers True the edit gives up (a timed-out request)."""
        board = _parse(request.moves)
        squares = board.moves
        over = board.is_game_over()
        mover = None if over else real_mover_board(squares)
        result: dict[str, Any] = {
            "moves": [square_name(s) for s in squares],
            "board": square_colours(board.to_array()),
            "next_mover": None if mover is None else COLOUR_NAMES[mover.next_mover],
            "passed": mover is not None and mover.next_mover != board.next_mover,
            "legal": [] if mover is None else [square_name(s) for s in sorted(mover.legal_moves)],
            "game_over": over,
            "probabilities": None,
            "probes": [],
            "labelling": request.labelling,
        }
        if over or not squares:
            if request.edits:
                raise ExplorerError("edits need a position the model predicts from: play at least one move")
            return result
        check_prefix(squares)
        with self.pool.lease() as model:
            probs, result["probes"] = self._forward(model, squares, request.labelling)
            if request.edits:
                result["edited"] = self._edit(model, squares, request, probs, stop)
        result["probabilities"] = _probabilities(probs)
        top = [int(s) for s in np.argsort(-probs, kind="stable")[:5]]
        legal = set(mover.legal_moves)
        result["top"] = [{"square": square_name(s), "p": round(float(probs[s]), 5), "legal": s in legal} for s in top]
        result["top_legal"] = top[0] in legal
        return result

    def _edit(
        self,
        model: torch.nn.Module,
        squares: list[int],
        request: AnalyzeRequest,
        probs: np.ndarray,
        stop: Callable[[], bool] | None,
    ) -> dict[str, Any]:
        if request.method == "gradient" and request.writes == "square":
            raise ExplorerError("the gradient method writes the whole board: choose writes 'board' or 'board as read'")
        setting = EditSetting(
            request.method,
            self._layers(request.layers),
            scale=request.scale,
            positions=request.positions,
            whole_board=request.method == "linear" and request.writes != "square",
            keep="read" if request.writes == "board as read" else "board",
        )
        targets = [parse_square(e.square) for e in request.edits]
        r = intervene(
            model,
            squares,
            targets,
            self.edit_probes[request.method],
            setting,
            edit=[e.op for e in request.edits],
            labelling=DEFAULT_PROBES[request.method][0],
            probs_before=probs,
            stop=stop,
        )
        return {
            "board": square_colours(r.board_after.to_array()),
            "legal": [square_name(s) for s in r.legal_after],
            "probabilities": _probabilities(r.probs_after),
            "probabilities_before": _probabilities(r.probs_before),
            "error_before": r.null_error,
            "error_after": r.error,
            "setting": setting.describe(),
        }

    @torch.no_grad()
    def attention(self, request: AttentionRequest) -> dict[str, Any]:
        """Head ``request.head`` of block ``request.layer``'s attention pattern over the game: ``pattern[q][k]``,
        query position q attending to key position k, labelled with the moves' square names."""
        squares = _parse(request.moves).moves
        if not 1 <= len(squares) <= 59:
            raise ExplorerError("the attention pattern needs 1..59 moves")
        if not request.layer < self.n_layers or not request.head < self.model.cfg.n_heads:
            raise ExplorerError(
                f"no head {request.layer}.{request.head}: blocks 0..{self.n_layers - 1}, "
                f"heads 0..{self.model.cfg.n_heads - 1}"
            )
        with self.pool.lease() as model:
            found = head_pattern(model, squares, request.layer, request.head)  # the one home of a head's pattern
        pattern = found.pop("pattern")  # [q, k]
        return found | {"pattern": [[round(float(x), 4) for x in row] for row in pattern]}


def default_name(folder: str | os.PathLike | None) -> str:
    from othello.model.checkpoints import SHIPPED_MODEL

    return Path(folder or SHIPPED_MODEL).name
