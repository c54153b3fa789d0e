"""The model's next-move distribution for one game prefix, on the 64 squares."""

from __future__ import annotations

import numpy as np
import torch

from othello.notation import N_CTX, TOKEN_TO_SQUARE, squares_to_tokens


@torch.no_grad()
def move_probabilities(model: torch.nn.Module, moves: list[int]) -> np.ndarray:
    """Probabilities ``[64]`` of the move after ``moves`` (1..59 squares); padding's share is dropped and
    the rest renormalised, centre squares stay 0."""
    if not 1 <= len(moves) <= N_CTX:
        raise ValueError(f"the model reads 1..{N_CTX} moves, got {len(moves)}")
    device = next(model.parameters()).device
    tokens = torch.from_numpy(squares_to_tokens(np.array([moves]))).to(device)
    return square_probabilities(model(tokens)[:, -1])[0]


def square_probabilities(logits: torch.Tensor) -> np.ndarray:
    """Next-move logits ``[B, 61]`` -> probabilities ``[B, 64]`` on the squares: padding's share is dropped
    and the rest renormalised, centre squares stay 0."""
    logits = logits.float().cpu().clone()
    logits[:, 0] = -float("inf")
    p = logits.softmax(-1).numpy()
    out = np.zeros((len(p), 64))
    out[:, TOKEN_TO_SQUARE[1:]] = p[:, 1:]
    return out
