"""Probe every layer: activations -> labels -> probes, one table row per (layer, labelling, kind).

    ```python
    rows = probe_accuracy_by_layer(model, moves, labellings=("relative", "colour"), kinds=("linear", "mlp"))
    ```

"Layer L" is the residual stream after block L-1 (layer 0 = the embeddings), read at
``blocks.{L-1}.hook_resid_post`` (``blocks.0.hook_resid_pre`` for layer 0); ``site`` reads another hook of
block L-1 instead (``resid_mid``: between its attention and its MLP; ``attn_out``, ``mlp_out``, ``resid_pre``).
Probes train on the games of the train split and are scored on the others (a split by game, never by position).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from othello.data.datasets import split_mask
from othello.engine.games import pad_games, replay
from othello.engine.notation import N_CTX
from othello.errors import ConfigError
from othello.model.hooks import HookKind, layer_hook, residual_hook
from othello.model.tokens import check_game
from othello.model.transformer import untrained_like
from othello.probes.activations import collect_activations
from othello.probes.fit import ProbeConfig, fit_probe, fit_probe_in_blocks, ply_majority_accuracy
from othello.probes.targets import CLASSES, board_labels

__all__ = ["fit_probes_by_layer", "probe_accuracy_by_layer", "read_board", "ACTIVATION_MEMORY"]

# bytes of activations one forward pass may collect: every layer of the shipped model for 2,000 games (1.1 GB);
# more games are collected in several passes, a group of layers each, so memory stays at this bound
ACTIVATION_MEMORY = 2 * 1024**3
# a layer bigger than this (4,400 games at width 256) is streamed through a temporary file instead of held: its
# fit would copy it (train and held-out rows), so memory would grow with the games
STREAM_ABOVE = 512 * 1024**2


def _layer_activations(
    model: torch.nn.Module, moves: np.ndarray, hooks: dict[int, str], index: np.ndarray, memory: int
) -> Iterator[tuple[int, Any]]:
    """``(layer, activations [G, P, d])`` for each layer of ``hooks``: in memory, a group of layers per forward
    pass, while one layer fits in ``memory`` bytes and ``STREAM_ABOVE``; beyond that, one layer at a time streamed
    to a temporary HDF5 file (an ``h5py.Dataset``, read a block of games at a time by ``fit_probe_in_blocks``), so
    memory stays flat however many games."""
    per_layer = len(moves) * len(index) * model.cfg.d_model * 4
    layers = list(hooks)
    if per_layer > min(memory, STREAM_ABOVE):
        import tempfile

        import h5py

        with tempfile.TemporaryDirectory(prefix="othello-gpt-activations-") as folder:
            for L in layers:
                path = Path(folder) / f"layer-{L}.h5"
                collect_activations(model, moves, [hooks[L]], positions=index, out=path)
                with h5py.File(path) as f:
                    yield L, f[hooks[L]]
                path.unlink()
        return
    group = max(1, memory // max(per_layer, 1))
    for i in range(0, len(layers), group):
        chunk = layers[i : i + group]
        acts = collect_activations(model, moves, [hooks[L] for L in chunk], positions=index)
        for L in chunk:
            yield L, acts.pop(hooks[L])


# the fewest games a probe figure is reported from: fitted on (the train split) and held out (the others)
MIN_FIT, MIN_HELD_OUT = 10, 2


def fit_probes_by_layer(
    model: torch.nn.Module,
    moves: np.ndarray,
    labellings: Sequence[str] = ("relative", "colour"),
    kinds: Sequence[str] = ("linear",),
    layers: Sequence[int] | None = None,
    positions: Sequence[int] | slice | None = None,
    config: ProbeConfig | None = None,
    progress: bool = True,
    site: HookKind = "resid_post",
    memory: int = ACTIVATION_MEMORY,
) -> Iterator[tuple[dict[str, Any], torch.nn.Module]]:
    """Yield ``(row, probe)`` per (layer, labelling, kind), for games ``moves`` [G, 60]: each row has
    ``hook``, ``site``, ``layer``, ``label``, ``kind``, the held-out metrics of ``probe_metrics`` (``accuracy``,
    ``baseline``, ``whole_board``, ``per_square`` [64] ([1] for ``next_mover`` and ``after_pass``), ``per_ply`` [59],
    ``after_pass_accuracy``, ...), ``ply_baseline`` (the best guess from the ply alone, ``ply_majority_accuracy``)
    and the game counts. ``layers`` defaults to every
    layer ``site`` has (0..n_layers for ``resid_post``, 1..n_layers otherwise). One forward pass over the games
    collects as many layers as fit in ``memory`` bytes (all of them for a few thousand games), not one per layer."""
    n_layers = model.cfg.n_layers
    device = next(model.parameters()).device  # probes are fitted where the model runs
    layers = list(range(0 if site == "resid_post" else 1, n_layers + 1)) if layers is None else list(layers)
    hooks = {L: layer_hook(L, n_layers, site) for L in layers}  # checks every layer before any work
    base = config or ProbeConfig()
    held_out = ~split_mask(moves, "train")
    if held_out.sum() < MIN_HELD_OUT or (~held_out).sum() < MIN_FIT:
        raise ConfigError(
            f"probes need at least {MIN_FIT} games to fit on and {MIN_HELD_OUT} held out to score, got "
            f"{int((~held_out).sum())} and {int(held_out.sum())} of {len(moves)} games: a best layer read off a "
            "handful of games means nothing (give --games 100 or more)"
        )
    index = (
        np.arange(59)[positions]
        if isinstance(positions, slice)
        else (np.arange(59) if positions is None else np.asarray(positions))
    )
    # int8 (-1..2), made a chunk of games at a time: board_labels works in int64, 8x the memory
    labels = {
        name: np.concatenate(
            [board_labels(moves[a : a + 2048], name)[:, index].astype(np.int8) for a in range(0, len(moves), 2048)]
        )
        for name in labellings
    }
    off_parity = replay(np.asarray(moves)[:, :N_CTX], ("passed",)).off_parity()[:, index]  # [G, P]
    tr, te = ~held_out, held_out
    ply_baseline = {name: ply_majority_accuracy(y[tr], y[te], len(CLASSES[name])) for name, y in labels.items()}
    plies = np.broadcast_to(index + 1, (int(te.sum()), len(index))).reshape(
        -1
    )  # position t holds the board after move t+1
    after_pass = off_parity[te].reshape(-1)
    bar = tqdm(total=len(layers) * len(labellings) * len(kinds), desc="probes", unit="probe", disable=not progress)
    for L, acts in _layer_activations(model, moves, hooks, index, memory):
        d = acts.shape[-1]
        hook = hooks[L]
        for name in labellings:
            y = labels[name]
            for kind in kinds:
                cfg = ProbeConfig(**{**base.__dict__, "kind": kind, "n_classes": len(CLASSES[name])})
                n = y.shape[-1]  # 64 squares, or 1 for a labelling of the whole position
                if isinstance(acts, np.ndarray):
                    probe, m = fit_probe(
                        acts[tr].reshape(-1, d),
                        y[tr].reshape(-1, n),
                        cfg,
                        acts[te].reshape(-1, d),
                        y[te].reshape(-1, n),
                        plies,
                        device,
                        after_pass,
                    )
                else:  # streamed from disk: more games than memory holds
                    probe, m = fit_probe_in_blocks(acts, y, tr, cfg, plies, device, after_pass)
                bar.update(1)
                yield (
                    {
                        "hook": hook,
                        "site": site,
                        "layer": L,
                        "label": name,  # the name the probe rows were first written with, kept for their readers
                        "labelling": name,  # the one name for it across the project's rows and flags
                        "kind": kind,
                        **m,
                        "ply_baseline": ply_baseline[name],
                        "train_games": int(tr.sum()),
                        "test_games": int(te.sum()),
                    },
                    probe,
                )
    bar.close()


def probe_accuracy_by_layer(
    model: torch.nn.Module,
    moves: np.ndarray,
    labellings: Sequence[str] = ("relative", "colour"),
    kinds: Sequence[str] = ("linear",),
    layers: Sequence[int] | None = None,
    positions: Sequence[int] | slice | None = None,
    config: ProbeConfig | None = None,
    progress: bool = True,
    site: HookKind = "resid_post",
    control: bool = False,
    memory: int = ACTIVATION_MEMORY,
) -> list[dict[str, Any]]:
    """The rows of ``fit_probes_by_layer`` (the probes themselves dropped), each with ``model`` = ``"trained"``;
    with ``control``, the same probes on an untrained model of the same shape follow (``model`` = ``"untrained"``)."""
    rows = [
        {**row, "model": "trained"}
        for row, _ in fit_probes_by_layer(
            model, moves, labellings, kinds, layers, positions, config, progress, site, memory
        )
    ]
    if control:
        rows += [
            {**row, "model": "untrained"}
            for row, _ in fit_probes_by_layer(
                untrained_like(model), moves, labellings, kinds, layers, positions, config, progress, site, memory
            )
        ]
    return rows


@torch.no_grad()
def read_board(model: torch.nn.Module, moves: str | Sequence[int], probe: torch.nn.Module, layer: int) -> np.ndarray:
    """What ``probe`` reads at "layer L" for the board after the prefix ``moves`` (``"f5 d6 c3"`` or squares, 1..59
    moves, replayed first: an illegal one is an ``OthelloError`` naming its ply): class probabilities
    ``[64, classes]``, taken at the prefix's last position."""
    moves = check_game(moves)
    game = pad_games([moves])
    hook = residual_hook(layer, model.cfg.n_layers)
    act = collect_activations(model, game, [hook], positions=[len(moves) - 1])[hook][0]  # [1, d_model]
    device = next(probe.parameters()).device
    return probe(torch.as_tensor(act, device=device)).softmax(-1)[0].cpu().numpy()
