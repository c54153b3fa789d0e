"""Figures of the SAE features: one latent's page (``othello.sae.runs.feature_page``) as the explorer shows it,
drawn with matplotlib for notebooks and reports. Returns its Figure and saves it only given a path (as
``othello.views.plots``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from othello.views.plots import Figure, PathLike, _colorbar, _done, draw_board

__all__ = ["plot_feature"]

F1_GROUPS = ("empty", "mine", "theirs", "legal", "flipped")


def plot_feature(page: dict[str, Any], path: PathLike = None, examples: int = 3) -> Figure:
    """One latent: its F1 for each board property as 8x8 maps (where the page has them: an evaluated run), its
    decoder direction's cosine with each square's ``mine_dir`` and ``blank_dir`` (where a probe reads the same
    activations) and the boards of its top-activating positions (the last move outlined)."""
    from othello.engine.notation import parse_square

    f1 = page.get("f1") or {}
    cosine = page.get("decoder_cosine") or {}
    shown = page["examples"][:examples]
    top = [g for g in F1_GROUPS if g in f1]
    bottom = len(cosine) + len(shown)
    cols = max(len(top), bottom, 1)
    fig = Figure(figsize=(2.9 * cols, 6.2 if top else 3.2), layout="constrained")
    axes = np.asarray(fig.subplots(2 if top else 1, cols)).reshape(2 if top else 1, cols)
    for ax, group in zip(axes[0], top):
        image = draw_board(ax, heat=f1[group], title=f"F1 for '{group}'", vmin=0.0, vmax=1.0, cmap="viridis")
        _colorbar(fig, image, ax, percent=False)
    row = axes[-1]
    for ax, name in zip(row, cosine):
        v = float(np.abs(np.asarray(cosine[name])).max()) or 1.0
        image = draw_board(ax, heat=cosine[name], title=f"decoder . {name}", vmin=-v, vmax=v, cmap="RdBu_r")
        _colorbar(fig, image, ax, percent=False)
    for ax, ex in zip(row[len(cosine) :], shown):
        mover = {1: "black", 2: "white"}.get(ex["next_mover"], "nobody")
        last = parse_square(ex["moves"].split()[-1])
        draw_board(ax, discs=ex["board"], outlined=[last], title=f"{ex['activation']:.2f}, {mover} to move")
    used = [len(top), bottom] if top else [bottom]
    for axes_row, n in zip(axes, used):
        for extra in axes_row[n:]:
            extra.axis("off")
    fig.suptitle(f"latent {page['latent']} at {page['hook']}", fontsize=10)
    return _done(fig, path)
