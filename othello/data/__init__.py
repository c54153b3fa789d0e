"""Game data: HDF5 game files, importers of real games, training streams, and the registry of seeded streams.

- ``datasets``: the HDF5 game file (``generate``, ``write_games``, ``GameFiles``, ``load_moves``, splits, ``summary``).
- ``importers``: WTHOR ``.wtb``, PGN and text/CSV games (``import_games``), every game replayed.
- ``streams``: what training reads each step (``SyntheticStream``, ``FileStream``, ``make_stream``).
- ``seeds``: which synthetic stream is for what (training, evaluation, probes, intervention cases).
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.data.datasets": [
            "DatasetError",
            "GameFiles",
            "generate",
            "load_moves",
            "parse_shard",
            "split_mask",
            "split_of",
            "store_labels",
            "summary",
            "write_games",
        ],
        "othello.data.importers": ["GameImportError", "ImportedGames", "import_games"],
        "othello.data.seeds": ["EVAL_SEED", "PROBE_SEED", "TRAIN_SEED", "edit_cases_seed"],
        "othello.data.streams": ["FileStream", "SyntheticStream", "make_stream"],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.data.datasets import (
        DatasetError,
        GameFiles,
        generate,
        load_moves,
        parse_shard,
        split_mask,
        split_of,
        store_labels,
        summary,
        write_games,
    )
    from othello.data.importers import GameImportError, ImportedGames, import_games
    from othello.data.seeds import EVAL_SEED, PROBE_SEED, TRAIN_SEED, edit_cases_seed
    from othello.data.streams import FileStream, SyntheticStream, make_stream
