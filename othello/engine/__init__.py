"""The game: square names and tokens, the rules on a bitboard, and many games at once on compiled kernels.

- ``notation``: the one home of every convention (``parse_square``, ``square_name``, ``parse_moves``, tokens,
  the text ``diagram``).
- ``board``: ``Board``, which reads like the game (``push``, ``pop``, ``legal_moves``), and ``real_mover_board``.
- ``kernels``: the same rules compiled with numba, batched (internal; use ``games``).
- ``games``: seeded ``random_games``, ``replay`` into per-ply labels, ``pad_games``, ``perft``.
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.engine.board": [
            "BLACK",
            "COLOUR_NAMES",
            "WHITE",
            "Board",
            "GameOverError",
            "real_mover_board",
            "square_colours",
        ],
        "othello.engine.games": [
            "LABELS",
            "MAX_PLIES",
            "Replay",
            "check_games",
            "game_lengths",
            "pad_games",
            "pass_counts",
            "perft",
            "random_games",
            "replay",
            "set_workers",
        ],
        "othello.engine.notation": [
            "CENTRE_SQUARES",
            "D_VOCAB",
            "N_CTX",
            "SQUARE_KIND",
            "SQUARE_KINDS",
            "SQUARE_NAMES",
            "IllegalMoveError",
            "InvalidMoveError",
            "convert_square_name",
            "diagram",
            "moves_to_string",
            "parse_moves",
            "parse_square",
            "square_name",
            "squares_to_tokens",
            "tokens_to_squares",
        ],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.engine.board import BLACK, COLOUR_NAMES, WHITE, Board, GameOverError, real_mover_board, square_colours
    from othello.engine.games import (
        LABELS,
        MAX_PLIES,
        Replay,
        check_games,
        game_lengths,
        pad_games,
        pass_counts,
        perft,
        random_games,
        replay,
        set_workers,
    )
    from othello.engine.notation import (
        CENTRE_SQUARES,
        D_VOCAB,
        N_CTX,
        SQUARE_KIND,
        SQUARE_KINDS,
        SQUARE_NAMES,
        IllegalMoveError,
        InvalidMoveError,
        convert_square_name,
        diagram,
        moves_to_string,
        parse_moves,
        parse_square,
        square_name,
        squares_to_tokens,
        tokens_to_squares,
    )
