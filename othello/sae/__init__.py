"""Sparse dictionaries of the model's activations, scored by the board (Karvonen et al.): SAEs of one hook,
transcoders of each block's MLP, and the attribution graphs built on the transcoders.

- ``config``: ``SAEConfig`` (an SAE's shape), ``SAETrainConfig`` (its training recipe); no torch.
- ``autoencoder``: ``SparseAutoencoder`` (TopK or ReLU + L1), ``save_sae`` / ``load_sae`` in sae-lens's on-disk format.
- ``train``: ``train_sae`` (streamed from the model or an HDF5 activation file; resumable).
- ``evaluate``: ``evaluate_sae`` (reconstruction, downstream, coverage, board reconstruction),
  ``dictionary_metrics`` (any dictionary, the MLP neurons included).
- ``runs``: a run folder end to end: ``evaluate_run`` (with the baselines), ``feature_rows``, ``feature_page``.
- ``transcoders``: one transcoder per block (``train_transcoders``, ``load_transcoders``, ``spliced``,
  ``evaluate_transcoders``, ``export_circuit_tracer``).
- ``graph``: attribution graphs over the transcoders (``build_graph``, ``prune_graph``, ``graph_scores``,
  ``supernodes``, ``graph_json``).
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.sae.config": ["SAEConfig", "SAETrainConfig"],
        "othello.sae.autoencoder": ["SAEError", "SparseAutoencoder", "load_sae", "save_sae"],
        "othello.sae.train": ["train_sae", "read_train_state"],
        "othello.sae.evaluate": [
            "THRESHOLDS",
            "PROPERTY_NAMES",
            "board_properties",
            "dictionary_metrics",
            "evaluate_sae",
        ],
        "othello.sae.runs": ["EVAL_FIELDS", "evaluate_run", "feature_page", "feature_rows"],
        "othello.sae.transcoders": [
            "evaluate_transcoders",
            "export_circuit_tracer",
            "latent_labels",
            "load_transcoders",
            "save_evaluation",
            "spliced",
            "train_transcoders",
        ],
        "othello.sae.graph": [
            "AttributionGraph",
            "build_graph",
            "graph_json",
            "graph_scores",
            "graph_summary",
            "prune_graph",
            "supernodes",
        ],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.sae.autoencoder import SAEError, SparseAutoencoder, load_sae, save_sae
    from othello.sae.config import SAEConfig, SAETrainConfig
    from othello.sae.evaluate import PROPERTY_NAMES, THRESHOLDS, board_properties, dictionary_metrics, evaluate_sae
    from othello.sae.graph import (
        AttributionGraph,
        build_graph,
        graph_json,
        graph_scores,
        graph_summary,
        prune_graph,
        supernodes,
    )
    from othello.sae.runs import EVAL_FIELDS, evaluate_run, feature_page, feature_rows
    from othello.sae.train import read_train_state, train_sae
    from othello.sae.transcoders import (
        evaluate_transcoders,
        export_circuit_tracer,
        latent_labels,
        load_transcoders,
        save_evaluation,
        spliced,
        train_transcoders,
    )
