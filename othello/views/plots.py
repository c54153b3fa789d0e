"""Figures (matplotlib, no LaTeX): boards with discs and heatmaps, accuracy-by-layer curves.

Every ``plot_*`` function returns its ``matplotlib.figure.Figure`` (shown inline when it ends a notebook cell) and
saves it as PNG only when given a ``path``. Figures are made without pyplot, so importing this module never
changes the backend, nothing is kept in pyplot's global list of figures, and the explorer's threads can draw at
once.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.figure
import numpy as np
from matplotlib.patches import Circle, Rectangle
from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator, NullFormatter, PercentFormatter

from othello.files import atomic_path
from othello.views.tables import edit_scope

__all__ = [
    "Figure",
    "draw_board",
    "save_figure",
    "plot_accuracy_by_layer",
    "plot_square_accuracy",
    "plot_training_curves",
    "plot_move_probabilities",
    "plot_intervention",
    "plot_intervention_errors",
    "plot_probe_readout",
    "probe_readout_discs",
]

PathLike = str | os.PathLike | None


class Figure(matplotlib.figure.Figure):
    """A matplotlib Figure that shows itself as PNG when a notebook cell ends with it, with or without
    ``%matplotlib inline`` (IPython's own figure formatter, where registered, is used instead: one image either way).
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        return buffer.getvalue()


def _text_colour(cmap: Any, value: float) -> str:
    """Black on light cells, white on dark ones: readable numbers on any colour map."""
    r, g, b, _ = cmap(value)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _colorbar(fig: Figure, image: Any, ax: Any, label: str = "", percent: bool = True) -> None:
    """A colour bar in the units the cells are labelled in (% for fractions)."""
    bar = fig.colorbar(image, ax=ax, fraction=0.046, label=label)
    if percent:
        bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))


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
    colours = matplotlib.colormaps[cmap]
    if heat is not None:
        values = np.asarray(heat, dtype=float).copy()
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
                Circle((c, r), 0.38, fc="black" if black else "white", ec="white" if black else "black", lw=1.2)
            )
        if annotate and heat is not None and not (discs is not None and discs[s]):
            shade = (float(heat[s]) - vmin) / (vmax - vmin) if vmax > vmin else 0.0
            ax.text(
                c,
                r,
                f"{100 * heat[s]:.0f}",
                ha="center",
                va="center",
                fontsize=7,
                color=_text_colour(colours, min(max(shade, 0.0), 1.0)),
            )
        if s in marked:
            ax.plot([c - 0.3, c + 0.3], [r - 0.3, r + 0.3], color="red", lw=2)
            ax.plot([c - 0.3, c + 0.3], [r + 0.3, r - 0.3], color="red", lw=2)
        if s in outlined:
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="orange", lw=2))
    ax.set_xticks(range(8), list("abcdefgh"))
    ax.set_yticks(range(8), [str(i) for i in range(1, 9)])
    ax.set_xticks(np.arange(-0.5, 8), minor=True)
    ax.set_yticks(np.arange(-0.5, 8), minor=True)
    ax.grid(which="minor", color="grey", lw=0.5)
    ax.tick_params(which="minor", length=0)
    ax.set_title(title, fontsize=9)
    return image


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Save ``fig`` atomically as PNG at ``path``; returns the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)


