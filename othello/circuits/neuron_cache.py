"""A block's neuron pages computed once and kept: the profiles of every neuron of a block (a minute on 2 cores for
1,000 games) are written as one small JSON file per neuron plus the block's table, under the cache folder
(``$OTHELLO_GPT_CACHE/neurons/``), keyed by the model's weights, the games, the rule trees' depth and whether the
probe-basis weights were read. Opening a neuron after that reads one file.

    ```python
    pages = cached_neuron_pages(model, layer=5, games=moves, depth=RULE_DEPTH, weights=weights)
    pages.table()["explained_share"]; pages.page(213)["rule"]
    ```

Pages are written atomically, the table last: a folder without its table (a computation cut short) is computed
again, never read half-written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from othello.circuits.neurons import neuron_page, neuron_profiles
from othello.errors import ConfigError
from othello.files import write_json
from othello.model.hooks import neuron_hook
from othello.probes.rules import RULE_R2
from othello.probes.store import cache_dir, model_fingerprint

__all__ = ["NeuronPages", "cached_neuron_pages", "PAGE_FORMAT"]

# the pages' layout: a cache written under another format is recomputed, not read with missing fields
PAGE_FORMAT = 2


class NeuronPages:
    """A block's cached neuron pages in ``folder``: ``table()`` (every neuron's row and the share explained) and
    ``page(n)``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def table(self) -> dict[str, Any]:
        return json.loads((self.folder / "table.json").read_text())

    def page(self, neuron: int) -> dict[str, Any]:
        path = self.folder / f"{int(neuron)}.json"
        if not path.exists():
            raise ConfigError(f"no neuron {neuron} in block {self.table()['layer']}'s pages")
        return json.loads(path.read_text())


def cached_neuron_pages(
    model: torch.nn.Module,
    layer: int,
    games: np.ndarray,
    depth: int,
    weights: dict[str, np.ndarray] | None = None,
    progress: bool = False,
    cache: str | os.PathLike | None = None,
) -> NeuronPages:
    """Block ``layer``'s neuron pages over ``games`` ``[G, 60]``, from the cache when they were computed for these
    weights, games and depth, else computed (``neuron_profiles``) and written there first."""
    kind = "weights" if weights is not None else "plain"
    key = f"v{PAGE_FORMAT}-games{len(games)}-{_games_digest(games)}-depth{depth}-{kind}"
    folder = Path(cache or cache_dir()) / "neurons" / model_fingerprint(model) / key / f"block_{layer}"
    if (folder / "table.json").exists():
        return NeuronPages(folder)
    prof = neuron_profiles(model, layer, games, depth=depth, weights=weights, keep_activations=True, progress=progress)
    for neuron in prof.neurons:
        write_json(folder / f"{int(neuron)}.json", neuron_page(prof, int(neuron)))
    table = {
        "block": layer,
        "layer": layer,
        "hook": neuron_hook(layer),
        "games": len(games),
        "depth": depth,
        "r2": RULE_R2,
        "explained_share": prof.explained_share(),
        "weights": weights is not None,
        "rows": prof.rows(),
    }
    write_json(folder / "table.json", table)  # last: its presence says every page is there
    return NeuronPages(folder)


def _games_digest(games: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(games, dtype=np.int8).tobytes()).hexdigest()[:12]
