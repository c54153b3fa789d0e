"""Moves in, logits out: the model's tokens, its inputs for games and prefixes, and its move probabilities.

    ```python
    tokens = to_tokens("f5 d6 c3")                     # [1, 3] int64
    probs = move_probabilities(model, "f5 d6 c3")       # [64] on the squares
    ```

The model reads at most ``N_CTX`` (59) moves: position t has read moves 1..t+1 and predicts move t+2. Token 0 is
padding: ``model(tokens, return_type="loss")`` is TransformerLens's language-model loss, which takes that padding for
a next move after a short game's end; ``othello.train.next_move_loss`` scores real next moves only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from othello.engine.games import pad_games
from othello.engine.notation import N_CTX, TOKEN_TO_SQUARE, parse_moves, squares_to_tokens
from othello.errors import OthelloError

__all__ = [
    "PrefixError",
    "check_prefix",
    "to_tokens",
    "model_inputs",
    "pad_prefixes",
    "legal_token_mask",
    "move_logits",
    "top_moves",
    "square_probabilities",
    "move_probabilities",
    "position_labels",
]


class PrefixError(OthelloError):
    """A move prefix the model cannot read (no moves, or more than it has positions)."""


def check_prefix(moves: Sequence[int]) -> list[int]:
    """``moves`` as a list of squares, checked to hold 1..59 moves (what one forward pass can read)."""
    moves = [int(s) for s in moves]
    if not 1 <= len(moves) <= N_CTX:
        raise PrefixError(f"the model reads 1..{N_CTX} moves, got {len(moves)}")
    return moves


def check_game(moves: str | Sequence[int], what: str = "the game") -> list[int]:
    """One game prefix (``"f5 d6 c3"`` or squares) as a list of squares: 1..59 moves that the rules allow, replayed
    through the engine (an illegal move is an ``IllegalMoveError`` naming its ply). ``what`` names the game in the
    message (``"the corrupted game"``)."""
    from othello.engine.board import Board

    squares = check_prefix(parse_moves(moves) if isinstance(moves, str) else moves)
    try:
        Board(squares)
    except OthelloError as error:
        raise type(error)(f"{what}: {error}") from None
    return squares


def to_tokens(moves: str | Sequence[int]) -> torch.Tensor:
    """One game prefix (``"f5 d6 c3"`` or squares) -> tokens ``[1, plies]`` int64, ready for ``model(...)``; the
    game is replayed first, so an illegal one is refused naming its ply."""
    squares = check_game(moves)
    return torch.from_numpy(squares_to_tokens(np.array([squares])))


def model_inputs(moves: np.ndarray) -> torch.Tensor:
    """Moves ``[B, 60]`` -> input tokens ``[B, 59]`` (moves 1..59; 0 = padding)."""
    return torch.from_numpy(squares_to_tokens(moves[:, :N_CTX]))


def pad_prefixes(prefixes: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Several prefixes of 1..59 moves -> moves ``[B, longest]`` int8 (-1 after each prefix) and each prefix's last
    position ``[B]`` (the one that predicts its next move)."""
    lengths = np.array([len(check_prefix(p)) for p in prefixes])
    return pad_games(prefixes)[:, : lengths.max()], lengths - 1


def legal_token_mask(legal: np.ndarray) -> np.ndarray:
    """Legal squares ``[..., 64]`` bool -> legal tokens ``[..., 61]`` bool (padding never legal)."""
    out = np.zeros(legal.shape[:-1] + (61,), dtype=bool)
    out[..., 1:] = legal[..., TOKEN_TO_SQUARE[1:]]
    return out


@torch.no_grad()
def move_logits(model: torch.nn.Module, moves: np.ndarray, batch_size: int = 512) -> torch.Tensor:
    """Logits ``[G, 59, 61]`` for games ``[G, 60]``, in batches."""
    device = next(model.parameters()).device
    out = []
    for a in range(0, len(moves), batch_size):
        tokens = model_inputs(moves[a : a + batch_size]).to(device)
        out.append(model(tokens).float().cpu())
    return torch.cat(out) if out else torch.empty(0, N_CTX, 61)


def top_moves(logits: torch.Tensor) -> torch.Tensor:
    """The predicted move's token ``[...]`` from next-move logits ``[..., 61]``: the argmax, padding (token 0)
    never chosen."""
    return logits[..., 1:].argmax(-1) + 1


def square_probabilities(logits: torch.Tensor) -> np.ndarray:
    """Next-move logits ``[B, 61]`` -> probabilities ``[B, 64]`` on the squares: padding's share is dropped
    and the rest renormalised, centre squares stay 0."""
    logits = logits.float().cpu().clone()
    logits[:, 0] = -float("inf")
    p = logits.softmax(-1).numpy()
    out = np.zeros((len(p), 64))
    out[:, TOKEN_TO_SQUARE[1:]] = p[:, 1:]
    return out


@torch.no_grad()
def move_probabilities(model: torch.nn.Module, moves: str | Sequence[int]) -> np.ndarray:
    """Probabilities ``[64]`` of the move after ``moves`` (1..59 moves); padding's share is dropped and the rest
    renormalised, centre squares stay 0."""
    device = next(model.parameters()).device
    return square_probabilities(model(to_tokens(moves).to(device))[:, -1])[0]


def position_labels(moves: str | Sequence[int]) -> list[str]:
    """A name per model position for a prefix (``"f5 d6 c3"`` or squares): the square of the move it reads last,
    as CircuitsVis-style views want their tokens (``attention_patterns(tokens=position_labels(game), ...)``).
    No square is played twice, so the labels are unique."""
    from othello.engine.notation import square_name

    squares = check_prefix(parse_moves(moves) if isinstance(moves, str) else moves)
    return [square_name(s) for s in squares]
