"""Figures (matplotlib, Agg backend, no LaTeX): boards with discs and heatmaps, accuracy-by-layer curves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from othello.files import atomic_path  # noqa: E402


def draw_board(ax: Any, discs: Sequence[int] | None = None, heat: Sequence[float] | None = None,
               marked: Sequence[int] = (), outlined: Sequence[int] = (), title: str = "",
               vmin: float = 0.0, vmax: float = 1.0, cmap: str = "viridis", annotate: bool = False) -> Any:
    """One board on ``ax``: a heatmap of 64 values, discs (0 empty, 1 black, 2 white), crosses on ``marked``
    squares and outlines on ``outlined`` ones. a1 is top-left, as in the README's diagrams."""
    image = None
    if heat is not None:
        image = ax.imshow(np.asarray(heat, dtype=float).reshape(8, 8), vmin=vmin, vmax=vmax, cmap=cmap)
    else:
        ax.imshow(np.zeros((8, 8)), cmap="Greens", vmin=-1, vmax=4)
    for s in range(64):
        r, c = divmod(s, 8)
        if discs is not None and discs[s]:
            black = discs[s] == 1
            ax.add_patch(plt.Circle((c, r), 0.38, fc="black" if black else "white", ec="white" if black else "black", lw=1.2))
        if annotate and heat is not None and not (discs is not None and discs[s]):
            ax.text(c, r, f"{100 * heat[s]:.0f}", ha="center", va="center", fontsize=7, color="deepskyblue")
        if s in marked:
            ax.plot([c - 0.3, c + 0.3], [r - 0.3, r + 0.3], color="red", lw=2)
            ax.plot([c - 0.3, c + 0.3], [r + 0.3, r - 0.3], color="red", lw=2)
        if s in outlined:
            ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="orange", lw=2))
    ax.set_xticks(range(8), list("abcdefgh"))
    ax.set_yticks(range(8), [str(i) for i in range(1, 9)])
    ax.set_xticks(np.arange(-0.5, 8), minor=True)
    ax.set_yticks(np.arange(-0.5, 8), minor=True)
    ax.grid(which="minor", color="grey", lw=0.5)
    ax.tick_params(which="minor", length=0)
    ax.set_title(title, fontsize=9)
    return image


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    """Save atomically as PNG and close the figure."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def plot_accuracy_by_layer(rows: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """Accuracy by layer, one line per (label, kind), with each labelling's majority baseline dashed."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label in sorted({r["label"] for r in rows}):
        for kind in sorted({r["kind"] for r in rows}):
            sel = sorted((r for r in rows if r["label"] == label and r["kind"] == kind), key=lambda r: r["layer"])
            if sel:
                ax.plot([r["layer"] for r in sel], [100 * r["accuracy"] for r in sel], marker="o", label=f"{label}, {kind}")
        base = sorted((r for r in rows if r["label"] == label), key=lambda r: r["layer"])
        ax.plot([r["layer"] for r in base], [100 * r["baseline"] for r in base], ls="--", lw=1, color="grey")
    ax.set_xlabel("layer (0 = embeddings; L = after block L-1, resid_post)")
    ax.set_ylabel("square accuracy, held-out games (%)")
    ax.set_title(title or "probe accuracy by layer (dashed: majority baseline)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_square_accuracy(per_square: Sequence[float], path: str | os.PathLike, title: str) -> Path:
    """An 8x8 map of per-square accuracy, values printed in %."""
    fig, ax = plt.subplots(figsize=(4, 4))
    lo = min(per_square)
    image = draw_board(ax, heat=per_square, title=title, vmin=min(lo, 0.9), vmax=1.0, annotate=True)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return save_figure(fig, path)


def plot_training_curves(rows: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """Training loss and validation top-1 legal-move rate against games seen (from ``metrics.jsonl`` rows)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    loss = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_top1_legal" in r]
    a.plot([r["games"] for r in loss], [r["loss"] for r in loss], lw=1)
    a.set_xlabel("games seen")
    a.set_ylabel("training loss")
    b.plot([r["games"] for r in val], [100 * r["val_top1_legal"] for r in val], marker="o")
    b.set_xlabel("games seen")
    b.set_ylabel("validation top-1 legal (%)")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.set_xscale("log")
    fig.suptitle(title or "training curves", fontsize=10)
    return save_figure(fig, path)


def plot_move_probabilities(discs: Sequence[int], probs: Sequence[float], legal: Sequence[int],
                            path: str | os.PathLike, title: str = "") -> Path:
    """The board with the model's next-move probabilities as a heatmap and the legal moves outlined."""
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    image = draw_board(ax, discs=discs, heat=probs, outlined=legal, vmax=max(0.05, float(max(probs))), cmap="magma",
                       annotate=True, title=title + "\n(orange: legal moves; numbers: probability %)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return save_figure(fig, path)
