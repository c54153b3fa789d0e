"""Training the model: its config, the loop, the learning-rate schedule and the evaluation.

- ``config``: ``TrainConfig`` (saved in every run's ``config.json``; ``resume`` refuses a different one).
- ``loop``: ``train`` (exact resume, DDP, ``--init-from``, schedules planned for ``--minutes``), ``read_metrics``,
  ``next_move_loss`` (padding excluded).
- ``schedule``: ``cosine_lr``, the one cosine (training and probe fitting), and ``plan_steps``.
- ``evaluation``: ``evaluate`` (top-1 legal rate, legal-set error, after a pass), ``legal_set_errors``.
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.train.config": ["TrainConfig"],
        "othello.train.evaluation": ["evaluate", "legal_move_scores", "legal_set_errors"],
        "othello.train.loop": ["TrainResult", "init_weights", "next_move_loss", "read_metrics", "train"],
        "othello.train.schedule": ["cosine_lr", "plan_steps"],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.train.config import TrainConfig
    from othello.train.evaluation import evaluate, legal_move_scores, legal_set_errors
    from othello.train.loop import TrainResult, init_weights, next_move_loss, read_metrics, train
    from othello.train.schedule import cosine_lr, plan_steps
