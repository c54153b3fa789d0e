"""Transcoders: one sparse dictionary per block that reads what the block's MLP reads and predicts what it writes,
trained, saved and scored with the SAEs' machinery (the same loop, streaming, checkpoints, resume and file
format; ``othello.sae.train``).

    ```python
    base = SAETrainConfig(latents=2048, k=32, tokens=1_000_000)
    train_transcoders(model, range(8), base, "runs/transcoders")     # block_0/ .. block_7/, resumable
    transcoders = load_transcoders("runs/transcoders")               # {block: SparseAutoencoder}
    with spliced(model, transcoders):                                # every MLP replaced by its transcoder
        logits = model(tokens)
    table = evaluate_transcoders(model, transcoders, games)
    ```

Block L's transcoder reads ``blocks.L.ln2.hook_normalized``: the stream after block L's attention, centred and
divided by its LayerNorm scale, before the LayerNorm's weight and bias (which the transcoder's encoder absorbs).
With the scale frozen for one prompt, that input is linear in the stream, which is what an attribution graph
needs. It predicts ``blocks.L.hook_mlp_out``. ``export_circuit_tracer`` writes the set in the layout
``circuit-tracer`` loads (``load_transcoder_set``): a YAML file naming the hooks and, per block, a safetensors
file with ``W_enc`` [d_sae, d_model] and ``W_dec`` [d_model, d_sae] (its transposed layout), ``b_enc``,
``b_dec`` and ``W_skip``. Its loader applies a ReLU: a set trained with ``arch="relu"`` is read exactly; a
TopK set's latents would come out denser there, which the YAML notes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from othello.engine.games import replay
from othello.engine.notation import N_CTX
from othello.files import atomic_path, write_json, write_text
from othello.model.checkpoints import read_safetensors
from othello.model.tokens import legal_token_mask, model_inputs
from othello.sae.autoencoder import SAEError, SparseAutoencoder, load_sae
from othello.sae.config import SAETrainConfig
from othello.sae.evaluate import board_properties, dictionary_metrics
from othello.sae.train import read_train_state, train_sae
from othello.train.evaluation import legal_move_scores
from othello.train.loop import loss_of_logits

__all__ = [
    "block_config",
    "default_folder",
    "evaluate_transcoders",
    "export_circuit_tracer",
    "input_hook",
    "latent_labels",
    "load_transcoders",
    "output_hook",
    "save_evaluation",
    "save_half",
    "spliced",
    "train_transcoders",
]


def input_hook(block: int) -> str:
    """What block ``block``'s transcoder reads."""
    return f"blocks.{block}.ln2.hook_normalized"


def output_hook(block: int) -> str:
    """What block ``block``'s transcoder predicts."""
    return f"blocks.{block}.hook_mlp_out"


def default_folder(model: str | os.PathLike | None) -> Path:
    """Where a model's transcoder set is looked for: its folder's ``transcoders/`` (the shipped model's without
    ``model``)."""
    from othello.model.checkpoints import SHIPPED_MODEL

    return Path(model or SHIPPED_MODEL) / "transcoders"


def block_config(base: SAETrainConfig, block: int) -> SAETrainConfig:
    """``base`` (latents, k, tokens, ...) for block ``block``'s transcoder."""
    return replace(base, hook=input_hook(block), output_hook=output_hook(block)).validate()


