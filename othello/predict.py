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
    logits = model(tokens)[0, -1].float().cpu()
    logits[0] = -float("inf")
    p = logits.softmax(-1).numpy()
    out = np.zeros(64)
    out[TOKEN_TO_SQUARE[1:]] = p[1:]
    return out
