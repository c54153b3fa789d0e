"""Checkpoint folders: safetensors weights, a JSON config, the training state. No pickle anywhere.

A run folder holds ``config.json`` ({"format_version", "model": ModelConfig, "train": TrainConfig or
null, "source"}), ``model.safetensors`` (the bridge's state dict: ``embed.weight``,
``blocks.0.attn.q.weight``, ...) and, for runs trained here, ``train_state.safetensors``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from othello.errors import OthelloError
from othello.files import atomic_path, write_json
from othello.model.config import ModelConfig
from othello.model.transformer import build_model

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

CHECKPOINT_FORMAT = 1
# the model the project ships (weights, config, metrics, probes), used wherever a command's --model is omitted: the
# repository's models/small8, or the folder $OTHELLO_GPT_MODEL names (a package installed with ``pip install .``
# does not carry the 40 MB of weights and probes; point it at a clone's models/small8)
SHIPPED_MODEL = Path(os.environ.get("OTHELLO_GPT_MODEL") or Path(__file__).resolve().parents[2] / "models" / "small8")


class CheckpointError(OthelloError):
    """A checkpoint folder that is missing, incomplete or does not match the model it is loaded into."""


def write_run_config(
    out: str | os.PathLike,
    model_cfg: ModelConfig,
    train: dict[str, Any] | None,
    source: str = "trained with othello-gpt",
) -> None:
    """``out/config.json``: the model config, the training config (a ``TrainConfig.to_dict()``; None for a
    converted checkpoint) and where the weights came from."""
    write_json(
        Path(out) / "config.json",
        {"format_version": CHECKPOINT_FORMAT, "model": model_cfg.to_dict(), "train": train, "source": source},
    )


def read_run_config(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / "config.json"
    if not path.exists():
        raise CheckpointError(f"{folder}: no config.json; not a checkpoint folder")
    try:
        data = json.loads(path.read_text(errors="replace"))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: nested too deep to be a config") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object with 'model' and 'train', got {type(data).__name__}")
    try:
        version = int(data.get("format_version", -1))
    except (TypeError, ValueError):
        raise CheckpointError(f"{path}: format_version {data.get('format_version')!r} is not a number") from None
    if version > CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {version} is newer than this othello-gpt reads")
    if not isinstance(data.get("model"), dict):
        raise CheckpointError(f"{path}: no 'model' object (the model config: n_layers, d_model, n_heads, ...)")
    return data


def read_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A safetensors file, or a ``CheckpointError`` naming it when it is empty, truncated, its header claims more
    than the file holds, or it is not safetensors at all: the one reader of every weights file (models, probes,
    SAEs, training state)."""
    from safetensors import SafetensorError

    path = Path(path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        size = path.stat().st_size if path.exists() else 0
        raise CheckpointError(f"{path}: not a readable safetensors file ({size} bytes: {error})") from None


def _header_shapes(path: Path) -> dict[str, list[int]]:
    """Each tensor's shape from the safetensors header, without loading a tensor."""
    import struct

    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: not a safetensors file ({len(head)} bytes)")
        (length,) = struct.unpack("<Q", head)
        if length > 100_000_000:
            raise CheckpointError(f"{path}: a header of {length} bytes: not a safetensors file")
        try:
            header = json.loads(f.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CheckpointError(f"{path}: its header is not safetensors JSON") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: its header is not safetensors JSON")
    return {k: v.get("shape") for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}


def check_weights_fit(cfg: ModelConfig, path: Path) -> None:
    """Compare a config with the shapes in its weights' header before any model is built, so that a crafted
    config or file cannot make us allocate for a model the weights do not hold."""
    shapes = _header_shapes(path)
    expected = {
        "embed.weight": [cfg.d_vocab, cfg.d_model],
        "pos_embed.weight": [cfg.n_ctx, cfg.d_model],
        f"blocks.{cfg.n_layers - 1}.mlp.in.weight": [cfg.d_mlp, cfg.d_model],
        "unembed.weight": [cfg.d_vocab, cfg.d_model],
    }
    for name, shape in expected.items():
        if name in shapes and shapes[name] != shape:
            raise CheckpointError(f"{path}: {name} is {shapes[name]} but config.json implies {shape}")
    blocks = {int(k.split(".")[1]) for k in shapes if k.startswith("blocks.") and k.split(".")[1].isdigit()}
    if blocks and len(blocks) != cfg.n_layers:
        raise CheckpointError(f"{path}: holds {len(blocks)} blocks but config.json says n_layers {cfg.n_layers}")


def check_finite(tensors: dict[str, torch.Tensor], where: str) -> None:
    """Refuse NaN or infinite weights, naming the tensor (they would evaluate to normal-looking figures)."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{where}: tensor {name} holds NaN or infinite values")


def _state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def save_model(out: str | os.PathLike, model: torch.nn.Module, step: int = 0, dtype: torch.dtype | None = None) -> Path:
    """Write the weights to ``out/model.safetensors`` atomically (optionally cast, e.g. to bfloat16)."""
    tensors = _state_dict(model)
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    path = Path(out) / "model.safetensors"
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"step": str(step)})
    return path


def load_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    """Load ``tensors`` into ``model``, naming every missing, unexpected or mis-shaped tensor."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in tensors and tensors[k].shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append("shape mismatch " + "; ".join(shapes[:5]))
        raise CheckpointError(f"{where}: weights do not fit the model config: " + ", ".join(parts))
    # a bool or integer tensor cast to the model's floats would load as plausible-looking weights
    wrong = [
        f"{k} ({tensors[k].dtype})"
        for k in expected
        if expected[k].is_floating_point() and not tensors[k].is_floating_point()
    ]
    if wrong:
        raise CheckpointError(f"{where}: weights must be floating point, got {', '.join(wrong[:5])}")
    check_finite(tensors, where)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})


