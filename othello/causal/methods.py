"""The methods that name where the model keeps a square's state, each as an ``Intervention`` at one layer.

Layer L is the residual stream after block L-1 (``residual_hook``). At layer L:
- ``full``: the whole residual stream (the upper bound); ``random``: a random orthonormal subspace of dimension
  ``k`` (the lower bound);
- ``probe``: the span of the square's linear relative probe (mine - empty, theirs - empty: 2 dimensions);
- ``gradient``: Li et al.'s edit: gradient descent (Adam) on the base activation until the nonlinear colour probe
  reads the square as the source run's probe reads it there, the other squares kept as read (weight ``reg``);
- ``das``: a subspace of dimension k fitted by distributed alignment search (``othello.causal.das``);
- ``neurons``: block L-1's MLP neurons (``blocks.L-1.mlp.hook_post``) whose rule names the square's state;
- ``sae``: the latents of an SAE at this layer's hook whose best state property is the square's (F1 >= 0.5);
- ``transcoders``: the latents of block L-1's transcoder (which writes into this layer's stream) chosen alike,
  read at its input and written at its output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from othello.causal.interchange import Intervention, latent_swap, subspace_swap, transcoder_hooks, unit_swap
from othello.circuits.neuron_cache import cached_neuron_pages
from othello.engine.notation import SQUARE_NAMES
from othello.errors import ConfigError
from othello.model.hooks import neuron_hook, residual_hook
from othello.probes.rules import RULE_DEPTH, RULE_R2

__all__ = [
    "full_stream",
    "random_subspace",
    "probe_subspace",
    "gradient_edit",
    "rule_neurons",
    "sae_latents",
    "orthonormal",
]

_STATE = re.compile(r"(?<!not )\b([a-h][1-8]) (empty|mine|theirs)\b")


def orthonormal(vectors: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis ``[d, k]`` of the span of ``vectors`` ``[d, k]`` (QR)."""
    q, _ = torch.linalg.qr(vectors.double())
    return q.float()


def full_stream(layer: int, n_layers: int, d_model: int) -> Intervention:
    """The whole residual stream at layer ``layer``: the source run's stream replaces the base run's."""
    return Intervention("full", residual_hook(layer, n_layers), lambda base, source, square: source, float(d_model))


def random_subspace(layer: int, n_layers: int, d_model: int, k: int, seed: int = 0) -> Intervention:
    """A random orthonormal subspace of dimension ``k`` (the same for every square), seeded."""
    g = torch.Generator().manual_seed(seed * 1000 + layer)
    Q = orthonormal(torch.randn(d_model, k, generator=g))
    return Intervention(f"random (k={k})", residual_hook(layer, n_layers), subspace_swap(Q), float(k))


def probe_subspace(probe: torch.nn.Module, layer: int, n_layers: int) -> Intervention:
    """The span of each square's linear relative probe at layer ``layer`` (classes 0 empty, 1 mine, 2 theirs):
    mine - empty and theirs - empty, the directions the probe's softmax reads (2 dimensions)."""
    W = probe.W.detach().float()  # [d, 64, 3]
    spans = torch.stack([W[:, :, 1] - W[:, :, 0], W[:, :, 2] - W[:, :, 0]], -1)  # [d, 64, 2]
    bases = torch.stack([orthonormal(spans[:, s]) for s in range(64)])  # [64, d, 2]
    return Intervention("probe", residual_hook(layer, n_layers), subspace_swap(bases), 2.0)


