"""Tables and JSON payloads: every text table the command line prints, the rows the report draws as HTML, and
the JSON the commands print, built from result rows and arrays (never computed here).

One builder per table: ``probe_grid`` is the probe table of ``othello-gpt probe``, the report and the demo's
summary; ``intervention_grid`` the intervention table of ``othello-gpt intervene-eval`` and the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "edit_scope",
    "render_text",
    "probe_columns",
    "probe_grid",
    "probe_best_lines",
    "intervention_grid",
    "best_intervention_line",
    "best_setting",
    "eval_lines",
    "demo_summary_lines",
    "pct",
]

Cell = Any


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage without the sign; empty for None."""
    return "" if x is None else f"{100 * x:.{digits}f}"


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text == ""


def render_text(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """A table as aligned plain text: columns of numbers right-aligned, the others left-aligned."""
    cells = [[str(h) for h in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    right = [all(_numeric(r[i]) for r in cells[1:]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right)).rstrip() for row in cells
    )


def edit_scope(row: dict[str, Any]) -> str:
    """What a benchmark row's edit writes: ``"square"`` (one-square reflection), ``"board"`` (the edited board,
    other squares from the real board) or ``"board as read"`` (other squares as the probe read them)."""
    if row["method"] == "linear" and not row.get("whole_board"):
        return "square"
    return "board as read" if row.get("keep") == "read" else "board"


# ------------------------------------------------------------------------------------------------ probes


def probe_columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The (model, label, kind) columns present in probe rows, trained before untrained, in the rows' order."""
    seen: list[tuple[str, str, str]] = []
    for model in ("trained", "untrained"):
        for r in rows:
            key = (model, r["label"], r["kind"])
            if r.get("model", "trained") == model and key not in seen:
                seen.append(key)
    return seen


def _column_name(model: str, label: str, kind: str) -> str:
    return f"{'whose turn' if label == 'next_mover' else label}, {kind}" + (
        "" if model == "trained" else " (untrained)"
    )


def probe_grid(rows: Sequence[dict[str, Any]], midgame: bool = False) -> tuple[list[str], list[list[Cell]]]:
    """The probe table: one row per layer, its hook, the accuracy (%) of each (model, label, kind) column, then
    the majority and by-ply baselines of each square labelling; with ``midgame``, also the linear probes'
    accuracy at positions 5..53 (where Nanda et al. score)."""
    columns = probe_columns(rows)
    labels = list(dict.fromkeys(r["label"] for r in rows))
    board_labels = [lab for lab in labels if any(r["label"] == lab and len(r["per_square"]) == 64 for r in rows)]
    index = {(r.get("model", "trained"), r["label"], r["kind"], r["layer"]): r for r in rows}
    header = ["layer", "hook"] + [_column_name(*c) for c in columns]
    if midgame:
        header += [f"{lab} linear, positions 5..53" for lab in board_labels]
    for lab in board_labels:
        header += [f"majority baseline {lab}", f"by-ply baseline {lab}"]
    body = []
    for layer in sorted({r["layer"] for r in rows}):
        any_row = next(r for r in rows if r["layer"] == layer)
        cells: list[Cell] = [layer, any_row["hook"]]
        cells += [pct(index[(*c, layer)]["accuracy"]) if (*c, layer) in index else "" for c in columns]
        if midgame:
            for lab in board_labels:
                r = index.get(("trained", lab, "linear", layer))
                cells.append(pct(r.get("midgame_accuracy")) if r else "")
        for lab in board_labels:
            r = next((r for r in rows if r["layer"] == layer and r["label"] == lab), None)
            cells += [pct(r["baseline"]) if r else "", pct(r.get("ply_baseline")) if r else ""]
        body.append(cells)
    return header, body


def probe_best_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Each column's best layer, with its accuracy at positions 5..53 and after a pass."""
    lines = []
    for model, label, kind in probe_columns(rows):
        sel = [r for r in rows if (r.get("model", "trained"), r["label"], r["kind"]) == (model, label, kind)]
        best = max(sel, key=lambda r: r["accuracy"])
        if best.get("midgame_accuracy") is None:
            continue
        after = best.get("after_pass_accuracy")
        lines.append(
            f"{label}/{kind}{'' if model == 'trained' else ' (untrained)'}: best layer {best['layer']}, "
            f"{pct(best['accuracy'])} % ({pct(best['midgame_accuracy'])} % at positions 5..53, as Nanda et al. "
            "score" + (f"; {pct(after)} % after a pass" if after is not None else "") + ")"
        )
    return lines


# ------------------------------------------------------------------------------------------ interventions

INTERVENTION_HEADER = [
    "data",
    "method",
    "writes",
    "layers",
    "scale",
    "positions",
    "cases",
    "error",
    "null",
    "error vs orig",
    "null vs orig",
    "moved right %",
]


def intervention_grid(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Cell]]]:
    """The intervention table: one row per benchmark row (data set x setting)."""
    return INTERVENTION_HEADER, [
        [
            r["data"],
            r["method"],
            edit_scope(r),
            r["layers"],
            "" if r["scale"] is None else f"{r['scale']:g}",
            r.get("positions", 1),
            r["cases"],
            f"{r['error']:.3f}",
            f"{r['null_error']:.3f}",
            f"{r['error_vs_original']:.3f}",
            f"{r['null_error_vs_original']:.3f}",
            pct(r["moved_right"]),
        ]
        for r in rows
    ]