def load_model(folder: str | os.PathLike | None = None, device: str | torch.device | None = None) -> TransformerBridge:
    """Rebuild a model from a checkpoint folder (its config.json and model.safetensors), in eval mode.

    Without ``folder``, the shipped model (``models/small8``)."""
    if folder is None and not (SHIPPED_MODEL / "config.json").exists():
        raise CheckpointError(
            f"the shipped model is not at {SHIPPED_MODEL}: it travels with the repository (models/small8), not with "
            "an installed package; pass --model FOLDER, or set OTHELLO_GPT_MODEL to a clone's models/small8 "
            "(git clone --depth 1 <repository>: about 45 MB)"
        )
    folder = Path(folder) if folder is not None else SHIPPED_MODEL
    data = read_run_config(folder)
    cfg = ModelConfig.from_dict(data["model"], where=str(folder / "config.json"))
    weights = folder / "model.safetensors"
    if not weights.exists():
        raise CheckpointError(f"{folder}: no model.safetensors")
    check_weights_fit(cfg, weights)
    tensors = read_safetensors(weights)
    check_finite(tensors, str(weights))
    model = build_model(cfg, device=device)
    load_weights(model, tensors, str(weights))
    model.eval()
    return model


def save_train_state(
    path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int
) -> None:
    """Weights, AdamW moments, step and RNG in one safetensors file, written atomically."""
    tensors = {f"model.{k}": v for k, v in _state_dict(model).items()}
    names = {id(p): n for n, p in model.named_parameters()}
    steps: dict[str, float] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state:
                continue
            name = names[id(p)]
            tensors[f"exp_avg.{name}"] = state["exp_avg"].detach().cpu().contiguous()
            tensors[f"exp_avg_sq.{name}"] = state["exp_avg_sq"].detach().cpu().contiguous()
            steps[name] = float(state["step"])
    tensors["rng.torch"] = torch.get_rng_state()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"step": str(step), "adam_steps": json.dumps(steps)})


def load_train_state(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore what ``save_train_state`` wrote; returns the step to continue from."""
    from safetensors import safe_open

    path = Path(path)
    tensors = read_safetensors(path)  # first: a damaged file is named before anything else reads it
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if "adam_steps" not in metadata or "step" not in metadata:
        raise CheckpointError(f"{path}: no training state in its metadata (adam_steps, step)")
    check_finite(tensors, str(path))
    load_weights(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    steps = json.loads(metadata["adam_steps"])
    device = next(model.parameters()).device
    for name, p in model.named_parameters():
        if name in steps:
            optimizer.state[p] = {
                "step": torch.tensor(steps[name]),
                "exp_avg": tensors[f"exp_avg.{name}"].to(device),
                "exp_avg_sq": tensors[f"exp_avg_sq.{name}"].to(device),
            }
    torch.set_rng_state(tensors["rng.torch"])
    return int(metadata["step"])
