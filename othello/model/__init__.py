"""The model that learns Othello: a TransformerLens ``TransformerBridge`` and everything about it.

- ``config``: ``ModelConfig``, ``PRESETS``, ``preset`` (no torch needed).
- ``transformer``: ``build_model``, the TransformerLens bridge.
- ``hooks``: hook names and what "layer L" means (``residual_hook``, ``layer_hook``, ``hook_name``).
- ``tokens``: moves in, logits out (``to_tokens``, ``model_inputs``, ``move_logits``, ``move_probabilities``,
  ``position_labels`` for CircuitsVis-style views).
- ``checkpoints``: checkpoint folders (``load_model``, ``save_model``, ``SHIPPED_MODEL``); no pickle anywhere.
- ``convert``: the published checkpoints' layouts into a checkpoint folder, and ours out as a HookedTransformer.
- ``pool``: ``ModelPool``, copies of one model lent to one caller at a time (threads never share hooks).
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.model.checkpoints": [
            "SHIPPED_MODEL",
            "CheckpointError",
            "load_model",
            "read_run_config",
            "save_model",
        ],
        "othello.model.convert": ["convert_checkpoint", "export_hooked", "hooked_config", "to_hooked"],
        "othello.model.hooks": ["SITES", "HookKind", "hook_name", "layer_hook", "residual_hook"],
        "othello.model.tokens": [
            "PrefixError",
            "check_game",
            "check_prefix",
            "legal_token_mask",
            "model_inputs",
            "move_logits",
            "move_probabilities",
            "position_labels",
            "square_probabilities",
            "to_tokens",
        ],
        "othello.model.config": ["PRESETS", "ModelConfig", "preset"],
        "othello.model.pool": ["ModelPool"],
        "othello.model.transformer": ["build_model", "untrained_like"],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.model.checkpoints import SHIPPED_MODEL, CheckpointError, load_model, read_run_config, save_model
    from othello.model.config import PRESETS, ModelConfig, preset
    from othello.model.convert import convert_checkpoint, export_hooked, hooked_config, to_hooked
    from othello.model.hooks import SITES, HookKind, hook_name, layer_hook, residual_hook
    from othello.model.pool import ModelPool
    from othello.model.tokens import (
        PrefixError,
        check_game,
        check_prefix,
        legal_token_mask,
        model_inputs,
        move_logits,
        move_probabilities,
        position_labels,
        square_probabilities,
        to_tokens,
    )
    from othello.model.transformer import build_model, untrained_like