def best_setting(
    rows: Sequence[dict[str, Any]], method: str, data: str = "synthetic", scope: str | None = None
) -> dict[str, Any] | None:
    """The row with the lowest error for ``method`` on ``data`` (and, given, what the edit writes: ``edit_scope``)."""
    sel = [r for r in rows if r["method"] == method and r["data"] == data and scope in (None, edit_scope(r))]
    return min(sel, key=lambda r: r["error"]) if sel else None


def best_intervention_line(rows: Sequence[dict[str, Any]]) -> str:
    best = min(rows, key=lambda r: r["error"])
    return (
        f"best: {best['method']} ({edit_scope(best)}) layers {best['layers']}"
        + (f" scale {best['scale']:g}" if best["scale"] else "")
        + f": error {best['error']:.3f} against {best['null_error']:.3f} without an edit ({best['cases']} cases)"
    )


# ------------------------------------------------------------------------------------------- evaluation


def eval_lines(result: dict[str, Any]) -> list[str]:
    """What ``othello-gpt eval`` prints for an ``evaluate`` result."""
    lines = [
        f"{result['games']} games, {result['positions']} positions: top-1 legal {pct(result['top1_legal'], 3)} %, "
        f"legal-set error {result['legal_set_error']:.4f}"
    ]
    for group, which in (
        ("after_pass_", "after a pass (the mover is not the one the move count names)"),
        ("pass_earlier_", "after an earlier pass (the board does not show who moves)"),
    ):
        if result[f"{group}positions"]:
            lines.append(
                f"  of which {result[f'{group}positions']} {which}: top-1 legal "
                f"{pct(result[f'{group}top1_legal'], 3)} %, legal-set error {result[f'{group}legal_set_error']:.4f}"
            )
    return lines


# ------------------------------------------------------------------------------------------------- demo


