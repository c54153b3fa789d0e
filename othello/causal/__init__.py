"""Which method finds the board? Interchange interventions scored by the rules of the game.

- ``interchange``: ``Intervention``, ``interchange_logits`` (the base run with a component from the source run),
  the swaps (subspace, units, dictionary latents) and ``score_pairs`` (IIA, legal-set error, moved right).
- ``methods``: each method as an intervention at a layer: ``full_stream``, ``random_subspace``,
  ``probe_subspace``, ``gradient_edit``, ``rule_neurons``, ``sae_latents``, ``transcoder_latents``.
- ``das``: distributed alignment search, ``fit_das`` (``das_step``: a fitting step prepared once for several k).
- ``suffix``: ``Suffix``, the last position's run from one layer on against cached keys and values.
- ``config``: ``BenchConfig``; ``bench``: ``causal_bench``, the leaderboard.

The pairs themselves (a base and a source position that differ in one square's state, with the counterfactual
board's legal moves) come from the engine: ``othello.engine.counterfactuals``.
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.causal.bench": ["causal_bench", "bench_pairs"],
        "othello.causal.config": ["BenchConfig", "METHODS", "DAS_SQUARES"],
        "othello.causal.das": ["fit_das", "das_step", "das_intervention"],
        "othello.causal.suffix": ["Suffix"],
        "othello.causal.interchange": [
            "Intervention",
            "interchange_logits",
            "base_logits",
            "score_pairs",
            "subspace_swap",
            "unit_swap",
            "latent_swap",
            "transcoder_hooks",
            "wilson_interval",
        ],
        "othello.causal.methods": [
            "full_stream",
            "random_subspace",
            "probe_subspace",
            "gradient_edit",
            "rule_neurons",
            "sae_latents",
            "transcoder_latents",
        ],
    },
)

if TYPE_CHECKING:
    from othello.causal.bench import bench_pairs, causal_bench
    from othello.causal.config import DAS_SQUARES, METHODS, BenchConfig
    from othello.causal.das import das_intervention, das_step, fit_das
    from othello.causal.interchange import (
        Intervention,
        base_logits,
        interchange_logits,
        latent_swap,
        score_pairs,
        subspace_swap,
        transcoder_hooks,
        unit_swap,
        wilson_interval,
    )
    from othello.causal.methods import (
        full_stream,
        gradient_edit,
        probe_subspace,
        random_subspace,
        rule_neurons,
        sae_latents,
        transcoder_latents,
    )
    from othello.causal.suffix import Suffix
