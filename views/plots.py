"""Figures (matplotlib, Agg backend, no LaTeX): boards with discs and heatmaps, accuracy-by-layer curves."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter  # noqa: E402

from othello.files import atomic_path  # noqa: E402
from views.tables import edit_scope  # noqa: E402


def draw_board(
    ax: Any,
    discs: Sequence[int] | None = None,
    heat: Sequence[float] | None = None,
    marked: Sequence[int] = (),
    outlined: Sequence[int] = (),
    title: str = "",
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "viridis",
    annotate: bool = False,
) -> Any:
    """One board on ``ax``: a heatmap of 64 values, discs (0 empty, 1 black, 2 white), crosses on ``marked``
    squares and outlines on ``outlined`` ones. a1 is top-left, as in the README's diagrams."""
    image = None
    if heat is not None:
        values = np.asarray(heat, dtype=float).copy()
        colours = plt.get_cmap(cmap)
        if discs is not None:
            # occupied squares show the board's green, so discs of either colour stand out on any heatmap
            values[np.asarray(discs) != 0] = np.nan
            colours = colours.with_extremes(bad="#cfe6c7")
        image = ax.imshow(values.reshape(8, 8), vmin=vmin, vmax=vmax, cmap=colours)
    else:
        ax.imshow(np.zeros((8, 8)), cmap="Greens", vmin=-1, vmax=4)
    for s in range(64):
        r, c = divmod(s, 8)
        if discs is not None and discs[s]:
            black = discs[s] == 1
            ax.add_patch(
                plt.Circle((c, r), 0.38, fc="black" if black else "white", ec="white" if black else "black", lw=1.2)
            )
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
                ax.plot(
                    [r["layer"] for r in sel], [100 * r["accuracy"] for r in sel], marker="o", label=f"{label}, {kind}"
                )
        base = sorted((r for r in rows if r["label"] == label), key=lambda r: r["layer"])
        ax.plot([r["layer"] for r in base], [100 * r["baseline"] for r in base], ls="--", lw=1, color="grey")
    ax.set_xlabel("layer (0 = embeddings; L = after block L-1, resid_post)")
    ax.set_ylabel("accuracy, held-out games (%)")
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
    fig.subplots_adjust(wspace=0.35)
    loss = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_top1_legal" in r]
    panels = (
        (a, loss, [r["loss"] for r in loss], "training loss", {"lw": 1}),
        (b, val, [100 * r["val_top1_legal"] for r in val], "validation top-1 legal (%)", {"marker": "o"}),
    )
    for ax, sel, ys, ylabel, style in panels:
        xs = [r["games"] for r in sel]
        ax.plot(xs, ys, **style)
        ax.set_xlabel("games seen")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.set_xscale("log")
        # "200k", "1M": within two decades label 1, 2 and 5 of each (matplotlib would otherwise label the minor
        # ticks of a short run in overlapping powers of ten), beyond that one label per decade
        short = bool(xs) and max(xs) < 100 * max(min(xs), 1)
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if short else (1.0,)))
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.xaxis.set_minor_formatter(NullFormatter())
    fig.suptitle(title or "training curves", fontsize=10)
    return save_figure(fig, path)


def plot_move_probabilities(
    discs: Sequence[int], probs: Sequence[float], legal: Sequence[int], path: str | os.PathLike, title: str = ""
) -> Path:
    """The board with the model's next-move probabilities as a heatmap and the legal moves outlined."""
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    image = draw_board(
        ax,
        discs=discs,
        heat=probs,
        outlined=legal,
        vmax=max(0.05, float(max(probs))),
        cmap="magma",
        annotate=True,
        title=title + "\n(orange: legal moves; numbers: probability %)",
    )
    fig.colorbar(image, ax=ax, fraction=0.046)
    return save_figure(fig, path)