def demo_summary_lines(summary: dict[str, Any], best_rows: Sequence[dict[str, Any]]) -> list[str]:
    """The demo's final figures: legal-move rates, each probe's best layer beside its baselines and the untrained
    control, whose turn it is by layer, and ``best_rows`` (the best intervention setting of each method, data set
    and scope)."""
    lines = []
    for data, e in summary["eval"].items():
        after = (
            f"; after a pass ({e['after_pass_positions']} positions) {pct(e['after_pass_top1_legal'], 2)} %"
            if e.get("after_pass_positions")
            else ""
        )
        lines.append(
            f"legal moves ({data}, {e['games']} games): top-1 legal {pct(e['top1_legal'], 2)} %, "
            f"legal-set error {e['legal_set_error']:.3f}{after}"
        )
    rows = summary["probes"]["rows"]
    for label in ("relative", "colour"):
        for kind in ("linear", "mlp"):
            sel = [r for r in rows if r["label"] == label and r["kind"] == kind and r["model"] == "trained"]
            if not sel:
                continue
            best = max(sel, key=lambda r: r["accuracy"])
            control = [
                r
                for r in rows
                if r["label"] == label
                and r["kind"] == kind
                and r["model"] == "untrained"
                and r["layer"] == best["layer"]
            ]
            mid = best.get("midgame_accuracy")
            lines.append(
                f"probe {label:8} {kind:6}: best layer {best['layer']} {pct(best['accuracy'])} % "
                + (f"({pct(mid)} % at positions 5..53) " if mid is not None else "")
                + f"(majority baseline {pct(best['baseline'])} %, by-ply baseline {pct(best.get('ply_baseline'))} %"
                + (f", untrained model {pct(control[0]['accuracy'])} %)" if control else ")")
            )
    turn = sorted((r for r in rows if r["label"] == "next_mover" and r["model"] == "trained"), key=lambda r: r["layer"])
    if turn:
        lines.append(
            "probe whose turn (next_mover) linear, by layer: "
            + ", ".join(pct(r["accuracy"]) for r in turn)
            + f" % (by-ply baseline {pct(turn[0]['ply_baseline'])} %)"
        )
    for r in best_rows:
        lines.append(
            f"intervention {r['method']:8} ({r['data']}): writes {edit_scope(r)}, layers {r['layers']}"
            + (f", scale {r['scale']:g}" if r["scale"] is not None else "")
            + (f", last {r['positions']} positions" if r.get("positions", 1) > 1 else "")
            + f": error {r['error']:.2f} vs {r['null_error']:.2f} without an edit ({r['cases']} cases; "
            f"{pct(r['moved_right'], 0)} % of changed squares moved the right way)"
        )
    return lines


# Karvonen et al. (NeurIPS 2024), Othello, d_model 512: the published figures beside ours
SAE_PUBLISHED = {
    "coverage": "0.77 (TopK), 0.76 (Gated), 0.56 (standard); random model 0.43; MLP neurons 0.83",
    "reconstruction_f1": "about 0.95",
}


def sae_table(result: dict[str, Any]) -> tuple[list[str], list[list[Cell]]]:
    """An SAE's evaluation (``othello.sae.runs.evaluate_run``) as a table: one row per metric, a column per
    dictionary (the SAE, and with baselines the random-model SAE and the MLP neurons), then the published figures."""
    base = result.get("baselines") or {}
    columns = [("this SAE", result)] + [
        (name.replace("_", " "), base[name]) for name in ("random_model", "mlp_neurons") if base.get(name)
    ]
    metrics = [
        ("coverage (board)", "coverage", 3),
        ("coverage (mine / theirs)", "coverage_mine_theirs", 3),
        ("coverage (legal)", "coverage_legal", 3),
        ("coverage (flipped)", "coverage_flipped", 3),
        ("board reconstruction F1", "reconstruction_f1", 3),
        ("board reconstruction F1 (mine / theirs)", "reconstruction_f1_mine_theirs", 3),
        ("FVU", "fvu", 3),
        ("L0", "l0", 1),
        ("dead latents", "dead", 0),
        ("dense latents (>10 %)", "dense", 0),
        ("loss recovered", "loss_recovered", 3),
        ("top-1 legal, spliced", "top1_legal", 4),
    ]

    def cell(row: dict[str, Any], key: str, digits: int) -> str:
        value = row.get(key)
        return "" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    header = ["metric"] + [name for name, _ in columns] + ["published"]
    body: list[list[Cell]] = [
        [label] + [cell(row, key, d) for _, row in columns] + [SAE_PUBLISHED.get(key, "")] for label, key, d in metrics
    ]
    return header, body


