"""Rule trees: a regression tree per column of activations over the board's binary features, all grown at once.
MLP neurons (``othello.circuits.neurons``) and dictionary latents (``othello.sae.runs``) are given their rules by
the same code, so a rule means the same thing wherever it is shown.

Board features at each position (``FEATURES``, 384 binary ones): each square empty / mine / theirs (mine = the
player about to move), flipped by the last move, legal for the next move, and played by the last move. A rule is
a regression tree of depth ``depth`` over them, fitted on some rows and scored by R^2 on others. With binary
features, the best split of every node of every tree is two matrix products over the features, which is what fits
a whole layer in seconds. A rule's text is the path to its highest leaf ("c4 empty and d5 theirs and not e3
flipped").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from othello.engine.notation import SQUARE_NAMES
from othello.errors import ConfigError
from othello.probes.rules import MIN_LEAF, RULE_DEPTH
from othello.probes.targets import board_labels

__all__ = ["GROUPS", "FEATURES", "RuleTrees", "board_features", "fit_rules"]

GROUPS = ("empty", "mine", "theirs", "flipped", "legal", "played")
FEATURES: tuple[str, ...] = tuple(f"{s} {g}" for g in GROUPS for s in SQUARE_NAMES)  # index = group * 64 + square


def board_features(moves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[G, 59, 384]`` uint8 (``FEATURES``) for games ``[G, 60]``, and where they exist ``[G, 59]``
    bool (positions with a next mover)."""
    relative = board_labels(moves, "relative")  # [G, 59, 64]: -1 where nobody moves next
    valid = relative[:, :, 0] >= 0
    parts = [relative == c for c in range(3)]
    parts += [board_labels(moves, name) == 1 for name in ("flipped", "legal", "last_move")]
    return np.concatenate(parts, -1).astype(np.uint8) & valid[:, :, None], valid


@dataclass
class RuleTrees:
    """One regression tree per neuron, all of depth ``depth``: ``splits`` ``[K, 2^depth - 1]`` (the feature each
    node tests, heap order, -1 = no split: every row goes left) and ``leaves`` ``[K, 2^depth]`` (mean activation);
    ``r2`` ``[K]`` on held-out rows, ``leaf_counts`` ``[K, 2^depth]`` on the rows it was fitted on."""

    depth: int
    splits: np.ndarray
    leaves: np.ndarray
    leaf_counts: np.ndarray
    r2: np.ndarray

    def leaf_of(self, features: torch.Tensor, columns: Sequence[int] | None = None) -> torch.Tensor:
        """The leaf each row reaches ``[N, k]`` for features ``[N, 384]``, for trees ``columns`` (all by default)."""
        splits = torch.as_tensor(self.splits if columns is None else self.splits[list(columns)])
        return _descend(features.float(), splits, self.depth)

    def best_leaf(self, k: int) -> int:
        """Tree ``k``'s highest leaf among those with enough fitting rows."""
        values = np.where(self.leaf_counts[k] >= MIN_LEAF, self.leaves[k], -np.inf)
        return int(np.argmax(values))

    def conditions(self, k: int, leaf: int | None = None) -> list[tuple[int, bool]]:
        """The (feature, holds) tests on the path to ``leaf`` (the best by default) of tree ``k``."""
        leaf = self.best_leaf(k) if leaf is None else leaf
        out, node = [], 0
        for level in range(self.depth):
            bit = (leaf >> (self.depth - 1 - level)) & 1
            feature = int(self.splits[k, node])
            if feature >= 0:
                out.append((feature, bool(bit)))
            node = 2 * node + 1 + bit
        return out

    def rule(self, k: int) -> str:
        """The path to tree ``k``'s highest leaf, in words."""
        parts = [FEATURES[f] if holds else f"not {FEATURES[f]}" for f, holds in self.conditions(k)]
        return " and ".join(parts) if parts else "always"

    def rule_squares(self, k: int) -> list[str]:
        """The squares tree ``k``'s rule names, those it needs to hold first."""
        ordered = sorted(self.conditions(k), key=lambda c: not c[1])
        return list(dict.fromkeys(FEATURES[f].split()[0] for f, _ in ordered))


def _descend(features: torch.Tensor, splits: torch.Tensor, depth: int) -> torch.Tensor:
    """Leaf index ``[N, K]`` of every row in every tree (features ``[N, P]`` float, splits ``[K, nodes]``)."""
    N, K = len(features), len(splits)
    node = torch.zeros(N, K, dtype=torch.long)
    columns = torch.arange(K)[None, :]
    for level in range(depth):
        heap = (1 << level) - 1 + node  # heap index of each row's node
        feature = splits[columns, heap]  # [N, K]
        bit = torch.where(feature >= 0, features.gather(1, feature.clamp_min(0)), torch.zeros(()))
        node = 2 * node + bit.long()
    return node


def fit_rules(
    acts_fit: torch.Tensor,
    features_fit: torch.Tensor,
    acts_test: torch.Tensor,
    features_test: torch.Tensor,
    depth: int = RULE_DEPTH,
    min_leaf: int = MIN_LEAF,
) -> RuleTrees:
    """Fit a regression tree of depth ``depth`` per column of ``acts_fit`` ``[N, K]`` on binary features
    ``[N, P]`` (greedy, least squares, like a CART regressor on 0/1 features), and score each by R^2 on
    ``acts_test`` / ``features_test``."""
    if depth < 1:
        raise ConfigError(f"depth {depth}: a rule needs depth >= 1")
    A, F = acts_fit.float(), features_fit.float()
    N, K = A.shape
    splits = torch.full((K, (1 << depth) - 1), -1, dtype=torch.long)
    node = torch.zeros(N, K, dtype=torch.long)
    columns = torch.arange(K)
    for level in range(depth):
        for j in range(1 << level):
            inside = (node == j).float()
            weighted = A * inside
            s1, c1 = F.T @ weighted, F.T @ inside  # [P, K]: sum and count where the feature holds
            s, c = weighted.sum(0), inside.sum(0)
            s0, c0 = s - s1, c - c1
            gain = s1**2 / c1.clamp_min(1) + s0**2 / c0.clamp_min(1) - s**2 / c.clamp_min(1)
            gain[(c1 < min_leaf) | (c0 < min_leaf)] = -float("inf")
            best_gain, best = gain.max(0)
            best[~(best_gain > 1e-9)] = -1
            splits[:, (1 << level) - 1 + j] = best
        heap = (1 << level) - 1 + node
        feature = splits[columns[None, :], heap]
        bit = torch.where(feature >= 0, F.gather(1, feature.clamp_min(0)), torch.zeros(()))
        node = 2 * node + bit.long()
    n_leaves = 1 << depth
    sums = torch.zeros(K, n_leaves, dtype=torch.float64).scatter_add_(1, node.T, A.T.double())
    counts = torch.zeros(K, n_leaves, dtype=torch.float64).scatter_add_(1, node.T, torch.ones_like(A.T).double())
    leaves = (sums / counts.clamp_min(1)).float()
    test_leaf = _descend(features_test.float(), splits, depth)
    predicted = leaves[columns[None, :], test_leaf]
    At = acts_test.float()
    sse = ((At - predicted) ** 2).sum(0)
    sst = ((At - At.mean(0)) ** 2).sum(0).clamp_min(1e-12)
    return RuleTrees(depth, splits.numpy(), leaves.numpy(), counts.numpy(), (1 - sse / sst).numpy())
