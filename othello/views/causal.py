"""The causal-variable benchmark as text and as a figure (``othello.causal.bench``'s result)."""

from __future__ import annotations

from typing import Any

from othello.views.plots import Figure, PathLike, _done
from othello.views.tables import render_text

__all__ = ["causal_table_lines", "plot_causal_bench"]


def _rows(result: dict[str, Any], squares: str) -> list[dict[str, Any]]:
    return [r for r in result["rows"] if r["squares"] == squares]


def causal_table_lines(result: dict[str, Any]) -> list[str]:
    """The leaderboard: per method and layer, IIA with its 95 % interval on every pair and on the decisive ones,
    the legal-set error, the share of changed moves that moved the right way, and the dimension or unit count;
    then the same on the DAS squares' pairs (decisive: those of them that are decisive)."""
    decisive = {
        squares: {(r["method"], r["layer"]): r for r in _rows(result, f"{prefix}decisive")}
        for squares, prefix in (("all", ""), ("das", "das "))
    }
    lines = [
        f"{result['pairs']['scoring']} scoring pairs (one square's state swapped in from another game at the same "
        f"ply; counterfactual legal moves from the engine); swap at {result['config']['positions']} position(s)",
    ]
    for squares, title in (
        ("all", "every pair"),
        ("das", f"the DAS squares' pairs ({', '.join(result['pairs']['das_squares'])})"),
    ):
        body = []
        for r in _rows(result, squares):
            d = decisive[squares].get((r["method"], r["layer"]))
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
        lines += ["", f"on {title}:"] + render_text(header + ["dims/units", "fit s"], body).splitlines()
    return lines


def plot_causal_bench(result: dict[str, Any], path: PathLike = None, squares: str = "decisive") -> Figure:
    """IIA by layer, one line per method, with 95 % intervals, on the ``squares`` pairs (default the decisive
    ones, where the base run scores 0) and on every pair."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, group in zip(axes, (squares, "all")):
        rows = _rows(result, group)
        for method in dict.fromkeys(r["method"] for r in rows if r["method"] != "none"):
            mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["layer"])
            x = [r["layer"] for r in mine]
            y = [r["iia"] for r in mine]
            err = [[r["iia"] - r["iia_low"] for r in mine], [r["iia_high"] - r["iia"] for r in mine]]
            ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=2, label=method)
        base = next((r for r in rows if r["method"] == "none"), None)
        if base is not None:
            ax.axhline(base["iia"], color="grey", ls="--", lw=1, label="no swap")
        layers = sorted({r["layer"] for r in rows if r["method"] != "none"})
        ax.set_xticks(layers)
        ax.set_xlim(min(layers, default=1) - 0.5, max(layers, default=1) + 0.5)
        ax.set_xlabel("layer L (blocks.L-1.hook_resid_post; neurons: blocks.L-1.mlp.hook_post)", fontsize=8)
        ax.set_ylabel("IIA (share: top move legal on the counterfactual board)", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        n = rows[0]["pairs"] if rows else 0
        ax.set_title(f"{'decisive pairs' if group == 'decisive' else 'every pair'} ({n})", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle("causal-variable benchmark: interchange interventions on one square's state", fontsize=10)
    return _done(fig, path)