def sae_notes(result: dict[str, Any]) -> list[str]:
    """The lines around the table: what was scored, the clean model, the probe baseline."""
    lines = [
        f"{result['arch']} SAE, {result['latents']} latents at {result['hook']}, {result['games']} held-out games "
        f"({result['tokens']:,} tokens)",
    ]
    if result.get("partial"):
        lines.append(
            f"partial: the run stopped after {result.get('trained_tokens') or 0:,} training tokens, before the end of "
            "its schedule (sae train --resume continues it)"
        )
    lines += [
        f"clean model: top-1 legal {result['top1_legal_clean']:.4f}, next-move loss {result['loss_clean']:.3f}; "
        f"spliced {result['loss_sae']:.3f}; mean-ablated {result['loss_ablated']:.3f}",
    ]
    probe = (result.get("baselines") or {}).get("probe")
    if probe:
        lines.append(
            f"linear probe at the same activations ({probe.get('hook', probe['site'])}, the probes' layer "
            f"{probe['layer']}): "
            f"{100 * probe['accuracy']:.1f} % of squares right"
        )
    return lines


def sae_table_lines(result: dict[str, Any]) -> list[str]:
    """``sae_table`` as text, between its notes."""
    notes = sae_notes(result)
    return notes[:1] + render_text(*sae_table(result)).splitlines() + notes[1:]


def transcoder_table_lines(table: dict[str, Any]) -> list[str]:
    """A transcoder set's table as text: per block its hooks' fit, sparsity and board coverage beside the same
    block's MLP neurons, then the whole set spliced in."""
    header = ["block", "FVU", "L0", "dead", "coverage", "(neurons)", "pieces", "(neurons)", "legal", "(neurons)"]
    body = []
    for block, e in sorted(table["blocks"].items(), key=lambda kv: int(kv[0])):
        n = e["neurons"]
        body.append(
            [str(block), f"{e['fvu']:.3f}", f"{e['l0']:.1f}", f"{e['dead']}/{e['latents']}"]
            + [
                f"{e[k]:.3f}" if j == 0 else f"{n[k]:.3f}"
                for k in ("coverage", "coverage_mine_theirs", "coverage_legal")
                for j in (0, 1)
            ]
        )
    recovered = table["loss_recovered"]
    return [
        f"transcoders on {table['games']} held-out games ({table['tokens']} positions); input "
        "blocks.L.ln2.hook_normalized, output blocks.L.hook_mlp_out; coverage: Karvonen et al.'s, best F1 per property",
        *render_text(header, body).splitlines(),
        f"all spliced at once (no error terms): top-1 legal {100 * table['top1_legal_spliced']:.2f} % "
        f"(clean {100 * table['top1_legal_clean']:.2f} %), next-move loss {table['loss_spliced']:.4f} "
        f"(clean {table['loss_clean']:.4f}, every MLP mean-ablated {table['loss_ablated']:.4f}); loss recovered "
        + ("n/a" if recovered is None else f"{recovered:.3f}"),
    ]


def graph_lines(summary: dict[str, Any]) -> list[str]:
    """An attribution graph's summary as text: the target, the scores, the strongest nodes, the supernodes."""
    lines = [
        f"logit({summary['move']}) after {summary['game']}: {summary['logit']:.3f} (p = {summary['probability']:.3f})",
        f"replacement score {summary['replacement']:.3f}, completeness score {summary['completeness']:.3f}; "
        f"{summary['kept_nodes']} of {summary['nodes']} nodes ({summary['latents']} active latents) and "
        f"{summary['kept_edges']} edges kept",
        "strongest nodes (influence on the logit):",
        *(f"  {t['influence']:.3f}  {t['node']}" for t in summary["top"]),
    ]
    if not summary["labelled"]:
        lines.append("(latents unlabelled: run othello-gpt transcoders eval on the set for their board labels)")
    for s in summary["supernodes"]:
        lines.append(f"supernode {s['name']}: {len(s['nodes'])} latents")
    return lines
