"""How the model computes its board: the probe basis, neurons, heads, attribution and patching.

- ``directions``: each square's probe directions (``probe_directions``), what each component writes along them
  (``probe_attribution``) and the MLP neurons' weights in that basis (``neuron_weights``).
- ``neurons``: every neuron of a layer over held-out games: board heatmaps, top positions, an automatic rule (a
  regression tree on board features, scored by held-out R^2) and the ablation check (``neuron_profiles``,
  ``rule_ablation``).
- ``rules``: the rule trees' depth and the R^2 from which a neuron counts as rule-explained (``RULE_DEPTH``,
  ``RULE_R2``), shared by the library, the command line and the explorer.
- ``heads``: where each head looks (the mover's moves, the other player's, the last move) and its class
  (``head_scores``, ``head_pattern``).
- ``attribution``: direct logit attribution of a move to every head and MLP (``direct_logit_attribution``).
- ``patching``: activation patching and its gradient approximation on TransformerLens hooks
  (``activation_patching``, ``attribution_patching``).
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.circuits.directions": [
            "DIRECTIONS",
            "directions_from_probes",
            "neuron_weights",
            "probe_attribution",
            "probe_directions",
        ],
        "othello.circuits.neurons": ["NeuronProfiles", "neuron_profiles", "rule_ablation", "neuron_page"],
        "othello.probes.trees": ["FEATURES", "board_features", "fit_rules"],
        "othello.probes.rules": ["MIN_LEAF", "RULE_DEPTH", "RULE_R2"],
        "othello.circuits.heads": ["HEAD_KINDS", "classify_head", "head_pattern", "head_scores", "attention_scores"],
        "othello.circuits.attribution": ["average_logit_attribution", "direct_logit_attribution", "logit_components"],
        "othello.circuits.patching": [
            "PATCH_SITES",
            "Patching",
            "activation_patching",
            "attribution_patching",
            "patching_agreement",
            "corrupted_games",
            "patching_pair",
        ],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.circuits.attribution import average_logit_attribution, direct_logit_attribution, logit_components
    from othello.circuits.directions import (
        DIRECTIONS,
        directions_from_probes,
        neuron_weights,
        probe_attribution,
        probe_directions,
    )
    from othello.circuits.heads import HEAD_KINDS, attention_scores, classify_head, head_pattern, head_scores
    from othello.circuits.neurons import NeuronProfiles, neuron_page, neuron_profiles, rule_ablation
    from othello.circuits.patching import (
        PATCH_SITES,
        Patching,
        activation_patching,
        attribution_patching,
        corrupted_games,
        patching_agreement,
        patching_pair,
    )
    from othello.probes.rules import MIN_LEAF, RULE_DEPTH, RULE_R2
    from othello.probes.trees import FEATURES, board_features, fit_rules