def _done(fig: Figure, path: PathLike) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_accuracy_by_layer(rows: list[dict[str, Any]], path: PathLike = None, title: str = "") -> Figure:
    """Accuracy by layer, one line per (label, kind) of the trained model; per labelling, its majority baseline
    (dashed), its by-ply baseline (dotted: the best guess from the move number alone) and, for rows with
    ``model`` = ``"untrained"``, the same probe on an untrained model (thin, faded)."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    trained = [r for r in rows if r.get("model", "trained") == "trained"]
    untrained = [r for r in rows if r.get("model") == "untrained"]
    cycle = matplotlib.colormaps["tab10"]
    labels = list(dict.fromkeys(r["label"] for r in trained))
    for i, label in enumerate(labels):
        for j, kind in enumerate(dict.fromkeys(r["kind"] for r in trained)):
            colour = cycle((2 * i + j) % 10)
            for sel_rows, style in ((trained, {"marker": "o"}), (untrained, {"lw": 1, "alpha": 0.5, "ls": "-."})):
                sel = sorted((r for r in sel_rows if r["label"] == label and r["kind"] == kind), key=_layer)
                if sel:
                    tag = "" if sel_rows is trained else ", untrained model"
                    ax.plot(
                        _layers(sel),
                        [100 * r["accuracy"] for r in sel],
                        color=colour,
                        label=f"{label}, {kind}{tag}",
                        **style,
                    )
        base = sorted((r for r in trained if r["label"] == label), key=_layer)
        shade = matplotlib.colormaps["Greys"](0.45 + 0.25 * i)
        ax.plot(
            _layers(base),
            [100 * r["baseline"] for r in base],
            ls="--",
            lw=1,
            color=shade,
            label=f"{label}: majority baseline",
        )
        if all("ply_baseline" in r for r in base):
            ax.plot(
                _layers(base),
                [100 * r["ply_baseline"] for r in base],
                ls=":",
                lw=1.5,
                color=shade,
                label=f"{label}: by-ply baseline",
            )
    ax.set_xlabel("layer (0 = embeddings; L = after block L-1)")
    ax.set_ylabel("accuracy, held-out games (%)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title or "probe accuracy by layer", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(alpha=0.3)
    return _done(fig, path)


def _layer(r: dict[str, Any]) -> int:
    return int(r["layer"])


def _layers(rows: list[dict[str, Any]]) -> list[int]:
    return [int(r["layer"]) for r in rows]


def plot_square_accuracy(per_square: Sequence[float], path: PathLike = None, title: str = "") -> Figure:
    """An 8x8 map of per-square accuracy, values printed in % (the colour bar in % too)."""
    fig = Figure(figsize=(4.4, 4))
    ax = fig.subplots()
    lo = min(per_square)
    image = draw_board(ax, heat=per_square, title=title, vmin=min(lo, 0.9), vmax=1.0, annotate=True)
    _colorbar(fig, image, ax, "accuracy")
    return _done(fig, path)


def plot_training_curves(rows: list[dict[str, Any]], path: PathLike = None, title: str = "") -> Figure:
    """Training loss and validation top-1 legal-move rate against games seen (from ``metrics.jsonl`` rows)."""
    fig = Figure(figsize=(9, 3.5))
    a, b = fig.subplots(1, 2)
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
    return _done(fig, path)


def plot_move_probabilities(
    discs: Sequence[int], probs: Sequence[float], legal: Sequence[int], path: PathLike = None, title: str = ""
) -> Figure:
    """The board with the model's next-move probabilities as a heatmap and the legal moves outlined."""
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.subplots()
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
    _colorbar(fig, image, ax, "next-move probability")
    return _done(fig, path)


def plot_intervention(result: Any, path: PathLike = None, title: str = "") -> Figure:
    """One intervention at a glance: the board before and after the edit (edited square crossed, true legal
    moves outlined) and the model's next-move probabilities on each, before and after the edit."""
    from othello.engine.notation import square_name

    r = result
    fig = Figure(figsize=(8, 8.4))
    axes = fig.subplots(2, 2)
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
    _colorbar(fig, image, axes[:, 1], "next-move probability (numbers in %)")
    moves = " ".join(square_name(s) for s in r.case.moves)
    fig.suptitle(
        title or f"{r.setting.describe()}\nafter {moves if len(moves) < 90 else '... ' + moves[-86:]}", fontsize=9
    )
    return _done(fig, path)


