"""Training a sparse autoencoder on one hook's activations, streamed: from the model on synthetic games, or from an
HDF5 activation file written by ``othello.probes.activations.collect_activations(out=...)``.

    ```python
    cfg = SAETrainConfig(hook="blocks.6.hook_resid_mid", arch="topk", latents=4096, k=64, tokens=3_000_000)
    train_sae(model, cfg, "runs/sae")                   # resumable: train_sae(..., resume=True)
    ```

The data come in chunks of ``chunk_games`` games: the chunk's activations at every position that reads a move,
shuffled by a generator seeded by (seed, chunk), cut into batches of ``batch_size`` tokens (the remainder
dropped). Memory holds one chunk, whatever ``tokens`` is. Synthetic games come from stream ``SAE_SEED`` after its
first ``EVAL_GAMES`` games, which the evaluation keeps for itself. Checkpoints (the weights, the optimiser's
moments, the latents' last firing and where in the data it stands) are written atomically every
``checkpoint_every`` steps, so a resumed run continues bit for bit.

TopK (Gao et al.): the k largest pre-activations per token, with the auxiliary loss AuxK against dead latents
(latents that fired on none of the last ``dead_tokens`` tokens reconstruct the residual error through their own
top ``aux_k``). ReLU + L1: the L1 penalty of the latents (decoder rows are unit norm), warmed up over the first
5 % of steps. Both: Adam, the learning rate warmed up over 1 % of steps and decayed linearly to 0 over the last
20 %; decoder rows kept at unit norm; inputs scaled so that their mean norm is sqrt(d_in).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from othello.data.seeds import SAE_SEED
from othello.engine.games import random_games
from othello.engine.notation import N_CTX
from othello.errors import ConfigError
from othello.files import atomic_path, write_json, writer_lock
from othello.model.checkpoints import read_safetensors
from othello.model.tokens import model_inputs
from othello.sae.autoencoder import SparseAutoencoder, save_sae
from othello.sae.config import SAEConfig, SAETrainConfig

__all__ = ["ActivationChunks", "train_sae", "EVAL_GAMES", "read_train_state"]

EVAL_GAMES = 10_000  # the first games of stream SAE_SEED: held out for evaluation, never trained on


class ActivationChunks:
    """The training data, chunk by chunk: ``chunk(c)`` is float32 ``[tokens, d_in]``, shuffled, deterministic in
    (seed, c). From ``model`` on synthetic games, or from the HDF5 file ``data`` (games taken in order, wrapping
    round when the file is exhausted)."""

    def __init__(self, model: torch.nn.Module | None, cfg: SAETrainConfig) -> None:
        self.model, self.cfg = model, cfg
        # an SAE reads one hook; a transcoder its input and its output, side by side in each row
        self.hooks = [cfg.hook] + ([cfg.output_hook] if cfg.output_hook else [])
        self.file: h5py.File | None = None
        self._last: tuple[int, np.ndarray] | None = None
        if cfg.data is not None:
            try:
                self.file = h5py.File(cfg.data, "r")
            except OSError as error:
                raise ConfigError(f"{cfg.data}: not a readable HDF5 activation file ({error})") from None
            missing = [h for h in self.hooks + ["moves"] if h not in self.file]
            if missing:
                raise ConfigError(
                    f"{cfg.data}: no dataset {missing[0]!r} with its 'moves' (holds {', '.join(sorted(self.file))}); "
                    "write one with collect_activations(model, moves, [hook], out=...)"
                )
            self.positions = np.asarray(self.file.attrs.get("positions", np.arange(N_CTX)))
            self.games = len(self.file["moves"])
        elif model is None:
            raise ConfigError("training data: give a model (synthetic games) or an activation file")

    def _raw(self, c: int) -> np.ndarray:
        n = self.cfg.chunk_games
        if self.file is not None:
            start = (c * n) % self.games
            spans = [(start, min(start + n, self.games))]
            if start + n > self.games:  # wrap round to the file's first games
                spans.append((0, min(start + n - self.games, self.games)))
            acts = np.concatenate([np.concatenate([self.file[h][a:b] for h in self.hooks], -1) for a, b in spans])
            moves = np.concatenate([self.file["moves"][a:b] for a, b in spans])
            return acts[moves[:, self.positions] >= 0]
        games = random_games(n, SAE_SEED, first_index=EVAL_GAMES + c * n)
        parts = []
        for start in range(0, n, 250):
            batch = games[start : start + 250]
            parts.append(activations_at(self.model, model_inputs(batch), self.hooks)[batch[:, :N_CTX] >= 0])
        return np.concatenate(parts)

    def width(self) -> int:
        """The width of the first hook (the dictionary's input) in each row."""
        if self.file is not None:
            return int(self.file[self.hooks[0]].shape[-1])
        one = model_inputs(random_games(1, SAE_SEED))[:, :1]
        return int(activations_at(self.model, one, self.hooks[0]).shape[-1])

    def chunk(self, c: int) -> np.ndarray:
        if self._last is None or self._last[0] != c:  # the one asked again: the chunk that sized the SAE
            x = self._raw(c)
            self._last = (c, x[np.random.default_rng([self.cfg.seed, c]).permutation(len(x))])
        return self._last[1]

    def batches(self, chunk: int, batch: int) -> Iterator[tuple[int, int, torch.Tensor]]:
        """``(chunk, batch, x [batch_size, d_in])`` from batch ``batch`` of chunk ``chunk`` on, forever."""
        B = self.cfg.batch_size
        while True:
            x = torch.from_numpy(self.chunk(chunk))
            for b in range(batch, len(x) // B):
                yield chunk, b, x[b * B : (b + 1) * B]
            chunk, batch = chunk + 1, 0

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class _Reached(Exception):
    """Raised by the hook that has what it came for: the blocks after it need not run."""


@torch.no_grad()
def activations_at(model: torch.nn.Module, tokens: torch.Tensor, hook: str | Sequence[str]) -> np.ndarray:
    """float32 ``[batch, positions, d]`` at ``hook`` (several hooks: their activations side by side on the last
    axis, in the order given), running the model only as far as the last of them."""
    hooks = [hook] if isinstance(hook, str) else list(hook)
    held: dict[str, torch.Tensor] = {}

    def grabber(name: str) -> Any:
        def grab(act: torch.Tensor, hook: Any) -> torch.Tensor:
            held[name] = act.detach()
            if len(held) == len(hooks):
                raise _Reached
            return act

        return grab

    for name in hooks:
        if name not in model.hook_dict:
            raise ConfigError(f"unknown hook point {name!r}; e.g. blocks.6.hook_resid_mid")
    with model.hooks(fwd_hooks=[(name, grabber(name)) for name in hooks]):
        try:
            model(tokens.to(next(model.parameters()).device))
        except _Reached:
            pass
    for name in hooks:
        if held[name].ndim != 3:  # attn.hook_pattern [batch, head, q, k], attn.hook_z [batch, pos, head, d_head]
            raise ConfigError(
                f"hook {name!r} holds [{', '.join(map(str, held[name].shape))}] activations, not one vector per "
                "position [batch, positions, d]: a dictionary reads a residual, MLP or attention output "
                "(e.g. blocks.6.hook_resid_mid)"
            )
    return torch.cat([held[name] for name in hooks], -1).float().cpu().numpy()


def _lr(cfg: SAETrainConfig, step: int) -> float:
    warmup = max(1, cfg.steps // 100)
    decay_from = int(cfg.steps * 0.8)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    if step >= decay_from:
        return cfg.lr * max(0.0, (cfg.steps - step) / max(1, cfg.steps - decay_from))
    return cfg.lr


def _loss(sae: SparseAutoencoder, rows: torch.Tensor, cfg: SAETrainConfig, dead: torch.Tensor, step: int):
    """(loss, mse, latents) on a batch of ``rows`` (raw units; the dictionary scales them): an SAE's input, or a
    transcoder's input and target side by side."""
    x, y = _split(sae, rows)
    target = y * sae.scale_out
    pre = sae.pre_activations(x)
    if cfg.arch == "topk":
        top = pre.topk(cfg.k, dim=-1)
        # dense: on CPU one matmul beats gathering k decoder rows per token (and its scattered backward)
        f = torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
    else:
        f = torch.relu(pre)
    recon = f @ sae.W_dec + sae.b_dec
    if sae.W_skip is not None:
        recon = recon + (x * sae.input_scale) @ sae.W_skip
    mse = ((recon - target) ** 2).sum(-1).mean()
    loss = mse
    if cfg.arch == "relu":
        warm = min(1.0, (step + 1) / max(1, cfg.steps // 20))
        loss = loss + warm * cfg.l1 * (f * sae.W_dec.norm(dim=1)).sum(-1).mean()
    elif bool(dead.any()) and cfg.aux_coefficient > 0:
        error = (target - recon).detach()
        masked = pre.masked_fill(~dead, -float("inf"))
        k = min(cfg.aux_k, int(dead.sum()))
        aux = masked.topk(k, dim=-1)
        aux_recon = torch.zeros_like(pre).scatter(-1, aux.indices, torch.relu(aux.values)) @ sae.W_dec
        aux_loss = ((aux_recon - error) ** 2).sum(-1).mean() / (error**2).sum(-1).mean().clamp_min(1e-12)
        loss = loss + cfg.aux_coefficient * torch.nan_to_num(aux_loss)
    return loss, mse, f


def _split(sae: SparseAutoencoder, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A row of the data as (input, target): the same for an SAE."""
    if not sae.cfg.transcoder:
        return rows, rows
    return rows[:, : sae.cfg.d_in], rows[:, sae.cfg.d_in :]


def read_train_state(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The progress of a run in ``folder`` (``state.json``), or None; a file that is not such a state (garbage, a
    list, a field of the wrong type) is a ``ConfigError`` naming it."""
    path = Path(folder) / "state.json"
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(errors="replace"))
    except (ValueError, RecursionError) as error:
        raise ConfigError(f"{path}: not a training state ({error})") from None
    counters = ("step", "chunk", "batch", "tokens")
    if (
        not isinstance(state, dict)
        or not isinstance(state.get("config"), dict)
        or not all(
            isinstance(state.get(k), int) and not isinstance(state.get(k), bool) and state[k] >= 0 for k in counters
        )
        or not isinstance(state.get("log", []), list)
    ):
        raise ConfigError(f"{path}: not a training state (expected config, step, chunk, batch, tokens and log)")
    return state


def _save_state(folder: Path, sae: SparseAutoencoder, opt: torch.optim.Adam, last_fired: torch.Tensor, state: dict):
    tensors = {f"sae.{k}": v.detach().contiguous().cpu() for k, v in sae.state_dict().items()}
    for i, group in enumerate(opt.state_dict()["state"].values()):
        for key, value in group.items():
            tensors[f"opt.{i}.{key}"] = torch.as_tensor(value).contiguous().cpu()
    tensors["last_fired"] = last_fired.contiguous().cpu()
    with atomic_path(folder / "state.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_json(folder / "state.json", state)  # written second: a state.json always has its tensors beside it


def _load_state(folder: Path, sae: SparseAutoencoder, opt: torch.optim.Adam) -> torch.Tensor:
    tensors = read_safetensors(folder / "state.safetensors")
    weights = {k[4:]: v for k, v in tensors.items() if k.startswith("sae.")}
    weights.setdefault("output_scale", torch.ones(()))  # runs from before transcoders (an SAE does not use it)
    sae.load_state_dict(weights)
    opt_state = opt.state_dict()
    for i in range(len(opt_state["param_groups"][0]["params"])):
        keys = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
        if keys:
            opt_state["state"][i] = keys
    opt.load_state_dict(opt_state)
    return tensors["last_fired"]


def train_sae(
    model: torch.nn.Module | None,
    cfg: SAETrainConfig,
    out: str | os.PathLike,
    resume: bool = False,
    stop_at: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    info: dict[str, Any] | None = None,
) -> tuple[SparseAutoencoder, dict[str, Any]]:
    """Train (or with ``resume``, continue) an SAE into ``out``; returns it (scale folded in: raw units) and its
    final state. ``stop_at``: stop after that step (a later ``resume`` continues). ``info`` goes into ``sae.json``.
    The run holds its folder (``out.lock`` beside it): a second run into the same folder is refused.
    """
    cfg.validate()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(out):
        return _train_sae(model, cfg, out, resume, stop_at, device, progress, info)


def _train_sae(
    model: torch.nn.Module | None,
    cfg: SAETrainConfig,
    out: Path,
    resume: bool,
    stop_at: int | None,
    device: str,
    progress: bool,
    info: dict[str, Any] | None,
) -> tuple[SparseAutoencoder, dict[str, Any]]:
    """``train_sae`` inside the folder's lock."""
    previous = read_train_state(out)
    if previous is not None and not resume:
        raise ConfigError(f"{out} already holds an SAE run: pass --resume to continue it, or another --out")
    if previous is not None and SAETrainConfig.from_dict(previous["config"]) != cfg:
        raise ConfigError(f"{out}: the run there was started with other settings; resume it with the same ones")
    out.mkdir(parents=True, exist_ok=True)
    data = ActivationChunks(model, cfg)
    try:
        first = data.chunk(0 if previous is None else previous["chunk"])  # where the stream starts: computed once
        if cfg.batch_size > len(first):  # no batch would ever fill: the loop would read chunks forever
            source = f"the activation file {cfg.data}" if cfg.data else f"a chunk of {cfg.chunk_games} games"
            raise ConfigError(
                f"a batch of {cfg.batch_size} tokens is more than {source} holds ({len(first)} tokens): "
                "lower --batch-size or raise --chunk-games"
            )
        d_in = data.width() if cfg.output_hook else first.shape[1]
        shape = SAEConfig(
            d_in,
            cfg.latents,
            cfg.arch,
            cfg.k,
            d_out=first.shape[1] - d_in if cfg.output_hook else None,
            skip=cfg.skip_connection,
        )
        sae = SparseAutoencoder(shape, seed=cfg.seed).to(device)
        opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
        last_fired = torch.zeros(cfg.latents, dtype=torch.long)
        if previous is not None:
            last_fired = _load_state(out, sae, opt)
            state = previous
        else:
            with torch.no_grad():
                x, y = _split(sae, torch.from_numpy(first))
                sae.input_scale.fill_(math.sqrt(x.shape[1]) / float(x.norm(dim=1).mean()))
                if sae.cfg.transcoder:
                    sae.output_scale.fill_(math.sqrt(y.shape[1]) / float(y.norm(dim=1).mean().clamp_min(1e-12)))
                sae.b_dec.copy_((y * sae.scale_out).mean(0))
            state = {"config": asdict(cfg), "step": 0, "chunk": 0, "batch": 0, "tokens": 0, "mse": None, "log": []}
        step = state["step"]
        end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
        bar = tqdm(total=cfg.steps, initial=step, desc="sae", unit="step", disable=not progress)
        stream = data.batches(state["chunk"], state["batch"])
        running = []
        while step < end:
            chunk, batch, x = next(stream)
            x = x.to(device)
            dead = (step - last_fired) * cfg.batch_size >= cfg.dead_tokens
            for group in opt.param_groups:
                group["lr"] = _lr(cfg, step)
            with torch.enable_grad():  # whatever the caller's mode: this is training
                loss, mse, f = _loss(sae, x, cfg, dead.to(device), step)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            sae.remove_parallel_gradient()
            opt.step()
            sae.normalise_decoder()
            last_fired[(f > 0).any(0).cpu()] = step + 1
            step += 1
            running.append(float(mse.detach()))
            state.update(step=step, chunk=chunk, batch=batch + 1, tokens=step * cfg.batch_size)
            if step % cfg.checkpoint_every == 0 or step == end:
                state["mse"] = float(np.mean(running))
                state["log"].append({"step": step, "mse": state["mse"], "dead": int(dead.sum())})
                running = []
                _save_state(out, sae, opt, last_fired, state)
                # the dictionary as it stands, beside the state: a run stopped here (a time bound, --stop-at, kill)
                # leaves an SAE that eval and features read, marked partial with the tokens it has seen
                save_sae(sae, out, _saved_info(cfg, state, info))
                bar.set_postfix(mse=f"{state['mse']:.3f}", dead=int(dead.sum()))
            bar.update(1)
        bar.close()
    finally:
        data.close()
    sae.eval()
    return sae.folded().eval(), state


def _saved_info(cfg: SAETrainConfig, state: dict[str, Any], info: dict[str, Any] | None) -> dict[str, Any]:
    """What ``sae.json`` says of the run: its hook and settings, the steps and tokens it has trained on, and
    ``partial`` while it has not reached ``cfg.steps``."""
    return {
        "hook": cfg.hook,
        **({"output_hook": cfg.output_hook} if cfg.output_hook else {}),
        "train": asdict(cfg),
        "step": state["step"],
        "tokens": state["tokens"],
        "partial": state["step"] < cfg.steps,
        **(info or {}),
    }
