"""Reading and editing the board inside the model.

- ``targets``: what a probe should read at each position (``board_labels``, ``CLASSES``).
- ``activations``: hook points -> arrays (``collect_activations``, in memory or streamed to HDF5).
- ``config``: ``ProbeConfig``, how a probe is trained (torch-free).
- ``fit``: linear and MLP probes for all 64 squares at once (``fit_probe``, ``unit_directions``).
- ``layers``: probes on every layer (``probe_accuracy_by_layer``, ``fit_probes_by_layer``, ``read_board``).
- ``store``: fitted probes on disk, beside the shipped model or in the user's cache (``layer_probes``).
- ``trees`` (settings in ``rules``): rule trees, activations explained by the board's features (neurons, latents).
- ``interventions``: editing the board in the residual stream, and the benchmark.
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.probes.activations": ["collect_activations", "iter_activations"],
        "othello.probes.config": ["ProbeConfig"],
        "othello.probes.fit": ["LinearProbe", "MLPProbe", "fit_probe", "predict", "unit_directions"],
        "othello.probes.layers": ["fit_probes_by_layer", "probe_accuracy_by_layer", "read_board"],
        "othello.probes.store": [
            "layer_probes",
            "load_probe",
            "model_fingerprint",
            "save_probe",
            "stored_probe_rows",
            "stored_probes",
        ],
        "othello.probes.targets": ["CLASSES", "TARGETS", "board_labels"],
        "othello.probes.trees": ["FEATURES", "RuleTrees", "board_features", "fit_rules"],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.probes.activations import collect_activations, iter_activations
    from othello.probes.config import ProbeConfig
    from othello.probes.fit import LinearProbe, MLPProbe, fit_probe, predict, unit_directions
    from othello.probes.layers import fit_probes_by_layer, probe_accuracy_by_layer, read_board
    from othello.probes.store import (
        layer_probes,
        load_probe,
        model_fingerprint,
        save_probe,
        stored_probe_rows,
        stored_probes,
    )
    from othello.probes.targets import CLASSES, TARGETS, board_labels
    from othello.probes.trees import FEATURES, RuleTrees, board_features, fit_rules
