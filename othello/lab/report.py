"""One self-contained HTML page per run (images embedded), from what the run folder holds.

    ```python
    write_report("runs/demo")        # -> runs/demo/report.html
    ```

Reads ``summary.json`` (written by the demo: provenance, legal-move rates, probe and intervention rows,
figures); for a plain training folder (``config.json`` + ``metrics.jsonl``) it reports the configuration,
the curves and the last evaluation. Either gains a "Causal variables" section where the run folder holds
``causal/causal_bench.json`` (``othello-gpt causal-bench --out RUN/causal``).
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from othello.errors import OthelloError
from othello.files import write_text
from othello.train.loop import read_metrics
from othello.views.causal import causal_heading, causal_kind_table, causal_table
from othello.views.tables import intervention_grid, probe_grid, sae_notes, sae_table

CAUSAL_FILE = "causal/causal_bench.json"  # where `othello-gpt causal-bench --out RUN/causal` leaves its result

# published figures the tables are set beside (../shared/docs/REFERENCE.md)
PUBLISHED_PROBES = [
    ("linear, mine/theirs/empty, 8-layer Othello-GPT (Nanda et al.)", "layers 0 / 4 / 7: 90.9 / 99.0 / 99.5 %"),
    ("linear, black/white/empty, same model (Nanda et al.)", "layers 0 / 4 / 7: 62.2 / 75.0 / 74.4 %"),
    ("linear, mine/theirs, 4 layers d_model 512 (Hazineh et al.)", "layers 1..4: 90.8 -> 97.0 %"),
    (
        "MLP black/white, 8-layer synthetic model (Li et al.)",
        "error by layer 1..8: 11.3, 7.5, 4.8, 3.4, 2.4, 1.8, 1.7, 4.6 %",
    ),
]
PUBLISHED_INTERVENTIONS = [
    ("gradient on MLP probe, layers 4..8 (Li et al.)", "0.12", "2.68"),
    ("linear probe direction, blocks 2..7 (Nanda et al. code)", "about 0.10", "about 2.72"),
]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .82em; }
.wide { overflow-x: auto; max-width: 100%; }
td, th { border: 1px solid #ccc; padding: .25em .6em; text-align: right; } th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.figs figure { margin: 0; } figcaption { font-size: .85em; color: #555; max-width: 420px; }
img { max-width: 100%; border: 1px solid #eee; } .note { color: #555; font-size: .9em; }
code { background: #f5f5f5; padding: 0 .2em; }
"""


