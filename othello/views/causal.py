"""The causal-variable benchmark as text and as a figure (``othello.causal.bench``'s result)."""

from __future__ import annotations

from typing import Any

from othello.views.plots import Figure, PathLike, _done
from othello.views.tables import render_text

__all__ = ["causal_table", "causal_kind_table", "causal_heading", "causal_table_lines", "plot_causal_bench"]


def _rows(result: dict[str, Any], squares: str) -> list[dict[str, Any]]:
    return [r for r in result["rows"] if r["squares"] == squares]


def causal_table(result: dict[str, Any], squares: str = "all") -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the leaderboard on the ``squares`` pairs (``"all"`` or ``"das"``): per method and layer,
    IIA with its 95 % interval there and on its decisive pairs, the legal-set error, the share of changed moves
    that moved the right way, the dimension or unit count and the fit time."""
    prefix = "" if squares == "all" else f"{squares} "
    decisive = {(r["method"], r["layer"]): r for r in _rows(result, f"{prefix}decisive")}
    body = []
    for r in _rows(result, squares):
        d = decisive.get((r["method"], r["layer"]))
        body.append(
            [
                r["method"],
                str(r["layer"]) if r["method"] != "none" else "-",
                r["hook"] or "-",
                f"{r['iia']:.3f} [{r['iia_low']:.3f}, {r['iia_high']:.3f}]",
                f"{d['iia']:.3f} ({d['pairs']})" if d else "",
                f"{r['legal_set_error']:.2f}",
                f"{r['moved_right']:.2f}",
                f"{r['size']:.1f}",
                f"{r['fit_seconds']:.0f}",
            ]
        )
    header = ["method", "layer", "hook", "IIA [95 %]", "IIA decisive", "legal-set error", "moved right"]
    return header + ["dims/units", "fit s"], body


def causal_kind_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): IIA on the decisive pairs of each kind of square (corner, X, C, edge, ring, centre; the
    header gives each kind's pair count), per method and layer; no rows where the result has no kinds."""
    prefix = "decisive "
    kinds = [
        r["squares"][len(prefix) :] for r in result["rows"] if r["method"] == "none" and r["squares"].startswith(prefix)
    ]
    by = {(r["method"], r["layer"], r["squares"]): r for r in result["rows"]}
    counts = [by[("none", 0, f"{prefix}{k}")]["pairs"] for k in kinds]
    body = [
        [r["method"], str(r["layer"])] + [f"{by[(r['method'], r['layer'], prefix + k)]['iia']:.2f}" for k in kinds]
        for r in _rows(result, "decisive")
        if r["method"] != "none" and kinds
    ]
    return ["method", "layer"] + [f"{k} ({n})" for k, n in zip(kinds, counts)], body


def causal_heading(result: dict[str, Any]) -> str:
    return (
        f"{result['pairs']['scoring']} scoring pairs (one square's state swapped in from another game at the same "
        f"ply; counterfactual legal moves from the engine); swap at {result['config']['positions']} position(s)"
    )


def causal_table_lines(result: dict[str, Any]) -> list[str]:
    """The leaderboard as text: on every pair, on the DAS squares' pairs, and by kind of square."""
    lines = [causal_heading(result)]
    das = f"the DAS squares' pairs ({', '.join(result['pairs']['das_squares'])})"
    for squares, title in (("all", "every pair"), ("das", das)):
        lines += ["", f"on {title}:"] + render_text(*causal_table(result, squares)).splitlines()
    header, body = causal_kind_table(result)
    if body:
        lines += ["", "IIA on the decisive pairs by kind of square (pairs):"] + render_text(header, body).splitlines()
    return lines


COLOURS = [f"C{i}" for i in range(10)] + ["black", "goldenrod", "navy", "lime"]  # 14 methods apart
PANELS = (
    ("decisive", "decisive pairs", False),
    ("das decisive", "the DAS squares' decisive pairs", True),
    ("all", "every pair", False),
)


def plot_causal_bench(result: dict[str, Any], path: PathLike = None) -> Figure:
    """IIA by layer, one line per method, with 95 % intervals: on the decisive pairs (where the base run scores 0)
    and on every pair, each method but DAS (fitted on its squares only: elsewhere its swap is empty); and DAS
    against the probe's and the random plane on the DAS squares' decisive pairs."""
    fig = Figure(figsize=(15, 4.2), layout="constrained")
    axes = fig.subplots(1, len(PANELS))
    methods = dict.fromkeys(r["method"] for r in result["rows"] if r["method"] != "none")
    colour = {method: COLOURS[i % len(COLOURS)] for i, method in enumerate(methods)}  # a method's in every panel
    legend: dict[str, Any] = {}
    for ax, (group, title, das_panel) in zip(axes, PANELS):
        rows = [r for r in _rows(result, group) if r["method"] != "none"]
        if das_panel:
            rows = [r for r in rows if r["method"].startswith(("das", "probe", "random"))]
        else:
            rows = [r for r in rows if not r["method"].startswith("das")]
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["layer"])
            err = [[r["iia"] - r["iia_low"] for r in mine], [r["iia_high"] - r["iia"] for r in mine]]
            legend[method] = ax.errorbar(
                [r["layer"] for r in mine],
                [r["iia"] for r in mine],
                yerr=err,
                marker="o",
                ms=4,
                capsize=2,
                label=method,
                color=colour[method],
            )
        base = next((r for r in _rows(result, group) if r["method"] == "none"), None)
        if base is not None:
            legend["no swap"] = ax.axhline(base["iia"], color="grey", ls="--", lw=1, label="no swap")
        layers = sorted({r["layer"] for r in rows})
        ax.set_xticks(layers)
        ax.set_xlim(min(layers, default=1) - 0.5, max(layers, default=1) + 0.5)
        ax.set_xlabel("layer L (the stream after block L-1; neurons, transcoder: block L-1's MLP)", fontsize=8)
        ax.set_ylabel("IIA (share of pairs: top move legal on the counterfactual board)", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{title} ({base['pairs'] if base else 0})", fontsize=9)
    fig.legend(list(legend.values()), list(legend), loc="outside right upper", fontsize=7)
    fig.suptitle(
        f"causal-variable benchmark: one square's state swapped at the {result['config']['positions']} position(s), "
        f"{result['pairs']['scoring']} scoring pairs",
        fontsize=10,
    )
    return _done(fig, path)
