"""Fitted probes on disk: saved beside the shipped model, cached per model elsewhere, refitted when the weights change.

    ```python
    probes = layer_probes(model, "relative", "linear")      # {layer: probe}: loaded, or fitted once and saved
    ```

A probe folder (``{labelling}-{kind}/layer-{L}/``) holds ``probe.safetensors`` and ``probe.json`` (its training
config, hook, layer, labelling, classes, held-out metrics, and the key it was fitted under: the model's weight
fingerprint, the games and their stream). Where probes are looked for, in order: the folder ``cache`` when one is
given; else the shipped model's ``probes/`` (committed with it, read only) and the user's cache,
``$OTHELLO_GPT_CACHE/probes/{fingerprint}/`` (default ``~/.cache/othello-gpt``), where new fits are saved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors.torch import save_file

from othello.data.seeds import PROBE_SEED
from othello.engine.games import random_games
from othello.files import atomic_path, write_json
from othello.model.checkpoints import SHIPPED_MODEL, read_safetensors
from othello.model.hooks import HookKind, layer_hook
from othello.probes.fit import ProbeConfig, make_probe
from othello.probes.layers import fit_probes_by_layer
from othello.probes.targets import CLASSES

__all__ = [
    "cache_dir",
    "model_fingerprint",
    "probe_folders",
    "stored_probes",
    "layer_probes",
    "stored_probe_rows",
    "save_probe",
    "load_probe",
    "SHIPPED_PROBES",
    "PROBE_GAMES",
]

SHIPPED_PROBES = SHIPPED_MODEL / "probes"
PROBE_GAMES = (
    2000  # synthetic games (stream PROBE_SEED) the stored probes are fitted on: train split fits, the rest scores
)


def cache_dir() -> Path:
    """The user's cache folder: ``$OTHELLO_GPT_CACHE``, else ``~/.cache/othello-gpt``."""
    return Path(os.environ.get("OTHELLO_GPT_CACHE") or Path.home() / ".cache" / "othello-gpt")


def model_fingerprint(model: torch.nn.Module) -> str:
    """A hash of the weights, so stored probes are refitted when the model changes."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def probe_folders(fingerprint: str, cache: str | os.PathLike | None = None) -> tuple[list[Path], Path]:
    """(the folders probes are read from, in order; the folder new fits are written to)."""
    if cache is not None:
        return [Path(cache)], Path(cache)
    user = cache_dir() / "probes" / fingerprint
    return [SHIPPED_PROBES, user], user


def save_probe(folder: str | os.PathLike, probe: nn.Module, cfg: ProbeConfig, info: dict[str, Any]) -> None:
    """``probe.safetensors`` + ``probe.json`` (config, hook, labelling, classes, metrics...) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "probe.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in probe.state_dict().items()}, str(tmp))
    write_json(folder / "probe.json", {"config": dataclasses.asdict(cfg.resolved()), **info})


def load_probe(folder: str | os.PathLike) -> tuple[nn.Module, ProbeConfig, dict[str, Any]]:
    folder = Path(folder)
    info = json.loads((folder / "probe.json").read_text())
    cfg = ProbeConfig.from_dict(info.pop("config"), where=f"{folder}: probe config")
    tensors = read_safetensors(folder / "probe.safetensors")
    linear = cfg.kind == "linear"
    d_model = tensors["W"].shape[0] if linear else tensors["net.0.weight"].shape[1]
    n_targets = tensors["W"].shape[1] if linear else tensors["net.2.weight"].shape[0] // cfg.n_classes
    probe = make_probe(d_model, cfg, n_targets)
    probe.load_state_dict(tensors)
    probe.eval()
    return probe, cfg, info


def _probe_key(fingerprint: str, games: int, config: ProbeConfig, site: str) -> dict[str, Any]:
    key = {
        "model": fingerprint,
        "games": games,
        "seed": PROBE_SEED,
        "config": {k: v for k, v in asdict(config).items() if k not in ("kind", "n_classes")},
    }
    return key if site == "resid_post" else {**key, "site": site}


