"""An SAE run folder, end to end: what ``othello-gpt sae eval`` and ``sae features`` compute from it.

    ```python
    table = evaluate_run(model, "runs/sae", baselines=True)     # writes runs/sae/eval.json
    feature_rows("runs/sae", top=50)                            # latents by their best board-property F1
    ```

A run folder holds the SAE (``cfg.json`` + ``sae_weights.safetensors``: sae-lens's format; ``sae.json``: ours),
its training state, and after evaluation ``eval.json`` (the table) and ``features.safetensors`` (each latent's F1
for every board property, for the feature pages). The random-model baseline is the same recipe trained on an
untrained model of the same shape, in ``random_model/`` inside the run (trained there the first time).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from othello.data.seeds import SAE_SEED
from othello.engine.games import random_games, replay
from othello.engine.notation import square_name
from othello.files import atomic_path, write_json
from othello.model.checkpoints import read_safetensors
from othello.model.transformer import untrained_like
from othello.probes.rules import RULE_DEPTH
from othello.probes.store import PROBE_GAMES
from othello.probes.trees import board_features, fit_rules
from othello.sae.autoencoder import SAEError, SparseAutoencoder, load_sae
from othello.sae.config import SAETrainConfig
from othello.sae.evaluate import PROPERTY_GROUPS, PROPERTY_NAMES, collect_rows, evaluate_sae, probe_site
from othello.sae.train import EVAL_GAMES, read_train_state, train_sae

__all__ = ["evaluate_run", "feature_rows", "feature_page", "EVAL_FIELDS"]

# the table's fields, kept stable (README, "SAE features")
EVAL_FIELDS = ("coverage", "coverage_legal", "reconstruction_f1", "fvu", "l0", "dead", "loss_recovered")


def _eval_games(games: int) -> np.ndarray:
    if not 1 <= games <= EVAL_GAMES:
        raise SAEError(f"evaluation games must lie in 1..{EVAL_GAMES} (the held-out part of the SAE stream)")
    return random_games(games, SAE_SEED)


def _probe_baseline(model: torch.nn.Module, hook: str, games: int, progress: bool) -> dict[str, Any] | None:
    from othello.probes.store import stored_probe_rows

    where = probe_site(hook, model.cfg.n_layers)
    if where is None:
        return None
    layer, site = where
    row = stored_probe_rows(model, "relative", "linear", [layer], games=games, site=site, progress=progress)[0]
    return {
        "layer": layer,
        "site": site,
        "hook": hook,
        "accuracy": row["accuracy"],
        "midgame_accuracy": row["midgame_accuracy"],
    }


def evaluate_run(
    model: torch.nn.Module,
    folder: str | os.PathLike,
    games: int = 1000,
    baselines: bool = False,
    progress: bool = True,
    probe_games: int = PROBE_GAMES,
) -> dict[str, Any]:
    """The table for the SAE in ``folder`` on ``games`` held-out games; with ``baselines``, the same for an SAE of
    the same recipe on an untrained model (``random_model``, trained into the folder the first time), the nearest
    MLP's neurons (``mlp_neurons``) and the stored linear probe's accuracy at the same activations (``probe``;
    fitted on ``probe_games`` games where none is stored). Writes
    ``eval.json`` and ``features.safetensors`` into the folder."""
    folder = Path(folder)
    sae, info = load_sae(folder, device=next(model.parameters()).device)
    hook = info.get("hook")
    if not hook:
        raise SAEError(f"{folder}/sae.json names no hook: which activations does this SAE read?")
    moves = _eval_games(games)
    result = evaluate_sae(model, sae, hook, moves, mlp_baseline=baselines, progress=progress)
    arrays = result.pop("_arrays")
    write_features(folder, arrays)
    result["arch"], result["latents"], result["k"] = sae.cfg.arch, sae.cfg.d_sae, sae.cfg.k
    # a run stopped before its last step is evaluated as it stands, and says so
    result["partial"], result["trained_tokens"] = bool(info.get("partial", False)), info.get("tokens")
    if baselines:
        result["baselines"] = {"mlp_neurons": result.pop("mlp_neurons")}
        random = untrained_like(model)
        # the same recipe on the untrained model's own activations: never the trained model's activation file
        cfg = replace(SAETrainConfig.from_dict(info["train"]), data=None)
        sub = folder / "random_model"
        state = read_train_state(sub)
        if state is None or state["step"] < cfg.steps:
            train_sae(random, cfg, sub, resume=state is not None, progress=progress, info={"model": "untrained"})
        random_sae, _ = load_sae(sub, device=next(model.parameters()).device)
        base = evaluate_sae(random, random_sae, hook, moves, progress=progress)
        base.pop("_arrays")
        result["baselines"]["random_model"] = base
        result["baselines"]["probe"] = _probe_baseline(model, hook, probe_games, progress)
    write_json(folder / "eval.json", result)
    return result


def write_features(folder: str | os.PathLike, arrays: dict[str, Any]) -> Path:
    """``folder/features.safetensors``: each latent's board-property F1s (``f1`` [latents, properties]) and firings
    (``fires`` [latents]), tied to the dictionary's weights in ``folder`` by their SHA-256 (``read_features``)."""
    folder = Path(folder)
    tensors = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in arrays.items()}
    tensors["weights_sha256"] = _weights_digest(folder)
    with atomic_path(folder / "features.safetensors") as tmp:
        save_file(tensors, str(tmp))
    return folder / "features.safetensors"