def _img(folder: Path, name: str | None, caption: str = "", width: int = 420) -> str:
    if not name or not (folder / name).exists():
        return ""
    data = base64.b64encode((folder / name).read_bytes()).decode()
    return (
        f'<figure><img src="data:image/png;base64,{data}" width="{width}" alt="{html.escape(caption or name)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    # a table wider than the page scrolls inside it instead of widening the page
    return f"<div class='wide'><table><tr>{head}</tr>{body}</table></div>"


def _probe_section(folder: Path, summary: dict[str, Any]) -> str:
    header, table = probe_grid(summary["probes"]["rows"], midgame=True)
    by_layer = (
        "accuracy by layer (dashed: majority baseline; dotted: by-ply baseline; faded dash-dot: the same probe "
        "on an untrained model)"
    )
    figs = summary.get("figures", {})
    squares = "".join(
        _img(folder, f, f"per-square accuracy, {name.replace('-', ', ')}, best layer", 300)
        for name, f in figs.get("squares", {}).items()
    )
    readouts = "".join(
        _img(folder, f, f"{label} probe read-out of a held-out game", 520)
        for label, f in figs.get("readouts", {}).items()
    )
    return (
        f"<h2>Probes</h2><p class='note'>Square accuracy (%) on held-out games; layer L = the residual stream "
        f"after block L-1 (0 = embeddings). Relative = empty / mine / theirs for the real next mover; colour = "
        f"empty / black / white. Majority baseline: each square's most common class; by-ply baseline: each "
        f"square's most common class at that ply, the best guess from the position alone (which an untrained "
        f"model's residual stream carries). Positions 5..53: the same probes scored only where Nanda et al. "
        f"fit and score theirs (the published linear figures below). Whose turn: a linear probe of the next "
        f"mover (black / white, passes included), the bit that turns the relative board into the colour one; "
        f"the parity of the position alone guesses it right except after a pass.</p>{_table(header, table)}"
        f"<p>Published, for comparison:</p>{_table(['probe', 'accuracy'], PUBLISHED_PROBES)}"
        f"<div class='figs'>{_img(folder, figs.get('probe_by_layer'), by_layer, 520)}</div>"
        f"<div class='figs'>{squares}</div><div class='figs'>{readouts}</div>"
    )


def _intervention_section(folder: Path, summary: dict[str, Any]) -> str:
    header, table = intervention_grid(summary["interventions"]["rows"])
    figs = summary.get("figures", {})
    errors = "".join(
        _img(folder, f, f"{m} edits: error by first edited layer (95 % intervals)", 460)
        for m, f in figs.get("intervention_errors", {}).items()
    )
    gallery = "".join(
        _img(
            folder, g["file"], f"{g['method']} {g['kind']}: {g['case']} (error {g['null_error']} -> {g['error']})", 360
        )
        for g in figs.get("gallery", [])
    )
    return (
        "<h2>Interventions</h2><p class='note'>Error = false positives + false negatives of the model's top-N "
        "moves (N = legal moves of the edited board) against the edited board's legal moves, averaged over "
        "cases; null = the same with no edit. Positions: the edit is applied at the last N positions where the square "
        "holds a disc (1 = the last position only, the papers' recipe). Writes: 'square' reflects the edited square "
        "alone (Nanda et al.); 'board' writes the whole edited board, every other square pulled to its class on the "
        "real board (so misread squares are corrected too); 'board as read' pulls them to what the probe read before "
        "the edit (Li et al.'s code). 'vs orig' scores against the unedited board. Moved right = of the "
        "squares whose legality the edit changes, the share whose probability moved the right way.</p>"
        + _table(header, table)
        + "<p>Published, for comparison:</p>"
        + _table(["method", "error", "null"], PUBLISHED_INTERVENTIONS)
        + f"<div class='figs'>{errors}</div><h3>Gallery: successes and failures</h3><div class='figs'>{gallery}</div>"
    )


def _circuits_section(folder: Path, c: dict[str, Any]) -> str:
    ab = c["ablation"]
    ratio = "n/a (the random control did not lower the rate)" if ab["ratio"] is None else f"{ab['ratio']:.1f}x"
    neurons = _table(
        ["neuron", "R^2", "in probe span", "rule"],
        [
            [
                f"block {r.get('block', r['layer'])} neuron {r['neuron']}",
                f"{r['r2']:.2f}",
                f"{100 * r.get('subspace_share', 0):.0f} %",
                r["rule"],
            ]
            for r in c["neurons"]
        ],
    )
    p = c["patching"]
    agreement = ", ".join(f"{k} {v:.2f}" for k, v in p["agreement"].items())
    kinds = ", ".join(f"{v} {k}" for k, v in c["head_kinds"].items())
    return (
        "<h2>Circuits</h2><p class='note'>Neurons of <code>blocks.{layer}.mlp.hook_post</code> over {games} held-out "
        "games: each neuron's rule is a regression tree of depth 4 over the board (each square empty / mine / theirs, "
        "flipped, legal, the last move), fitted on half the games and scored by R^2 on the other half; "
        "rule-explained = R^2 &gt;= 0.7.</p>".format(layer=c["layer"], games=c["games"])
        + f"<p>{c['explained']} rule-explained neurons ({100 * c['explained_share']:.1f} %); published: 913 of 2,048 "
        "at layer 5 of the d_model 512 model. Ablating them where their rules fire: top-1 legal "
        f"{100 * ab['clean_legal']:.2f} % -&gt; {100 * ab['rule_legal']:.2f} %; at as many random positions "
        f"{100 * ab['random_legal']:.2f} %; ratio of the drops {ratio} (published: 5-10x).</p>"
        + neurons
        + f"<p>Head classes over 500 games: {kinds}.</p>"
        + f"<p>Patching: clean <code>{html.escape(p['clean'])}</code>, corrupted <code>{html.escape(p['corrupt'])}"
        f"</code>, target {p['move']} (log-prob {p['clean_metric']:.2f} clean, {p['corrupt_metric']:.2f} "
        f"corrupted); attribution patching's agreement with it (Pearson r): {agreement}.</p>"
        + "<div class='figs'>"
        + _img(folder, "circuits_neuron.png", f"the layer's best-explained neuron: {c['example']['rule']}", 760)
        + _img(folder, "circuits_neuron_examples.png", "its top-activating positions (last move outlined)", 760)
        + _img(folder, "circuits_heads.png", "head classes (the score that decided)", 420)
        + _img(folder, "circuits_patching.png", "activation patching, 1 = restores the clean run", 900)
        + "</div>"
    )


def _sae_eval(folder: Path, summary: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The SAE table to show: ``RUN/sae/eval.json`` (an SAE trained and evaluated into the run), else, for the
    shipped model, the SAE shipped beside it."""
    from othello.model.checkpoints import SHIPPED_MODEL

    own = folder / "sae" / "eval.json"
    if own.exists():
        return json.loads(own.read_text()), str(own.parent)
    shipped = SHIPPED_MODEL / "sae" / "eval.json"
    if shipped.exists() and summary.get("provenance", {}).get("model") in (str(SHIPPED_MODEL), None):
        return json.loads(shipped.read_text()), "the SAE shipped beside the model"
    return None


def _sae_section(result: dict[str, Any], where: str) -> str:
    notes = sae_notes(result)
    return (
        "<h2>SAE features</h2><p class='note'>Karvonen et al.'s board metrics: a latent is on above t x its maximum; "
        "coverage = each property's best F1 over the latents, averaged, at the best t; board reconstruction = the "
        "properties of the latents with precision &gt;= 0.95 that are on, scored by F1 on held-out positions. "
        f"From {html.escape(where)}.</p><p>{html.escape(notes[0])}</p>"
        + _table(*sae_table(result))
        + "".join(f"<p>{html.escape(line)}</p>" for line in notes[1:])
    )


def _causal_section(folder: Path, result: dict[str, Any]) -> str:
    """The causal-variable benchmark of the run (``othello-gpt causal-bench --out RUN/causal``)."""
    header, body = causal_table(result, "all")
    kind_header, kinds = causal_kind_table(result)
    das = ", ".join(result["pairs"]["das_squares"])
    return (
        "<h2>Causal variables</h2><p class='note'>Interchange interventions: one square's state swapped in from "
        "another game at the same ply, at each method's site; IIA = the share of pairs whose top move is legal on "
        "the counterfactual board (the engine's), with its 95 % Wilson interval; decisive = the pairs where the "
        "unedited run's move is illegal there (it scores 0). DAS is fitted on the squares "
        f"{html.escape(das)} only: compare it on their pairs (docs/causal.md).</p>"
        f"<p>{html.escape(causal_heading(result))}</p>"
        + _table(header, body)
        + ("<p>IIA on the decisive pairs by kind of square (pairs):</p>" + _table(kind_header, kinds) if kinds else "")
        + f"<div class='figs'>{_img(folder, str(Path(CAUSAL_FILE).with_suffix('.png')), 'IIA by layer', 1000)}</div>"
    )


def write_report(folder: str | os.PathLike) -> Path:
    """Write ``folder/report.html`` from the run's files and return its path."""
    folder = Path(folder)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>othello-gpt: {html.escape(folder.name)}</title>"
        f"<style>{STYLE}</style></head><body><h1>othello-gpt run <code>{html.escape(str(folder))}</code></h1>"
    ]
    summary_path, config_path = folder / "summary.json", folder / "config.json"
    if summary_path.exists():
        parts += _read_run_file(summary_path, folder, _demo_sections)
    elif config_path.exists():
        parts += _read_run_file(config_path, folder, _training_sections)
    else:
        raise FileNotFoundError(f"{folder}: neither summary.json (a demo run) nor config.json (a training run)")
    if (folder / CAUSAL_FILE).exists():
        parts += _read_run_file(folder / CAUSAL_FILE, folder, lambda f, result: [_causal_section(f, result)])
    parts.append("</body></html>")
    path = folder / "report.html"
    write_text(path, "\n".join(parts))
    return path


def _read_run_file(path: Path, folder: Path, sections: Any) -> list[str]:
    """The report's sections from ``path`` (a demo's summary or a training run's config): a file that is not
    what ``demo`` or ``train`` wrote is one line naming it and the field, not a traceback."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise OthelloError(f"{path}: not a JSON file ({error})") from None
    try:
        return sections(folder, data)
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise OthelloError(
            f"{path}: field {error} missing or of the wrong type (not a file that demo or train wrote)"
        ) from None


def _demo_sections(folder: Path, summary: dict[str, Any]) -> list[str]:
    """Run, legal moves, probes, interventions, circuits and SAE, from a demo's ``summary.json``."""
    parts: list[str] = []
    prov = summary["provenance"]
    model = summary["model_config"]["model"]
    parts.append(
        "<h2>Run</h2>"
        + _table(["field", "value"], [[k, v] for k, v in prov.items()] + [[f"model.{k}", v] for k, v in model.items()])
    )
    train = summary["model_config"].get("train")
    if train:
        parts.append(
            "<details><summary>training configuration</summary>"
            + _table(["field", "value"], [[k, v] for k, v in train.items()])
            + "</details>"
        )
    figs = summary.get("figures", {})
    parts.append(
        "<h2>Legal moves</h2>"
        + _table(
            [
                "data",
                "games",
                "positions",
                "top-1 legal %",
                "legal-set error",
                "positions after a pass",
                "top-1 legal after a pass %",
            ],
            [
                [
                    d,
                    e["games"],
                    e["positions"],
                    f"{100 * e['top1_legal']:.2f}",
                    f"{e['legal_set_error']:.3f}",
                    e.get("after_pass_positions", ""),
                    f"{100 * e['after_pass_top1_legal']:.2f}" if e.get("after_pass_top1_legal") is not None else "",
                ]
                for d, e in summary["eval"].items()
            ],
        )
        + "<p class='note'>Published: top-1 illegal 0.01 % (synthetic 8-layer model, Li et al.); 99.6 % legal "
        "for a 4-layer 8-head d_model 512 model (Hazineh et al.).</p>"
        + f"<div class='figs'>{_img(folder, figs.get('curves'), 'training curves', 700)}</div>"
    )
    parts.append(_probe_section(folder, summary))
    parts.append(_intervention_section(folder, summary))
    if "circuits" in summary:
        parts.append(_circuits_section(folder, summary["circuits"]))
    sae_eval = _sae_eval(folder, summary)
    if sae_eval is not None:
        parts.append(_sae_section(*sae_eval))
    return parts


def _training_sections(folder: Path, config: dict[str, Any]) -> list[str]:
    """Configuration and validation, from a training run's ``config.json`` and ``metrics.jsonl``."""
    parts: list[str] = []
    parts.append(
        "<h2>Configuration</h2>"
        + _table(
            ["field", "value"],
            [[f"model.{k}", v] for k, v in config["model"].items()]
            + [[f"train.{k}", v] for k, v in (config.get("train") or {}).items()],
        )
    )
    metrics = read_metrics(folder)  # the one reader: a torn last line is dropped with a warning
    evals = [m for m in metrics if "val_top1_legal" in m]
    parts.append(
        "<h2>Validation</h2>"
        + (
            _table(
                ["step", "games", "top-1 legal %", "legal-set error"],
                [
                    [m["step"], m["games"], f"{100 * m['val_top1_legal']:.2f}", f"{m['val_legal_set_error']:.3f}"]
                    for m in evals[-10:]
                ],
            )
            if evals
            else "<p>No evaluation yet (the first comes at step "
            f"{(config.get('train') or {}).get('eval_every', '?')}).</p>"
        )
    )
    if not (folder / "curves.png").exists() and metrics:
        from othello.views.plots import plot_training_curves

        plot_training_curves(metrics, folder / "curves.png", folder.name)
    parts.append(f"<div class='figs'>{_img(folder, 'curves.png', 'training curves', 700)}</div>")
    return parts
