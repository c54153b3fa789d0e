"""What the explorer's SAE views compute (``othello-gpt explore --sae RUN``): a latent's page, the best latents of
an evaluated SAE, and the latents active at each position of the current game."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field

from othello.engine.board import Board, square_colours
from othello.engine.notation import parse_moves, square_name
from othello.errors import OthelloError
from othello.model.pool import ModelPool
from othello.model.tokens import check_prefix, to_tokens
from othello.sae.autoencoder import load_sae
from othello.sae.runs import feature_page, feature_rows
from othello.sae.train import activations_at

__all__ = ["SAEBackend", "ActiveRequest"]


class ActiveRequest(BaseModel):
    moves: str = Field(max_length=400, description="the game, e.g. 'f5 d6 c3 d3 c4'")
    top: int = Field(default=5, ge=1, le=32, description="latents listed per position")


@dataclass
class SAEBackend:
    """The SAE in run folder ``folder`` over the activations at its hook of the model of ``pool`` (each
    computation on a copy leased from the pool)."""

    pool: ModelPool
    folder: str | os.PathLike
    games: int = 300  # held-out games a latent's top positions are drawn from
    _pages: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        template = self.pool.template
        self.sae, self.info_json = load_sae(self.folder, device=next(template.parameters()).device)
        self.hook = self.info_json.get("hook")
        if not self.hook or self.hook not in template.hook_dict:
            raise OthelloError(f"{self.folder}: its hook {self.hook!r} is not a hook of this model")
        self.evaluated = (Path(self.folder) / "features.safetensors").exists()
        self._labels = {r["latent"]: r for r in feature_rows(self.folder, self.sae.cfg.d_sae)} if self.evaluated else {}

    def info(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "latents": self.sae.cfg.d_sae,
            "arch": self.sae.cfg.arch,
            "k": self.sae.cfg.k,
            "evaluated": self.evaluated,
            "best": sorted(self._labels.values(), key=lambda r: -r["f1"])[:30],
        }

    def feature(self, latent: int) -> dict[str, Any]:
        """A latent's page (``othello.sae.runs.feature_page``), boards as square -> colour; cached."""
        if latent not in self._pages:
            with self.pool.lease() as model:
                page = feature_page(model, self.sae, self.hook, latent, self.folder, games=self.games)
            for ex in page["examples"]:
                ex["board"] = square_colours(ex["board"])
            page["label"] = self._labels.get(latent)
            self._pages[latent] = page
        return self._pages[latent]

    def active(self, request: ActiveRequest) -> dict[str, Any]:
        """The ``top`` most active latents at each position of the game, with their best property where known."""
        try:
            squares = check_prefix(parse_moves(request.moves))
            Board(squares)  # a game the rules allow, as every other view asks
        except OthelloError as error:
            raise OthelloError(f"moves: {error}") from None
        with self.pool.lease() as model:
            acts = torch.from_numpy(activations_at(model, to_tokens(squares), self.hook)[0])
        with torch.no_grad():
            latents = self.sae.encode(acts)  # [positions, d_sae]
        values, index = latents.topk(min(request.top, latents.shape[1]), dim=-1)
        positions = []
        for t in range(len(squares)):
            row = []
            for v, i in zip(values[t].tolist(), index[t].tolist()):
                if v > 0:
                    label = self._labels.get(i)
                    row.append({"latent": i, "activation": round(v, 4), "property": label and label["property"]})
            positions.append({"position": t, "move": square_name(squares[t]), "latents": row})
        return {"hook": self.hook, "positions": positions}
