"""Figures of the circuits toolkit: a neuron's page, the share of rule-explained neurons by layer, head classes,
patching grids and direct logit attribution. Each takes the plain rows and dicts the ``circuits`` functions
return, returns its Figure and saves it only given a path (as ``othello.views.plots``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np

from othello.views.plots import Figure, PathLike, _colorbar, _done, draw_board

__all__ = [
    "plot_neuron",
    "plot_neuron_examples",
    "plot_rule_share",
    "plot_head_classes",
    "plot_attention_pattern",
    "plot_patching",
    "plot_logit_attribution",
    "neuron_table_lines",
    "head_table_lines",
]

KIND_COLOURS = {"mine": "#1f77b4", "theirs": "#d62728", "last": "#2ca02c", "other": "#bbbbbb"}


def _symmetric(values: Sequence[float]) -> float:
    v = np.abs(np.nan_to_num(np.asarray(values, dtype=float)))
    return float(v.max()) if v.size and v.max() > 0 else 1.0


def plot_neuron(page: dict[str, Any], path: PathLike = None) -> Figure:
    """One neuron: mean activation where each square is empty / mine / theirs / flipped / legal, its input
    weights along ``mine_dir`` and its output through the unembedding (where read), and its spectrum split by
    its best single feature."""
    panels: list[tuple[str, Sequence[float], str]] = [
        (f"mean where {g}", page["conditional"][g], "viridis") for g in ("empty", "mine", "theirs", "flipped", "legal")
    ]
    if page.get("weights"):
        panels.append(("input . mine_dir (cosine)", page["weights"]["in_mine"], "RdBu_r"))
        panels.append(("output -> move logits", page["weights"]["out_moves"], "RdBu_r"))
    fig = Figure(figsize=(15, 7), layout="constrained")
    axes = fig.subplots(2, 4).ravel()
    hi = max(_symmetric(page["conditional"][g]) for g in ("empty", "mine", "theirs", "flipped", "legal"))
    lo = min(float(np.nanmin(page["conditional"][g])) for g in ("empty", "mine", "theirs"))
    for ax, (title, values, cmap) in zip(axes, panels):
        if cmap == "RdBu_r":
            v = _symmetric(values)
            image = draw_board(ax, heat=values, title=title, vmin=-v, vmax=v, cmap=cmap)
        else:
            image = draw_board(ax, heat=values, title=title, vmin=min(lo, 0.0), vmax=hi, cmap=cmap)
        _colorbar(fig, image, ax, percent=False)
    ax = axes[len(panels)]
    spectrum = page.get("spectrum")
    if spectrum:
        edges = np.asarray(spectrum["edges"])
        centres, width = (edges[1:] + edges[:-1]) / 2, edges[1] - edges[0]
        ax.bar(centres, spectrum["off"], width, color="#bbbbbb", label=f"not {spectrum['feature']}")
        ax.bar(centres, spectrum["on"], width, bottom=spectrum["off"], color="#1f77b4", label=spectrum["feature"])
        ax.set_yscale("symlog")
        ax.set_xlabel("activation")
        ax.set_ylabel("positions")
        ax.legend(fontsize=7)
        ax.set_title("spectrum, split by its best single feature", fontsize=9)
    else:
        ax.axis("off")
    for extra in axes[len(panels) + 1 :]:
        extra.axis("off")
    fig.suptitle(
        f"{_neuron_name(page)}: R^2 {page['r2']:.2f}; rule: {page['rule']}",
        fontsize=10,
    )
    return _done(fig, path)


def plot_neuron_examples(page: dict[str, Any], path: PathLike = None, count: int = 8) -> Figure:
    """The boards of a neuron's top-activating positions (the last move outlined)."""
    examples = page["examples"][:count]
    fig = Figure(figsize=(2.6 * max(len(examples), 1), 3))
    axes = np.atleast_1d(fig.subplots(1, max(len(examples), 1)))
    from othello.engine.notation import parse_square

    for ax, ex in zip(axes, examples):
        last = parse_square(ex["moves"].split()[-1])
        mover = {1: "black", 2: "white"}.get(ex["next_mover"], "nobody")
        draw_board(ax, discs=ex["board"], outlined=[last], title=f"{ex['activation']:.2f}, {mover} to move")
    fig.suptitle(f"{_neuron_name(page)}: top-activating positions", fontsize=10)
    return _done(fig, path)


