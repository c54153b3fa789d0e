"""Views: pictures and tables of what the library computed. A view takes rows and arrays and never computes.

- ``plots``: matplotlib figures (boards with discs and heatmaps, accuracy by layer, intervention panels, curves).
- ``tables``: the tables the commands print and the report draws as HTML (probes, interventions, evaluation).
- ``position``: one position as text and JSON (the board, next-move probabilities, a read-out, an edit).
- ``circuits``: a neuron's page, rule shares, head classes, patching grids, logit attribution.
- ``sae``: an SAE latent's page (F1 maps, decoder against the probe directions, top positions).
- ``causal``: the causal-variable benchmark's leaderboard, its breakdown by kind of square, IIA by layer.
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.views.plots": [
            "draw_board",
            "plot_accuracy_by_layer",
            "plot_square_accuracy",
            "plot_training_curves",
            "plot_move_probabilities",
            "plot_intervention",
            "plot_intervention_errors",
            "plot_probe_readout",
            "probe_readout_discs",
        ],
        "othello.views.tables": ["edit_scope", "render_text", "probe_grid", "intervention_grid"],
        "othello.views.circuits": [
            "plot_neuron",
            "plot_neuron_examples",
            "plot_rule_share",
            "plot_head_classes",
            "plot_attention_pattern",
            "plot_patching",
            "plot_logit_attribution",
        ],
        "othello.views.sae": ["plot_feature"],
        "othello.views.causal": ["causal_table", "causal_kind_table", "causal_table_lines", "plot_causal_bench"],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.views.causal import causal_kind_table, causal_table, causal_table_lines, plot_causal_bench
    from othello.views.circuits import (
        plot_attention_pattern,
        plot_head_classes,
        plot_logit_attribution,
        plot_neuron,
        plot_neuron_examples,
        plot_patching,
        plot_rule_share,
    )
    from othello.views.plots import (
        draw_board,
        plot_accuracy_by_layer,
        plot_intervention,
        plot_intervention_errors,
        plot_move_probabilities,
        plot_probe_readout,
        plot_square_accuracy,
        plot_training_curves,
        probe_readout_discs,
    )
    from othello.views.sae import plot_feature
    from othello.views.tables import edit_scope, intervention_grid, probe_grid, render_text
