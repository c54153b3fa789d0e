"""Interventions: edit the board the model holds in its residual stream and watch its next moves change.

- ``edits``: what an edit is: ``EditCase``, ``EditSetting`` (method, layers, scale, what the edit writes),
  ``edit_board``; the linear (Nanda et al.) and gradient (Li et al.) methods.
- ``apply``: the edits as TransformerLens hooks: ``intervene``, ``edited_move_probabilities``.
- ``evaluation``: Li et al.'s benchmark: ``make_cases`` / ``synthetic_cases``, ``sweep_settings``, ``benchmark``,
  ``recommended_settings`` / ``recommended_setting`` (the tested best of each scope).
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.probes.interventions.evaluation": [
            "benchmark",
            "make_cases",
            "recommended_setting",
            "recommended_settings",
            "sweep_settings",
            "synthetic_cases",
        ],
        "othello.train.evaluation": ["moved_right"],
        "othello.probes.interventions.edits": [
            "DEFAULT_PROBES",
            "DESCENT_DEFAULTS",
            "EditCase",
            "EditError",
            "EditSetting",
            "edit_board",
        ],
        "othello.probes.interventions.apply": [
            "InterventionResult",
            "edited_move_probabilities",
            "intervene",
            "square_mask",
        ],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.probes.interventions.apply import InterventionResult, edited_move_probabilities, intervene, square_mask
    from othello.probes.interventions.edits import (
        DEFAULT_PROBES,
        DESCENT_DEFAULTS,
        EditCase,
        EditError,
        EditSetting,
        edit_board,
    )
    from othello.probes.interventions.evaluation import (
        benchmark,
        make_cases,
        recommended_setting,
        recommended_settings,
        sweep_settings,
        synthetic_cases,
    )
    from othello.train.evaluation import moved_right