def _neuron_name(page: dict[str, Any]) -> str:
    block = page.get("block", page["layer"])
    return f"block {block} neuron {page['neuron']} (blocks.{block}.mlp.hook_post)"


def plot_rule_share(shares: Sequence[dict[str, Any]], path: PathLike = None, title: str = "") -> Figure:
    """The share of rule-explained neurons (``share``) by block, one bar per row."""
    fig = Figure(figsize=(5.5, 3.4))
    ax = fig.subplots()
    layers = [r.get("block", r["layer"]) for r in shares]
    values = [r["share"] for r in shares]
    ax.bar(layers, values, color="#1f77b4")
    for x, v in zip(layers, values):
        ax.text(x, v, f"{100 * v:.0f}%", ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("block L (blocks.L.mlp.hook_post)")
    ax.set_ylabel("rule-explained neurons")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_title(title or "neurons whose rule has held-out R^2 >= 0.7", fontsize=10)
    return _done(fig, path)


def plot_head_classes(rows: Sequence[dict[str, Any]], path: PathLike = None, title: str = "") -> Figure:
    """A block x head grid (``blocks.L.attn.hook_pattern``) coloured by each head's kind, with its deciding score
    printed."""
    n = max(r["layer"] for r in rows) + 1
    H = max(r["head"] for r in rows) + 1
    fig = Figure(figsize=(1.0 + 0.75 * H, 0.9 + 0.55 * n))
    ax = fig.subplots()
    for r in rows:
        colour = KIND_COLOURS[r["kind"]]
        ax.add_patch(matplotlib.patches.Rectangle((r["head"] - 0.5, r["layer"] - 0.5), 1, 1, fc=colour, ec="white"))
        ax.text(
            r["head"], r["layer"], f"{r['kind']}\n{100 * r[r['decided_by']]:.0f}%", ha="center", va="center", fontsize=7
        )
    ax.set_xlim(-0.5, H - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xticks(range(H))
    ax.set_yticks(range(n))
    ax.set_xlabel("head")
    ax.set_ylabel("block L (blocks.L.attn.hook_pattern)")
    ax.set_title(title or "head classes (the score that decided)", fontsize=10)
    return _done(fig, path)


def plot_attention_pattern(pattern: dict[str, Any], path: PathLike = None) -> Figure:
    """One head's pattern over a game, rows (queries) and columns (keys) labelled with the moves, black's moves in
    black and white's in grey."""
    p = np.asarray(pattern["pattern"], dtype=float)
    T = len(p)
    fig = Figure(figsize=(2 + 0.22 * T, 1.6 + 0.22 * T))
    ax = fig.subplots()
    image = ax.imshow(p, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(T), pattern["labels"], rotation=90, fontsize=7)
    ax.set_yticks(range(T), pattern["labels"], fontsize=7)
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        for label, maker in zip(labels, pattern["makers"]):
            label.set_color("black" if maker == "black" else "grey")
    ax.set_xlabel("key (move read)")
    ax.set_ylabel("query (position)")
    _colorbar(fig, image, ax, "attention")
    block = pattern.get("block", pattern["layer"])
    ax.set_title(f"block {block} head {pattern['head']} (blocks.{block}.attn.hook_pattern)", fontsize=10)
    return _done(fig, path)


def plot_patching(summary: dict[str, Any], path: PathLike = None) -> Figure:
    """Patching grids: block x position for each position site, block x head for heads, on one colour scale
    whose label says what a value means (``summary["scale"]``: a share of the clean - corrupted gap, or the
    metric's change in its units where the gap is too small to normalise, with the warning in the title).
    Positions before the first one any patch moves are left out: both runs are identical there."""
    grids = _patching_grids(summary)
    peak = max(1.0 if summary.get("normalised", True) else 0.0, *(float(np.abs(g).max()) for g in grids.values()))
    peak = peak or 1.0
    first = _first_moved(grids)
    labels = summary["labels"]
    fig = Figure(figsize=(4.6 * len(grids) + 1, 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(grids)))
    for ax, (site, grid) in zip(axes, grids.items()):
        by_head = site == "head"
        shown = grid if by_head else grid[:, first:]
        image = ax.imshow(shown, cmap="RdBu_r", vmin=-peak, vmax=peak, aspect="auto")
        if by_head:
            ax.set_xticks(range(shown.shape[1]))
            ax.set_xlabel("head")
        else:
            ticks = labels[first:]
            ax.set_xticks(range(len(ticks)), ticks, rotation=90, fontsize=max(5, min(8, 240 // max(len(ticks), 1))))
            ax.set_xlabel(f"position (move read){f'; positions 0-{first - 1}: no effect' if first else ''}")
        ax.set_yticks(range(shown.shape[0]))
        ax.set_ylabel("block L")
        ax.set_title("blocks.L.attn.hook_z, one head" if by_head else f"blocks.L.hook_{site}", fontsize=10)
    bar = fig.colorbar(image, ax=list(axes), fraction=0.046)
    bar.set_label(summary.get("scale", "effect"), fontsize=8)
    title = (
        f"{summary['method']} patching: {summary['metric']} of {summary['move']} "
        f"(clean {summary['clean_metric']:.2f}, corrupted {summary['corrupt_metric']:.2f})"
    )
    if summary.get("warning"):
        title += (
            f"\nnot normalised: {summary['warning']}"
            if not summary.get("normalised", True)
            else f"\n{summary['warning']}"
        )
    fig.suptitle(title, fontsize=9)
    return _done(fig, path)


def _patching_grids(summary: dict[str, Any]) -> dict[str, np.ndarray]:
    """The summary's rows back into one grid per site: ``[blocks, positions]`` or ``[blocks, heads]``."""
    grids = {}
    for site in dict.fromkeys(r["site"] for r in summary["rows"]):
        mine = [r for r in summary["rows"] if r["site"] == site]
        column = "head" if site == "head" else "position"
        grid = np.zeros((max(r["layer"] for r in mine) + 1, max(r[column] for r in mine) + 1))
        for r in mine:
            grid[r["layer"], r[column]] = r["effect"]
        grids[site] = grid
    return grids


def _first_moved(grids: dict[str, np.ndarray]) -> int:
    """The first position where any position site's patch changes anything (0 when none do)."""
    moved = [np.flatnonzero(np.abs(g).max(0) > 1e-9) for s, g in grids.items() if s != "head"]
    found = [int(m[0]) for m in moved if len(m)]
    return min(found) if found else 0


def plot_logit_attribution(result: dict[str, Any], path: PathLike = None, top: int = 20, title: str = "") -> Figure:
    """The ``top`` components by the size of their direct contribution to the metric (bars, in logit units), with
    the metric and the model's value of it in the title."""
    rows = sorted(result["rows"], key=lambda r: -abs(r["logit"]))[:top][::-1]
    fig = Figure(figsize=(5.5, 0.5 + 0.25 * len(rows)))
    ax = fig.subplots()
    ax.barh(
        [r["component"] for r in rows],
        [r["logit"] for r in rows],
        color=["#1f77b4" if r["logit"] > 0 else "#d62728" for r in rows],
    )
    ax.axvline(0, color="black", lw=0.8)
    metric = result.get("metric", "logit")
    ax.set_xlabel(f"direct contribution to {metric} (logit units)")
    ax.set_title(title or f"direct logit attribution: {metric} = {result['logit']:.2f}", fontsize=10)
    return _done(fig, path)


def neuron_table_lines(rows: Sequence[dict[str, Any]], top: int = 20) -> list[str]:
    """The first ``top`` rows as aligned text: neuron, R^2, probe-subspace share where known, rule."""
    from othello.views.tables import render_text

    share = any("subspace_share" in r for r in rows)
    header = ["block", "neuron", "R^2"] + (["in probe span"] if share else []) + ["rule"]
    body = [
        [str(r.get("block", r["layer"])), str(r["neuron"]), f"{r['r2']:.2f}"]
        + ([f"{100 * r['subspace_share']:.0f}%"] if share else [])
        + [r["rule"]]
        for r in rows[:top]
    ]
    return render_text(header, body).splitlines()


def head_table_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    from othello.views.tables import pct, render_text

    header = ["block", "head", "kind", "mine", "theirs", "last", "first"]
    body = [
        [str(r.get("block", r["layer"])), str(r["head"]), r["kind"]]
        + [pct(r[f], 0) for f in ("mine_score", "theirs_score", "last_score", "first_score")]
        for r in rows
    ]
    return render_text(header, body).splitlines()