def plot_intervention(result: Any, path: str | os.PathLike, title: str = "") -> Path:
    """One intervention at a glance: the board before and after the edit (edited square crossed, true legal
    moves outlined) and the model's next-move probabilities on each, before and after the edit."""
    from othello.engine.notation import square_name

    r = result
    fig, axes = plt.subplots(2, 2, figsize=(8, 8.4))
    peak = max(0.05, float(r.probs_before.max()), float(r.probs_after.max()))
    draw_board(
        axes[0, 0],
        discs=r.board_before.to_array(),
        outlined=r.legal_before,
        title="original board (orange: legal moves)",
    )
    draw_board(
        axes[0, 1],
        discs=r.board_before.to_array(),
        heat=r.probs_before,
        outlined=r.legal_before,
        vmax=peak,
        cmap="magma",
        annotate=True,
        title=f"model, no edit: error {r.null_error} vs the edited board",
    )
    draw_board(
        axes[1, 0],
        discs=r.board_after.to_array(),
        outlined=r.legal_after,
        marked=r.case.squares,
        title=f"edited board: {', '.join(f'{op} {square_name(sq)}' for sq, op in r.case.edits)} (red cross)",
    )
    image = draw_board(
        axes[1, 1],
        discs=r.board_after.to_array(),
        heat=r.probs_after,
        outlined=r.legal_after,
        marked=r.case.squares,
        vmax=peak,
        cmap="magma",
        annotate=True,
        title=f"model, edited: error {r.error}",
    )
    fig.colorbar(image, ax=axes[:, 1], fraction=0.046, label="next-move probability")
    moves = " ".join(square_name(s) for s in r.case.moves)
    fig.suptitle(
        title or f"{r.setting.describe()}\nafter {moves if len(moves) < 90 else '... ' + moves[-86:]}", fontsize=9
    )
    return save_figure(fig, path)


def plot_intervention_errors(rows: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """Intervention error by first edited layer: one panel per data set, one line per (method, what the edit
    writes, scale, edited positions); colour = what it writes and the scale, dashed = the last N > 1 positions,
    grey = the null edit."""
    datasets = sorted({r.get("data", "") for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets) + 2.6, 4), sharey=True, squeeze=False)

    def group(r: dict[str, Any]) -> tuple:
        return (r["method"], edit_scope(r), r["scale"] if r["scale"] is not None else -1, r.get("positions", 1))

    styles = sorted({g[:3] for g in map(group, rows)})
    colours = {style: plt.get_cmap("tab10")(k % 10) for k, style in enumerate(styles)}
    for ax, data in zip(axes[0], datasets):
        mine = [r for r in rows if r.get("data", "") == data]
        for key in sorted({group(r) for r in mine}):
            method, scope, scale, positions = key
            sel = sorted((r for r in mine if group(r) == key), key=lambda r: int(r["layers"].split("-")[0]))
            label = (
                f"{method}, {scope}"
                + (f", scale {scale:g}" if scale != -1 else "")
                + (f", last {positions} positions" if positions > 1 else "")
            )
            ax.plot(
                [int(r["layers"].split("-")[0]) for r in sel],
                [r["error"] for r in sel],
                marker="o",
                ms=4,
                color=colours[key[:3]],
                ls="--" if positions > 1 else "-",
                label=label,
            )
        ax.axhline(np.mean([r["null_error"] for r in mine]), ls=":", lw=1.5, color="grey", label="no edit")
        ax.set_title(data or "cases", fontsize=9)
        ax.set_xlabel("first edited layer (edits run from it to the last)", fontsize=8)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("error: false pos. + false neg. of top-N moves")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7, frameon=False)
    fig.suptitle(title or "intervention error by first edited layer (layer L = resid after block L-1)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 2.6 / (4.2 * len(datasets) + 2.6), 1))
    return save_figure(fig, path)


def plot_probe_readout(
    class_probs: np.ndarray,
    classes: Sequence[str],
    path: str | os.PathLike,
    next_mover: int = 1,
    discs: Sequence[int] | None = None,
    title: str = "",
) -> Path:
    """A probe's read-out of one board: its argmax per square drawn as discs (mine / theirs in the colours of
    ``next_mover`` / the other side) over a heatmap of its confidence; with ``discs`` the true board beside it."""
    readout = probe_readout_discs(class_probs, classes, next_mover)
    panels = 2 if discs is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.4), squeeze=False)
    image = draw_board(
        axes[0, 0],
        discs=readout,
        heat=class_probs.max(-1),
        vmin=1 / len(classes),
        vmax=1.0,
        cmap="Blues",
        title="probe read-out (shade: confidence)",
        marked=[s for s in range(64) if discs is not None and readout[s] != discs[s]],
    )
    if discs is not None:
        draw_board(axes[0, 1], discs=discs, title="true board (red cross on the left: probe wrong)")
    fig.colorbar(image, ax=axes[0, 0], fraction=0.046)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def probe_readout_discs(class_probs: np.ndarray, classes: Sequence[str], next_mover: int = 1) -> list[int]:
    """A probe's argmax per square ``[64, C]`` -> 0 empty / 1 black / 2 white (mine = ``next_mover``'s)."""
    names = [classes[c] for c in np.asarray(class_probs).argmax(-1)]
    colour = {"empty": 0, "black": 1, "white": 2, "mine": next_mover, "theirs": 3 - next_mover}
    return [colour.get(n, 0) for n in names]