def _weights_digest(folder: Path) -> torch.Tensor:
    """SHA-256 of the dictionary's weights file, uint8 [32]: what ties an evaluation to the weights it scored."""
    digest = hashlib.sha256((folder / "sae_weights.safetensors").read_bytes()).digest()
    return torch.frombuffer(bytearray(digest), dtype=torch.uint8)


def read_features(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """``features.safetensors`` of an evaluated run (``f1`` [latents, properties], ``fires`` [latents]), refused
    when the dictionary's weights changed since ``sae eval`` wrote it (a table of F1s that belong to other weights
    would name the wrong latents) or when its arrays do not fit the properties."""
    folder = Path(folder)
    path = folder / "features.safetensors"
    if not path.exists():
        raise SAEError(f"{folder}: not evaluated yet (run: othello-gpt sae eval {folder})")
    arrays = read_safetensors(path)
    stored = arrays.get("weights_sha256")
    if stored is None or not torch.equal(stored, _weights_digest(folder)):
        raise SAEError(
            f"{path}: the dictionary's weights changed since sae eval scored them (or the file predates the check); "
            f"run: othello-gpt sae eval {folder}"
        )
    f1, fires = arrays.get("f1"), arrays.get("fires")
    if f1 is None or fires is None or f1.ndim != 2 or f1.shape[1] != len(PROPERTY_NAMES) or fires.shape != f1.shape[:1]:
        raise SAEError(f"{path}: expected f1 [latents, {len(PROPERTY_NAMES)}] and fires [latents]")
    return arrays


def feature_rows(folder: str | os.PathLike, top: int = 50, group: str | None = None) -> list[dict[str, Any]]:
    """The latents of an evaluated SAE by their best property F1 (over ``group``'s properties, or all), first
    ``top``: ``latent``, ``property``, ``f1``, ``fires`` (positions where on, out of the evaluation's tokens)."""
    arrays = read_features(folder)
    f1 = arrays["f1"]
    if group is not None:
        if group not in PROPERTY_GROUPS:
            raise SAEError(f"unknown property group {group!r}; choose from {', '.join(PROPERTY_GROUPS)}")
        sl = PROPERTY_GROUPS[group]
        f1, offset = f1[:, sl], sl.start
    else:
        offset = 0
    best, which = f1.max(1)
    order = torch.argsort(best, descending=True)[:top]
    return [
        {
            "latent": int(i),
            "property": PROPERTY_NAMES[offset + int(which[i])],
            "f1": float(best[i]),
            "fires": int(arrays["fires"][i]),
        }
        for i in order
    ]


def latent_rule(moves: np.ndarray, acts: torch.Tensor, game_of: np.ndarray) -> dict[str, Any]:
    """A latent's rule, as a neuron's (``othello.probes.trees``): a regression tree of depth ``RULE_DEPTH`` over
    the board's features, fitted on the first half of the games and scored by R^2 on the second. ``acts``
    ``[rows]`` are the latent's activations at the positions with a next mover of ``moves`` (``collect_rows``'
    rows, ``game_of`` their games)."""
    features, valid = board_features(moves)
    features = torch.from_numpy(features[valid])
    if len(features) != len(acts):
        raise SAEError(f"{len(acts)} activation rows for {len(features)} positions with a next mover")
    fit = torch.from_numpy(game_of < len(moves) // 2)
    trees = fit_rules(acts[fit, None], features[fit], acts[~fit, None], features[~fit])
    return {"text": trees.rule(0), "r2": float(trees.r2[0]), "depth": RULE_DEPTH}


def feature_page(
    model: torch.nn.Module,
    sae: SparseAutoencoder,
    hook: str,
    latent: int,
    folder: str | os.PathLike | None = None,
    games: int = 300,
    top: int = 6,
) -> dict[str, Any]:
    """One latent: its F1 for every board property as 8x8 maps (``{group: [64]}``, from ``features.safetensors``
    when ``folder`` holds one), its top-activating positions over ``games`` held-out games (moves, activation,
    board), and its decoder direction's cosine with each square's probe directions (``mine_dir``, ``blank_dir``)
    where stored probes read the same activations."""
    if not 0 <= latent < sae.cfg.d_sae:
        raise SAEError(f"no latent {latent}: this SAE has latents 0..{sae.cfg.d_sae - 1}")
    page: dict[str, Any] = {"latent": latent, "hook": hook}
    if folder is not None and (Path(folder) / "features.safetensors").exists():
        row = read_features(folder)["f1"][latent]
        page["f1"] = {
            name: row[start : start + 64].tolist()
            for name, start in (("empty", 0), ("mine", 64), ("theirs", 128), ("legal", 192), ("flipped", 256))
        }
    moves = _eval_games(games)
    rows, _, game_of, position_of, _ = collect_rows(model, moves, [hook])
    with torch.no_grad():
        acts = sae.encode(torch.from_numpy(rows[hook]))[:, latent]
    page["rule"] = latent_rule(moves, acts, game_of)
    # random games share their openings: the same prefix recurs in many games, with the same activation, and is
    # shown once (the first game that has it)
    values, index = acts.sort(descending=True)
    examples, seen = [], set()
    for value, i in zip(values.tolist(), index.tolist()):
        if value <= 0 or len(examples) == top:
            break
        g, t = int(game_of[i]), int(position_of[i])
        prefix = moves[g, : t + 1].tobytes()
        if prefix in seen:
            continue
        seen.add(prefix)
        r = replay(moves[g : g + 1], ("boards", "next_mover"))
        examples.append(
            {
                "game": g,
                "position": t,
                "moves": " ".join(square_name(s) for s in moves[g, : t + 1]),
                "activation": value,
                "board": r.boards[0, t].tolist(),
                "next_mover": int(r.next_mover[0, t]),
            }
        )
    page["examples"] = examples
    where = probe_site(hook, model.cfg.n_layers)
    page["decoder_cosine"] = None
    if where is not None:
        from othello.probes.fit import unit_directions
        from othello.probes.store import layer_probes

        layer, site = where
        probe = layer_probes(model, "relative", "linear", [layer], site=site, progress=False)[layer]
        direction = sae.W_dec[latent].detach().float().cpu()
        direction = direction / direction.norm().clamp_min(1e-12)
        page["decoder_cosine"] = {
            # mine_dir = P_mine - P_theirs; blank_dir = P_empty - (P_mine + P_theirs) / 2 (Nanda's posts)
            name: (unit_directions(probe, *classes).cpu() @ direction).tolist()
            for name, classes in (("mine_dir", (1, 2)), ("blank_dir", (0, None)))
        }
    return page