def _folder(labelling: str, kind: str, site: str) -> str:
    """``relative-linear`` at ``resid_post`` (the residual stream after a block), ``relative-linear-resid_mid`` at
    another site."""
    return f"{labelling}-{kind}" + ("" if site == "resid_post" else f"-{site}")


def stored_probes(
    model: torch.nn.Module,
    labelling: str = "relative",
    kind: str = "linear",
    layers: Sequence[int] | None = None,
    games: int = PROBE_GAMES,
    config: ProbeConfig | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    site: HookKind = "resid_post",
) -> dict[int, tuple[nn.Module, dict[str, Any]]]:
    """``{layer: (probe, info)}`` of ``labelling`` and ``kind`` for ``layers`` (all by default), fitted on the train
    split of ``games`` synthetic games of stream ``PROBE_SEED``: each one loaded where a probe with the same key
    (weights, games, settings) is stored (``probe_folders``), the others fitted in one pass and saved. ``info``
    holds the probe's held-out metrics row (``info["metrics"]``, as ``probe_accuracy_by_layer`` gives it). ``site``
    reads "layer L" at another hook of block L-1 (``layer_hook``; layers 1..n there)."""
    n = model.cfg.n_layers
    layers = list(range(0 if site == "resid_post" else 1, n + 1)) if layers is None else list(layers)
    for L in layers:
        layer_hook(L, n, site)  # a layer out of range fails here, before any probe is read or fitted
    config = replace(config or ProbeConfig(), kind=kind, n_classes=len(CLASSES[labelling])).resolved()
    fingerprint = model_fingerprint(model)
    key = _probe_key(fingerprint, games, config, site)
    read, write = probe_folders(fingerprint, cache)
    found: dict[int, tuple[nn.Module, dict[str, Any]]] = {}
    for L in layers:
        for root in read:
            path = root / _folder(labelling, kind, site) / f"layer-{L}"
            if (path / "probe.json").exists():
                probe, _, info = load_probe(path)
                if info.get("key") == key:
                    found[L] = (probe, info)
                    break
    todo = [L for L in layers if L not in found]
    if todo:
        moves = random_games(games, PROBE_SEED)
        for row, probe in fit_probes_by_layer(
            model, moves, (labelling,), (kind,), todo, config=config, progress=progress, site=site
        ):
            info = {
                "key": key,
                "hook": row["hook"],
                "layer": row["layer"],
                "label": labelling,
                "classes": CLASSES[labelling],
                "metrics": row,
            }
            save_probe(write / _folder(labelling, kind, site) / f"layer-{row['layer']}", probe, config, info)
            found[row["layer"]] = (probe, info)
    device = next(model.parameters()).device
    for probe, _ in found.values():
        probe.to(device).eval().requires_grad_(False)
    return {L: found[L] for L in layers}


def layer_probes(
    model: torch.nn.Module,
    labelling: str = "relative",
    kind: str = "linear",
    layers: Sequence[int] | None = None,
    games: int = PROBE_GAMES,
    config: ProbeConfig | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    site: HookKind = "resid_post",
) -> dict[int, nn.Module]:
    """Probes ``{layer: probe}``: ``stored_probes`` without their info."""
    return {
        L: probe
        for L, (probe, _) in stored_probes(model, labelling, kind, layers, games, config, cache, progress, site).items()
    }


def stored_probe_rows(
    model: torch.nn.Module,
    labelling: str,
    kind: str,
    layers: Sequence[int] | None = None,
    games: int = PROBE_GAMES,
    config: ProbeConfig | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    site: HookKind = "resid_post",
) -> list[dict[str, Any]]:
    """The held-out metrics rows of ``stored_probes``, by layer (the table of the stored probes, without refitting)."""
    return [
        {**info["metrics"], "labelling": info["metrics"]["label"]}  # rows stored before "labelling" was added
        for _, info in stored_probes(model, labelling, kind, layers, games, config, cache, progress, site).values()
    ]
