"""Sparse autoencoders of the residual stream, scored by the board (Karvonen et al.).

- ``config``: ``SAEConfig`` (an SAE's shape), ``SAETrainConfig`` (its training recipe); no torch.
- ``autoencoder``: ``SparseAutoencoder`` (TopK or ReLU + L1), ``save_sae`` / ``load_sae`` in sae-lens's on-disk format.
- ``train``: ``train_sae`` (streamed from the model or an HDF5 activation file; resumable).
- ``evaluate``: ``evaluate_sae`` (reconstruction, downstream, coverage, board reconstruction),
  ``dictionary_metrics`` (any dictionary, the MLP neurons included).
- ``runs``: a run folder end to end: ``evaluate_run`` (with the baselines), ``feature_rows``, ``feature_page``.
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
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.sae.autoencoder import SAEError, SparseAutoencoder, load_sae, save_sae
    from othello.sae.config import SAEConfig, SAETrainConfig
    from othello.sae.evaluate import PROPERTY_NAMES, THRESHOLDS, board_properties, dictionary_metrics, evaluate_sae
    from othello.sae.runs import EVAL_FIELDS, evaluate_run, feature_page, feature_rows
    from othello.sae.train import read_train_state, train_sae