def plot_intervention_errors(rows: list[dict[str, Any]], path: PathLike = None, title: str = "") -> Figure:
    """Intervention error by first edited layer with 95 % intervals (``error_ci``): one panel per data set, one
    line per (method, what the edit writes, scale, edited positions); colour = what it writes and the scale,
    dashed = the last N > 1 positions, grey band = the null edit (no edit) with its interval."""
    datasets = sorted({r.get("data", "") for r in rows})
    width = 4.2 * len(datasets) + 2.6
    fig = Figure(figsize=(width, 4))
    axes = fig.subplots(1, len(datasets), sharey=True, squeeze=False)

    def group(r: dict[str, Any]) -> tuple:
        return (r["method"], edit_scope(r), r["scale"] if r["scale"] is not None else -1, r.get("positions", 1))

    styles = sorted({g[:3] for g in map(group, rows)})
    colours = {style: matplotlib.colormaps["tab10"](k % 10) for k, style in enumerate(styles)}
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
            ax.errorbar(
                [int(r["layers"].split("-")[0]) for r in sel],
                [r["error"] for r in sel],
                yerr=[r.get("error_ci", 0.0) for r in sel],
                marker="o",
                ms=4,
                capsize=2,
                color=colours[key[:3]],
                ls="--" if positions > 1 else "-",
                label=label,
            )
        null = float(np.mean([r["null_error"] for r in mine]))
        ci = float(np.mean([r.get("null_error_ci", 0.0) for r in mine]))
        ax.axhspan(null - ci, null + ci, color="grey", alpha=0.2, lw=0)
        ax.axhline(null, ls=":", lw=1.5, color="grey", label="no edit")
        ax.set_title(data or "cases", fontsize=9)
        ax.set_xlabel("first edited layer (edits run from it to the last)", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("error: false pos. + false neg. of top-N moves")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7, frameon=False)
    fig.suptitle(
        title or "intervention error by first edited layer, 95 % intervals (layer L = resid after block L-1)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1 - 2.6 / width, 1))
    return _done(fig, path)


def plot_probe_readout(
    class_probs: np.ndarray,
    classes: Sequence[str],
    path: PathLike = None,
    next_mover: int = 1,
    discs: Sequence[int] | None = None,
    title: str = "",
) -> Figure:
    """A probe's read-out of one board: its argmax per square drawn as discs (mine / theirs in the colours of
    ``next_mover`` / the other side, red crosses where it differs from ``discs``), its confidence on every square
    (the argmax's probability, in %) as a map of its own, and with ``discs`` the true board."""
    readout = probe_readout_discs(class_probs, classes, next_mover)
    panels = 3 if discs is not None else 2
    fig = Figure(figsize=(4.4 * panels + 0.6, 4.4))
    axes = fig.subplots(1, panels, gridspec_kw={"wspace": 0.3})
    wrong = [s for s in range(64) if discs is not None and readout[s] != discs[s]]
    draw_board(axes[0], discs=readout, marked=wrong, title="probe read-out (red cross: wrong)")
    image = draw_board(
        axes[1],
        heat=class_probs.max(-1),
        vmin=1 / len(classes),
        vmax=1.0,
        cmap="Blues",
        annotate=True,
        outlined=wrong,
        title="the probe's confidence (%; orange: read wrong)",
    )
    _colorbar(fig, image, axes[1])
    if discs is not None:
        draw_board(axes[2], discs=discs, title="true board")
    fig.suptitle(title, fontsize=9)
    return _done(fig, path)


def probe_readout_discs(class_probs: np.ndarray, classes: Sequence[str], next_mover: int = 1) -> list[int]:
    """A probe's argmax per square ``[64, C]`` -> 0 empty / 1 black / 2 white (mine = ``next_mover``'s)."""
    names = [classes[c] for c in np.asarray(class_probs).argmax(-1)]
    colour = {"empty": 0, "black": 1, "white": 2, "mine": next_mover, "theirs": 3 - next_mover}
    return [colour.get(n, 0) for n in names]
