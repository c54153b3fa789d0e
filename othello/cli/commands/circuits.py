"""How the model computes its board: neurons, neuron, heads, attribute, patch: each one's arguments beside what it
does (the library: ``circuits``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from othello.cli import args as types
from othello.cli.args import command, dump, load_cli_model, model_flags, output_flags, show_progress
from othello.files import check_output_folder, write_csv, write_json
from othello.model.hooks import neuron_hook
from othello.probes.rules import RULE_DEPTH, RULE_R2

NEURON_FIELDS = ["layer", "neuron", "r2", "rule", "top_squares", "explained", "mean", "max", "subspace_share"]
HEAD_FIELDS = ["layer", "head", "kind", "mine_score", "theirs_score", "last_score", "first_score", "decided_by"]
PATCH_FIELDS = ["site", "layer", "position", "head", "effect"]


def _games(count: int) -> Any:
    from othello.data.seeds import CIRCUITS_SEED
    from othello.engine.games import random_games

    return random_games(count, CIRCUITS_SEED)


def _weights(model: Any, layer: int, progress: bool) -> Any:
    from othello.circuits.directions import neuron_weights

    return neuron_weights(model, layer, progress=progress)


def cmd_neurons(args: argparse.Namespace) -> None:
    from othello.circuits.neurons import neuron_profiles, rule_ablation
    from othello.views.circuits import neuron_table_lines

    if args.out:
        check_output_folder(args.out)
    model = load_cli_model(args)
    weights = None if args.no_weights else _weights(model, args.layer, show_progress(args))
    prof = neuron_profiles(
        model, args.layer, _games(args.games), depth=args.depth, weights=weights, progress=show_progress(args)
    )
    rows = prof.rows()
    key = "subspace_share" if args.sort == "share" and weights is not None else "r2"
    rows.sort(key=lambda r: -r[key])
    summary: dict[str, Any] = {
        "block": args.layer,
        "hook": neuron_hook(args.layer),
        "layer": args.layer,
        "neurons": len(rows),
        "games": args.games,
        "depth": args.depth,
        "explained": sum(r["explained"] for r in rows),
        "explained_share": prof.explained_share(),
        "ablation": None,
    }
    if args.ablate:
        from othello.data.seeds import EVAL_SEED
        from othello.engine.games import random_games

        summary["ablation"] = rule_ablation(
            model, prof, random_games(args.ablate_games, EVAL_SEED), progress=show_progress(args)
        )
    if args.out:
        out = Path(args.out)
        write_json(out / "neuron_rows.json", {**summary, "rows": rows})
        write_csv(out / "neuron_table.csv", rows, NEURON_FIELDS)
    if args.json:
        dump({**summary, "rows": rows})
        return
    print(
        f"{summary['hook']}: {summary['explained']} of {len(rows)} neurons rule-explained "
        f"(held-out R^2 >= {RULE_R2}, trees of depth {args.depth}, {args.games} games)"
    )
    print("\n".join(neuron_table_lines(rows, args.top)))
    ab = summary["ablation"]
    if ab:
        ratio = "n/a" if ab["ratio"] is None else f"{ab['ratio']:.1f}x"
        print(
            f"ablating the {ab['neurons']} rule-explained neurons ({ab['ablation']}): top-1 legal "
            f"{100 * ab['clean_legal']:.2f}% clean, {100 * ab['rule_legal']:.2f}% where their rules fire, "
            f"{100 * ab['random_legal']:.2f}% at as many random positions (ratio of drops {ratio})"
        )


def cmd_neuron(args: argparse.Namespace) -> None:
    from othello.circuits.neuron_cache import cached_neuron_pages
    from othello.views.circuits import plot_neuron, plot_neuron_examples

    if args.out:
        check_output_folder(args.out)
    model = load_cli_model(args)
    if not 0 <= args.neuron < model.cfg.d_mlp:
        from othello.errors import ConfigError

        raise ConfigError(f"neuron {args.neuron} is out of range 0..{model.cfg.d_mlp - 1}")
    weights = None if args.no_weights else _weights(model, args.layer, show_progress(args))
    # the whole block once, then every neuron of it from the cache (othello.circuits.neuron_cache)
    pages = cached_neuron_pages(
        model, args.layer, _games(args.games), args.depth, weights=weights, progress=show_progress(args)
    )
    page = pages.page(args.neuron)
    if args.out:
        out = Path(args.out)
        name = f"neuron_L{args.layer}N{args.neuron}"
        write_json(out / f"{name}.json", page)
        plot_neuron(page, out / f"{name}.png")
        plot_neuron_examples(page, out / f"{name}_examples.png")
    if args.json:
        dump(page)
        return
    print(
        f"block {args.layer} neuron {args.neuron} ({page['hook']}): R^2 {page['r2']:.2f} (held-out), "
        f"mean {page['mean']:.3f}, max {page['max']:.3f}"
    )
    print(f"rule: {page['rule']}")
    if "subspace_share" in page:
        print(f"input weights in the probe span: {100 * page['subspace_share']:.0f}%")
    for ex in page["examples"][:5]:
        print(f"  {ex['activation']:7.3f}  game {ex['game']}, after: {ex['moves']}")
    if args.out:
        print(f"wrote {args.out}")


def cmd_heads(args: argparse.Namespace) -> None:
    from othello.circuits.heads import head_pattern, head_scores
    from othello.views.circuits import head_table_lines, plot_attention_pattern, plot_head_classes

    if args.out:
        check_output_folder(args.out)
    model = load_cli_model(args)
    if args.pattern:
        if not args.game:
            from othello.errors import ConfigError

            raise ConfigError("--pattern L.H draws one head over a game: give it with --game 'f5 d6 c3 ...'")
        layer, head = args.pattern
        pattern = head_pattern(model, args.game, layer, head)
        if args.out:
            plot_attention_pattern(pattern, Path(args.out) / f"pattern_{layer}_{head}.png")
        payload = {**pattern, "pattern": pattern["pattern"].round(4).tolist()}
        if args.json:
            dump(payload)
        else:
            print(f"head {layer}.{head} over {args.game}: each position's three most-attended moves")
            for q, row in enumerate(payload["pattern"]):
                best = sorted(range(len(row)), key=lambda k: -row[k])[:3]
                print(
                    f"  {q:2d} {pattern['labels'][q]}: "
                    + ", ".join(f"{pattern['labels'][k]} {row[k]:.2f}" for k in best)
                )
        return
    rows = head_scores(model, _games(args.games))
    if args.out:
        out = Path(args.out)
        write_json(out / "head_rows.json", rows)
        write_csv(out / "head_table.csv", rows, HEAD_FIELDS)
        plot_head_classes(rows, out / "head_classes.png")
    if args.json:
        dump(rows)
        return
    print("\n".join(head_table_lines(rows)))


def cmd_attribute(args: argparse.Namespace) -> None:
    from othello.circuits.attribution import direct_logit_attribution
    from othello.views.circuits import plot_logit_attribution

    if args.out:
        check_output_folder(args.out)
    result = direct_logit_attribution(load_cli_model(args), args.game, args.move, args.position, args.against)
    if args.out:
        write_json(Path(args.out) / "attribution.json", result)
        plot_logit_attribution(result, Path(args.out) / "attribution.png")
    if args.json:
        dump(result)
        return
    print(
        f"{result['metric']}: {result['logit']:.3f} (the components' direct contributions sum to {result['total']:.3f})"
    )
    for r in sorted(result["rows"], key=lambda r: -abs(r["logit"]))[: args.top]:
        print(f"  {r['component']:>10} {r['logit']:+8.3f}")


def cmd_patch(args: argparse.Namespace) -> None:
    from othello.circuits.patching import activation_patching, attribution_patching, patching_agreement
    from othello.views.circuits import plot_patching

    if args.out:
        check_output_folder(args.out)
    model = load_cli_model(args)
    sites = ("head",) if args.by == "head" else ("resid_pre", "attn_out", "mlp_out")
    results = {}
    if args.method in ("activation", "both"):
        results["activation"] = activation_patching(model, args.clean, args.corrupt, args.move, sites, args.metric)
    if args.method in ("attribution", "both"):
        results["attribution"] = attribution_patching(model, args.clean, args.corrupt, args.move, sites, args.metric)
    payload = {name: r.summary() for name, r in results.items()}
    if len(results) == 2:
        payload["agreement"] = patching_agreement(results["activation"], results["attribution"])
    if args.out:
        out = Path(args.out)
        for name, summary in payload.items():
            if name != "agreement":
                write_json(out / f"patching_{name}.json", summary)
                write_csv(out / f"patching_{name}.csv", summary["rows"], PATCH_FIELDS)
                plot_patching(summary, out / f"patching_{name}.png")
    if args.json:
        dump(payload)
        return
    for name, summary in payload.items():
        if name == "agreement":
            print(
                "agreement of attribution with activation patching (Pearson r): "
                + ", ".join(f"{k} {v:.2f}" for k, v in summary.items())
            )
            continue
        print(
            f"{name} patching, {summary['metric']} of {summary['move']}: clean {summary['clean_metric']:.3f}, "
            f"corrupted {summary['corrupt_metric']:.3f}; largest effects, as the {summary['scale']}:"
        )
        if summary["warning"]:
            print(f"  note: {summary['warning']}")
        for r in sorted(summary["rows"], key=lambda r: -abs(r["effect"]))[:8]:
            where = (
                f"head {r['layer']}.{r['head']}"
                if r["head"] is not None
                else (f"block {r['layer']}, position {r['position']} ({summary['labels'][r['position']]})")
            )
            print(f"  {r['site']:>9} {where}: {r['effect']:+.3f}")


def add_commands(sub: Any) -> None:
    """Add this family's commands to the subparsers ``sub``."""
    p = command(sub, "neurons", cmd_neurons, "every MLP neuron of a layer: rules, R^2, probe-subspace share")
    model_flags(p)
    p.add_argument("--layer", type=types.non_negative_int, required=True, help="block L (blocks.L.mlp.hook_post)")
    p.add_argument("--games", type=types.bounded_int(2), default=2000, help="held-out games (half fit, half score)")
    p.add_argument("--depth", type=types.bounded_int(1, 8), default=RULE_DEPTH, help="depth of each neuron's rule tree")
    p.add_argument("--top", type=types.positive_int, default=20, help="rows printed")
    p.add_argument("--sort", choices=["r2", "share"], default="r2", help="order by R^2 or by probe-subspace share")
    p.add_argument("--no-weights", action="store_true", help="skip the probe-basis weights (no probes needed)")
    p.add_argument("--ablate", action="store_true", help="also ablate the rule-explained neurons (the causal check)")
    p.add_argument("--ablate-games", type=types.positive_int, default=500, help="games the ablation scores")
    p.add_argument("--out", default=None, help="folder for neuron_rows.json and neuron_table.csv")
    output_flags(p)

    p = command(sub, "neuron", cmd_neuron, "one neuron's page: heatmaps, rule, top positions, weights")
    model_flags(p)
    p.add_argument("layer", type=types.non_negative_int, help="block L (blocks.L.mlp.hook_post)")
    p.add_argument("neuron", type=types.non_negative_int, help="the neuron's index in the block")
    p.add_argument("--games", type=types.bounded_int(2), default=2000, help="held-out games the profiles use")
    p.add_argument("--depth", type=types.bounded_int(1, 8), default=RULE_DEPTH, help="the rule trees' depth")
    p.add_argument("--no-weights", action="store_true", help="skip the probe-basis weights (no probes needed)")
    p.add_argument("--out", default=None, help="folder for the page's JSON and PNGs")
    output_flags(p)

    p = command(sub, "heads", cmd_heads, "classify every attention head (mine / theirs / last / other)")
    model_flags(p)
    p.add_argument("--games", type=types.positive_int, default=500, help="games the head scores average over")
    p.add_argument("--pattern", type=types.head_id, default=None, help="instead: one head's pattern over --game (L.H)")
    types.game_flags(p, required=False, help="the move prefix for --pattern")
    p.add_argument("--out", default=None, help="folder for head_rows.json, head_table.csv and the figures")
    output_flags(p)

    p = command(sub, "attribute", cmd_attribute, "direct logit attribution of a move to every head and MLP")
    model_flags(p)
    types.game_flags(p)
    p.add_argument("--move", required=True, help="the move whose logit is split, e.g. c4")
    p.add_argument(
        "--against", default=None, help="split the logit difference of --move minus this move instead, e.g. d3"
    )
    p.add_argument("--position", type=int, default=-1, help="the position read (default: the last)")
    p.add_argument("--top", type=types.positive_int, default=12, help="rows printed")
    p.add_argument("--out", default=None, help="folder for attribution.json and attribution.png")
    output_flags(p)

    p = command(sub, "patch", cmd_patch, "activation (and attribution) patching between a clean and a corrupted game")
    model_flags(p)
    p.add_argument("--clean", required=True, help="the clean move prefix")
    p.add_argument("--corrupt", required=True, help="the corrupted prefix, the same length")
    p.add_argument("--move", required=True, help="the target move at the last position, e.g. c4")
    p.add_argument(
        "--by",
        choices=["layer,position", "head"],
        default="layer,position",
        help="patch each (layer, position) or each head",
    )
    p.add_argument(
        "--metric", choices=["log_prob", "logit"], default="log_prob", help="what the target move's score is"
    )
    p.add_argument(
        "--method",
        choices=["activation", "attribution", "both"],
        default="activation",
        help="activation patching, its gradient estimate, or both",
    )
    p.add_argument("--out", default=None, help="folder for the grids (JSON, CSV) and their heatmaps")
    output_flags(p)