def train_transcoders(
    model: torch.nn.Module,
    blocks: Iterable[int],
    base: SAETrainConfig,
    out: str | os.PathLike,
    resume: bool = False,
    stop_at: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict[int, dict[str, Any]]:
    """Train (or continue) block ``L``'s transcoder into ``out/block_L`` for each of ``blocks``, one after the
    other; a block already trained to its end is left as it is. Returns each block's final state. ``stop_at``
    bounds each block's steps (a later ``resume`` continues)."""
    out = Path(out)
    blocks = list(blocks)
    for block in blocks:
        if not 0 <= block < model.cfg.n_layers:
            raise SAEError(f"block {block} is out of range 0..{model.cfg.n_layers - 1}")
    states = {}
    for block in blocks:
        cfg = block_config(base, block)
        folder = out / f"block_{block}"
        state = read_train_state(folder)
        if state is not None and state["step"] >= cfg.steps:
            states[block] = state
            continue
        _, states[block] = train_sae(
            model, cfg, folder, resume=resume and state is not None, stop_at=stop_at, device=device,
            progress=progress, info={"block": block, "kind": "transcoder"},
        )  # fmt: skip
    write_json(out / "transcoders.json", {"format_version": 1, "blocks": sorted(_saved_blocks(out))})
    return states


def _saved_blocks(folder: Path) -> list[int]:
    return [int(p.name.split("_")[1]) for p in folder.glob("block_*") if (p / "cfg.json").exists()]


def load_transcoders(folder: str | os.PathLike, device: str | torch.device = "cpu") -> dict[int, SparseAutoencoder]:
    """``{block: transcoder}`` of a folder written by ``train_transcoders``; each checked to be a transcoder of
    its block (the hooks in its ``sae.json``)."""
    folder = Path(folder)
    blocks = sorted(_saved_blocks(folder))
    if not blocks:
        raise SAEError(f"{folder}: no transcoders here (block_L folders; make them: othello-gpt transcoders train)")
    out = {}
    for block in blocks:
        tc, info = load_sae(folder / f"block_{block}", device=device)
        if (
            not tc.cfg.transcoder
            or info.get("hook") != input_hook(block)
            or info.get("output_hook") != output_hook(block)
        ):
            raise SAEError(f"{folder}/block_{block}: not block {block}'s transcoder (its hooks: {info.get('hook')})")
        out[block] = tc
    return out


@contextlib.contextmanager
def spliced(
    model: torch.nn.Module,
    transcoders: dict[int, SparseAutoencoder],
    errors: dict[int, torch.Tensor] | None = None,
    edit: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[None]:
    """Inside the block, each block ``L`` of ``transcoders`` writes its transcoder's prediction instead of its
    MLP's output; with ``errors[L]`` (``[batch, positions, d_model]``: the MLP output minus the prediction on
    one input) added back, the replaced model equals the real one on that input. ``edit(L, latents)`` changes a
    block's latents ``[batch, positions, d_sae]`` before they are decoded (ablation, steering); later blocks'
    transcoders then read what the edit made."""
    inputs: dict[int, torch.Tensor] = {}

    def keep(block: int) -> Any:
        def hook(act: torch.Tensor, hook: Any) -> torch.Tensor:
            inputs[block] = act
            return act

        return hook

    def replace_output(block: int) -> Any:
        def hook(act: torch.Tensor, hook: Any) -> torch.Tensor:
            x = inputs.pop(block)
            tc = transcoders[block]
            flat = x.reshape(-1, x.shape[-1]).to(tc.W_enc.dtype)
            latents = tc.encode(flat)
            if edit is not None:
                latents = edit(block, latents.reshape(*x.shape[:-1], -1)).reshape(latents.shape)
            out = tc.decode(latents, flat).reshape(act.shape).to(act.dtype)
            return out if errors is None else out + errors[block].to(out.dtype)

        return hook

    hooks = [(input_hook(L), keep(L)) for L in transcoders] + [(output_hook(L), replace_output(L)) for L in transcoders]
    with model.hooks(fwd_hooks=hooks):
        yield


@torch.no_grad()
def evaluate_transcoders(
    model: torch.nn.Module, transcoders: dict[int, SparseAutoencoder], moves: np.ndarray, batch_size: int = 250
) -> dict[str, Any]:
    """The table of a set on held-out games ``moves`` ``[G, 60]``: per block ``fvu`` (of the MLP output), ``l0``,
    ``dead``, and its latents' board coverage beside the same block's MLP neurons (``coverage``,
    ``coverage_mine_theirs``, ``coverage_legal``, ``coverage_flipped``, ``reconstruction_f1``; the neurons' in
    ``neurons``); for the whole set spliced in at once (no error terms): ``top1_legal`` and ``loss`` against the
    clean model's, and ``loss_recovered`` = (mean-ablated - spliced) / (mean-ablated - clean), every MLP
    mean-ablated at once for the reference. ``_features`` (not JSON) holds each block's latents' property F1s and
    firings, which ``save_evaluation`` writes beside each transcoder for the graphs' labels."""
    rows = _rows(model, transcoders, moves, batch_size)
    props, valid = board_properties(moves)
    props = props[valid]
    games = np.nonzero(valid)[0]
    fit = games < len(moves) // 2
    table: dict[str, Any] = {"games": len(moves), "tokens": int(valid.sum()), "blocks": {}, "_features": {}}
    for block, tc in transcoders.items():
        x, y, neurons = rows[block]
        entry = _reconstruction(tc, x, y)
        board = dictionary_metrics(lambda b, tc=tc: tc.encode(b), x.numpy(), props, fit, progress=False)
        entry |= {k: v for k, v in board.items() if k not in ("f1", "fires")}
        table["_features"][block] = {"f1": board["f1"], "fires": board["fires"]}
        mlp = dictionary_metrics(lambda b: b, neurons.numpy(), props, fit, progress=False)
        entry["neurons"] = {k: v for k, v in mlp.items() if k not in ("f1", "fires")}
        entry["input_hook"], entry["output_hook"] = input_hook(block), output_hook(block)
        table["blocks"][block] = entry
    table |= _downstream(model, transcoders, moves, {b: r[1].mean(0) for b, r in rows.items()}, batch_size)
    return table


def _rows(
    model: torch.nn.Module, transcoders: dict[int, SparseAutoencoder], moves: np.ndarray, batch_size: int
) -> dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Each block's (input, MLP output, MLP neurons) at the positions with a next mover, ``[rows, d]``."""
    names = {b: (input_hook(b), output_hook(b), f"blocks.{b}.mlp.hook_post") for b in transcoders}
    wanted = {n for trio in names.values() for n in trio}
    parts: dict[int, list[list[torch.Tensor]]] = {b: [[], [], []] for b in transcoders}
    device = next(model.parameters()).device
    for a in range(0, len(moves), batch_size):
        batch = moves[a : a + batch_size]
        keep = torch.from_numpy(batch[:, 1 : N_CTX + 1] >= 0)
        _, cache = model.run_with_cache(model_inputs(batch).to(device), names_filter=lambda n: n in wanted)
        for b, trio in names.items():
            for i, name in enumerate(trio):
                parts[b][i].append(cache[name].float().cpu()[keep])
    return {b: tuple(torch.cat(p) for p in parts[b]) for b in transcoders}  # type: ignore[misc]


def _reconstruction(tc: SparseAutoencoder, x: torch.Tensor, y: torch.Tensor, batch: int = 4096) -> dict[str, Any]:
    sse, l0 = 0.0, 0.0
    fired = torch.zeros(tc.cfg.d_sae)
    for a in range(0, len(x), batch):
        f = tc.encode(x[a : a + batch])
        sse += float(((tc.decode(f, x[a : a + batch]) - y[a : a + batch]) ** 2).sum())
        l0 += float((f > 0).sum())
        fired += (f > 0).sum(0)
    sst = float(((y - y.mean(0)) ** 2).sum())
    return {"fvu": sse / max(sst, 1e-12), "l0": l0 / len(x), "dead": int((fired == 0).sum()), "latents": tc.cfg.d_sae}


def _downstream(
    model: torch.nn.Module,
    transcoders: dict[int, SparseAutoencoder],
    moves: np.ndarray,
    means: dict[int, torch.Tensor],
    batch_size: int,
) -> dict[str, Any]:
    legal = torch.from_numpy(legal_token_mask(replay(moves[:, :N_CTX], ("legal",)).legal)).reshape(-1, 61)
    has_next = torch.from_numpy(moves[:, 1 : N_CTX + 1] >= 0).reshape(-1)
    ablate = [(output_hook(b), lambda act, hook, m=m: m.to(act).expand_as(act).clone()) for b, m in means.items()]
    out = {}
    for name in ("clean", "spliced", "ablated"):
        logits = []
        for a in range(0, len(moves), batch_size):
            tokens = model_inputs(moves[a : a + batch_size]).to(next(model.parameters()).device)
            if name == "spliced":
                with spliced(model, transcoders):
                    logits.append(model(tokens).float().cpu())
            else:
                with model.hooks(fwd_hooks=ablate if name == "ablated" else []):
                    logits.append(model(tokens).float().cpu())
        logits = torch.cat(logits)
        out[f"top1_legal_{name}"] = legal_move_scores(logits.reshape(-1, 61), legal, has_next)["top1_legal"]
        out[f"loss_{name}"] = float(loss_of_logits(logits, moves))
    gap = out["loss_ablated"] - out["loss_clean"]
    out["loss_recovered"] = (out["loss_ablated"] - out["loss_spliced"]) / gap if abs(gap) > 1e-9 else None
    return out


def export_circuit_tracer(folder: str | os.PathLike, model_name: str = "othello-gpt") -> Path:
    """Write ``folder/circuit_tracer.yaml`` and ``folder/block_L/circuit_tracer.safetensors``: the set as
    ``circuit-tracer`` (0.5) loads a per-layer transcoder set (``circuit_tracer.utils.hf_utils.load_transcoders``
    on the YAML's contents: ``model_kind: transcoder_set``, ``scan``, the two hooks and one file per layer, in
    layer order). Its loader applies a ReLU to the pre-activations: a ReLU set reads exactly as here, a TopK set
    denser. Returns the YAML's path."""
    folder = Path(folder)
    transcoders = load_transcoders(folder)
    lines = [
        f"# {model_name}'s transcoders, written by othello-gpt transcoders train",
        f"# activation: {next(iter(transcoders.values())).cfg.arch} (circuit-tracer's loader applies ReLU; "
        "a topk set reads denser there)",
        "model_kind: transcoder_set",
        f'scan: "{model_name}-transcoders"',
        f'model_name: "{model_name}"',
        'feature_input_hook: "ln2.hook_normalized"',
        'feature_output_hook: "hook_mlp_out"',
        "transcoders:",
    ]
    for block, tc in sorted(transcoders.items()):
        tensors = {  # circuit-tracer's shapes: W_enc and W_dec [d_sae, d_model] (x W_enc.T, f W_dec), x W_skip.T
            "W_enc": tc.W_enc.detach().T.contiguous(),
            "W_dec": tc.W_dec.detach().contiguous(),
            "b_enc": tc.b_enc.detach().contiguous(),
            "b_dec": tc.b_dec.detach().contiguous(),
        }
        if tc.W_skip is not None:  # its loader builds a skip connection exactly when the key is there
            tensors["W_skip"] = tc.W_skip.detach().T.contiguous()
        path = folder / f"block_{block}" / "circuit_tracer.safetensors"
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp))
        lines.append(f'  - "{path.resolve()}"')
    yaml_path = folder / "circuit_tracer.yaml"
    write_text(yaml_path, "\n".join(lines) + "\n")
    return yaml_path