def gradient_edit(probe: torch.nn.Module, layer: int, n_layers: int, d_model: int) -> Intervention:
    """Li et al.'s gradient edit as an interchange: the target at the square is what ``probe`` (the colour MLP
    probe of layer ``layer``) reads there in the source run (base and source are at the same ply, off no pass, so
    the same colour moves next in both: the colour is the relative state), every other square what it reads in the
    base run; the recommended gradient setting's step size, steps and weight of the other squares. Its size is
    ``d_model``: the edit may move the activation in any direction."""
    from othello.probes.interventions.apply import _optimise
    from othello.probes.interventions.evaluation import recommended_setting

    setting = recommended_setting(n_layers, "gradient", keep="read")

    def swap(base: torch.Tensor, source: torch.Tensor, square: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(len(base), device=base.device)
        x = base.detach().float().clone()
        with torch.no_grad():
            target = probe(x).argmax(-1)
            target[rows, square] = probe(source.float())[rows, square].argmax(-1)
        weights = torch.full(target.shape, setting.reg, device=base.device)
        weights[rows, square] = 1.0
        return _optimise(probe, x, target, weights, torch.optim.Adam, setting.lr, setting.steps)

    return Intervention("gradient", residual_hook(layer, n_layers), swap, float(d_model))


def rule_neurons(model: torch.nn.Module, layer: int, games: np.ndarray, progress: bool = False) -> Intervention:
    """The MLP neurons of block ``layer - 1`` whose rule (held-out R^2 >= ``RULE_R2``) names a square's state
    (``"e4 mine"``, not under a "not"), from the neuron cache (computed once per block, games and depth)."""
    block = layer - 1
    pages = cached_neuron_pages(model, block, games, RULE_DEPTH, progress=progress)
    units = torch.zeros(64, model.cfg.d_mlp, dtype=torch.bool)
    for row in pages.table()["rows"]:
        if row["r2"] >= RULE_R2:
            for square, _ in _STATE.findall(row["rule"]):
                units[SQUARE_NAMES.index(square), row["neuron"]] = True
    return Intervention("neurons", neuron_hook(block), unit_swap(units), float(units.sum(1).float().mean()))


def _square_latents(f1: torch.Tensor, min_f1: float) -> torch.Tensor:
    """``[64, latents]`` bool: for each square the latents whose best state property (``f1`` ``[latents, 320]``;
    empty, mine, theirs come first) is that square's, with F1 at least ``min_f1``."""
    from othello.sae.evaluate import PROPERTY_NAMES

    best, which = f1[:, : 3 * 64].max(1)
    latents = torch.zeros(64, len(f1), dtype=torch.bool)
    for latent in torch.nonzero(best >= min_f1).flatten().tolist():
        latents[SQUARE_NAMES.index(PROPERTY_NAMES[int(which[latent])].split()[0]), latent] = True
    return latents


def transcoder_latents(folder: str | os.PathLike, block: int, min_f1: float = 0.5) -> Intervention:
    """The latents of block ``block``'s evaluated transcoder in the set ``folder`` whose best state property is a
    square's state with F1 at least ``min_f1`` (as ``sae_latents`` chooses), swapped where the transcoder reads
    (``blocks.B.ln2.hook_normalized``: the source's latents) and written where it writes (``hook_mlp_out``)."""
    from othello.sae.autoencoder import load_sae
    from othello.sae.runs import read_features
    from othello.sae.transcoders import input_hook, output_hook

    path = Path(folder) / f"block_{block}"
    tc, info = load_sae(path)
    if info.get("hook") != input_hook(block) or info.get("output_hook") != output_hook(block):
        raise ConfigError(f"{path}: not block {block}'s transcoder (its sae.json names other hooks)")
    latents = _square_latents(read_features(path)["f1"], min_f1)
    decoder = tc.W_dec.detach() / tc.scale_out.detach()
    hooks = transcoder_hooks(lambda x: tc.encode(x).detach(), decoder, latents, input_hook(block), output_hook(block))
    return Intervention("transcoder", input_hook(block), None, float(latents.sum(1).float().mean()), hooks)


def sae_latents(folder: str | os.PathLike, min_f1: float = 0.5) -> Intervention:
    """The latents of the evaluated SAE in ``folder`` whose best state property is a square's state
    (``"e4 mine"``) with F1 at least ``min_f1`` (a latent that fires on the square's state more often than not
    where it fires, and covers it), at the SAE's hook."""
    from othello.sae.autoencoder import load_sae
    from othello.sae.runs import read_features

    sae, info = load_sae(folder)
    latents = _square_latents(read_features(folder)["f1"], min_f1)
    decoder = sae.W_dec.detach() / sae.scale_out.detach()
    swap = latent_swap(lambda x: sae.encode(x).detach(), decoder, latents)
    if not info.get("hook") or info.get("output_hook"):
        raise ConfigError(f"{folder}: not an SAE of this project's (sae.json names no hook, or a transcoder's)")
    return Intervention("sae", info["hook"], swap, float(latents.sum(1).float().mean()))