def save_evaluation(folder: str | os.PathLike, table: dict[str, Any]) -> dict[str, Any]:
    """Write ``folder/eval.json`` (the table) and each block's ``features.safetensors`` (its latents' F1s, which
    label graph nodes); returns the table without its arrays."""
    from othello.sae.runs import write_features

    folder = Path(folder)
    for block, arrays in table.get("_features", {}).items():
        write_features(folder / f"block_{block}", arrays)
    result = {k: v for k, v in table.items() if k != "_features"}
    write_json(folder / "eval.json", result)
    return result


def latent_labels(
    folder: str | os.PathLike, blocks: Iterable[int], base_rate_games: int = 200
) -> dict[int, tuple[list[str], np.ndarray]]:
    """Each evaluated block's latents' board label and its F1 (``(names [latents], f1 [latents])``); blocks not
    evaluated yet are left out.

    A latent's label is its best property by F1 among the properties it detects better than a detector that is
    always on would (F1 2p / (1 + p) for a property true at a share p of positions, measured on
    ``base_rate_games`` held-out games): otherwise a latent that fires almost everywhere is named by a property
    that holds almost everywhere ("h1 empty", F1 0.8). A latent with no such property has the label "none", F1 0."""
    from othello.data.seeds import EVAL_SEED
    from othello.engine.games import random_games
    from othello.sae.evaluate import PROPERTY_NAMES, board_properties
    from othello.sae.runs import read_features

    properties, valid = board_properties(random_games(base_rate_games, EVAL_SEED))
    p = properties[valid].mean(0)  # [properties]
    always_on = torch.from_numpy(2 * p / (1 + p)).float()
    out = {}
    for block in blocks:
        path = Path(folder) / f"block_{block}"
        if not (path / "features.safetensors").exists():
            continue
        f1 = read_features(path)["f1"]
        best, which = torch.where(f1 > always_on, f1, torch.zeros_like(f1)).max(1)
        out[block] = ([PROPERTY_NAMES[int(i)] if b > 0 else "none" for i, b in zip(which, best)], best.numpy())
    return out


def save_half(folder: str | os.PathLike, out: str | os.PathLike) -> Path:
    """The set of ``folder`` in 16-bit floats into ``out`` (``block_L/`` with its ``cfg.json``, ``sae.json`` and
    ``sae_weights.safetensors``; no training state, no circuit-tracer copy): what ships beside a model. Loading
    reads the weights back as float32."""
    from othello.sae.autoencoder import save_sae

    folder, out = Path(folder), Path(out)
    for block, tc in load_transcoders(folder).items():
        _, info = load_sae(folder / f"block_{block}")
        info = {**info, "dtype": "float16"}
        target = out / f"block_{block}"
        save_sae(tc, target, info)
        weights = target / "sae_weights.safetensors"
        tensors = {k: v.half().contiguous() for k, v in read_safetensors(weights).items()}
        with atomic_path(weights) as tmp:
            save_file(tensors, str(tmp))
    write_json(
        out / "transcoders.json", {"format_version": 1, "blocks": sorted(_saved_blocks(out)), "dtype": "float16"}
    )
    return out
