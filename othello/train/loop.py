"""The training loop: next-move prediction on move sequences, exact resume, DDP.

    ```python
    from othello.train import TrainConfig, train
    train(TrainConfig(preset="tiny", steps=100), out="runs/tiny")
    ```

Run folder: ``config.json`` (model and training config), ``model.safetensors`` (weights),
``train_state.safetensors`` (weights, optimiser moments and step: everything ``resume`` needs, in one
atomically written file), ``metrics.jsonl`` (one JSON object per log line).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from othello.data.streams import make_stream
from othello.engine.games import GAME_BYTES, replay
from othello.engine.notation import N_CTX, squares_to_tokens
from othello.errors import ConfigError
from othello.files import atomic_path, writer_lock
from othello.memory import check_memory
from othello.model.checkpoints import (
    CheckpointError,
    load_model,
    load_train_state,
    read_run_config,
    save_model,
    save_train_state,
    write_run_config,
)
from othello.model.config import ModelConfig
from othello.model.tokens import legal_token_mask, model_inputs
from othello.model.transformer import build_model
from othello.train.config import TrainConfig
from othello.train.evaluation import evaluate
from othello.train.schedule import cosine_lr, plan_steps

__all__ = [
    "train",
    "TrainResult",
    "init_weights",
    "loss_on",
    "loss_of_logits",
    "lr_at",
    "position_weights",
    "soft_targets",
    "next_move_targets",
    "read_metrics",
]


def next_move_targets(moves: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampled next move at each position: tokens ``[B, 59]`` and a mask ``[B, 59]`` of real moves."""
    targets = torch.from_numpy(squares_to_tokens(moves[:, 1 : N_CTX + 1]))
    return targets, targets > 0


def soft_targets(moves: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact next-move distributions of uniformly random games ``[B, 59, 61]`` and their mask ``[B, 59]``.

    Position t's target is uniform over the next mover's legal moves after move t (passes included):
    in expectation the same objective as the sampled next move, without its sampling noise.
    """
    r = replay(moves[:, :N_CTX], ("legal", "next_mover"))
    legal = legal_token_mask(r.legal).astype(np.float32)
    counts = legal.sum(-1, keepdims=True)
    mask = (counts[..., 0] > 0) & (moves[:, 1 : N_CTX + 1] >= 0)
    return torch.from_numpy(legal / np.maximum(counts, 1)), torch.from_numpy(mask)


# ---------------------------------------------------------------------------------------- evaluation

# ------------------------------------------------------------------------------------------ training


def lr_at(step: int, cfg: TrainConfig) -> float:
    """The run's learning rate at ``step``: ``cosine_lr`` over ``cfg.steps`` with ``cfg``'s warm-up and floor."""
    return cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup_steps, cfg.min_lr_ratio)


def position_weights(moves: np.ndarray, pass_weight: float) -> torch.Tensor:
    """Loss weight of each position ``[B, 59]``: ``pass_weight`` after an odd number of passes, else 1.

    There the next mover is not the one the move count's parity names; a model that goes by parity (which is
    what these models learn first) is wrong there, and those positions are too rare to teach it otherwise.
    """
    off = replay(moves[:, :N_CTX], ("passed",)).off_parity()
    return torch.from_numpy(np.where(off, np.float32(pass_weight), np.float32(1.0)))


def loss_on(
    model: torch.nn.Module, moves: np.ndarray, soft: bool, device: torch.device, pass_weight: float = 1.0
) -> torch.Tensor:
    """Cross-entropy of the next move over real positions of games ``[B, 60]``, averaged with
    ``position_weights`` (a plain mean when ``pass_weight`` is 1)."""
    return loss_of_logits(model(model_inputs(moves).to(device)), moves, soft, pass_weight)


def loss_of_logits(
    logits: torch.Tensor, moves: np.ndarray, soft: bool = False, pass_weight: float = 1.0
) -> torch.Tensor:
    """``loss_on`` from logits already computed: ``logits`` ``[B, 59, 61]`` of games ``moves`` ``[B, 60]``."""
    device = logits.device
    logits = logits.float()  # the loss in fp32 whatever the autocast dtype
    if soft:
        target, mask = soft_targets(moves)
        target, mask = target.to(device), mask.to(device)
        nll = -(target * F.log_softmax(logits, -1)).sum(-1)
    else:
        target, mask = next_move_targets(moves)
        target, mask = target.to(device), mask.to(device)
        nll = (
            F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
            .view_as(mask)
            .float()
        )
    weight = mask.float()
    if pass_weight != 1.0:
        weight = weight * position_weights(moves, pass_weight).to(device)
    return (nll * weight).sum() / weight.sum().clamp(min=1)


@torch.no_grad()
def next_move_loss(model: torch.nn.Module, moves: np.ndarray | str, soft: bool = False) -> float:
    """The model's next-move cross-entropy on games ``[B, 60]`` (or one move string, ``"f5 d6 c3"``), over the
    positions that have a next move only: padding after a short game's end is no target, and each position's
    target is the game's next move (``soft``: the uniform distribution over the legal moves, the training
    objective of the shipped models).

    Not the same as TransformerLens's ``model(tokens, return_type="loss")``: that is the language-model loss of
    the input tokens, which scores the padding token 0 as the "next move" after a game's end, and never scores
    the 60th move (it is not an input)."""
    if isinstance(moves, str):
        from othello.engine.games import pad_games
        from othello.engine.notation import parse_moves

        moves = pad_games([parse_moves(moves)])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return float(loss_on(model, np.asarray(moves), soft, device))
    finally:
        model.train(was_training)


def _distributed() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(
            "nccl" if torch.cuda.is_available() and os.environ.get("OTHELLO_DDP_BACKEND") != "gloo" else "gloo"
        )
    return dist.get_rank(), dist.get_world_size()


def train(
    cfg: TrainConfig,
    out: str | os.PathLike,
    resume: bool = False,
    minutes: float | None = None,
    device: str = "cpu",
    progress: bool = True,
    stop_at: int | None = None,
    threads: int | None = None,
    precision: str | None = None,
) -> TrainResult:
    """Train (or resume) a run in ``out``; returns the trained model, the step reached and its last evaluation.

    ``minutes`` bounds this call's wall time (the run can be resumed); ``stop_at`` ends this call after that
    step. The learning-rate schedule always spans ``cfg.steps``, so a run stopped and resumed follows the
    same curve, and gives the same weights, as one that was not stopped (at the same ``precision``). A fresh run
    with ``cfg.minutes`` first plans its schedule to fit that time (``_plan``: ``steps`` and the warm-up shrink to
    what fits, measured on this machine) and saves the planned config, which a resumed run follows. The last
    step's evaluation is always logged, wherever the call stops.
    ``precision``: ``"bf16"`` (autocast; weights and optimizer stay fp32) or ``"fp32"``; by default bf16 on
    CUDA and fp32 on CPU, where bf16 is faster only on CPUs with bf16 instructions (BENCHMARKS.md).
    Like ``device``, it is how a run is executed, not part of its config: a run may resume at another one.
    """
    out = Path(out)
    rank, _ = _distributed()
    # the run holds its folder (``out.lock`` beside it) for as long as it writes there, so that a second run into
    # the same folder is refused naming the first instead of interleaving metrics and checkpoints with it
    if rank == 0:
        out.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(out) if rank == 0 else contextlib.nullcontext():
        return _train(cfg, out, resume, minutes, device, progress, stop_at, threads, precision)


def _step_bytes(model_cfg: ModelConfig, batch: int) -> int:
    """What one training step holds for the backward pass, about: per token and block the residual, attention
    and MLP activations and the attention pattern, and the logits with their gradient, in float32."""
    c = model_cfg
    per_token = c.n_layers * (12 * c.d_model + 2 * c.d_mlp + 3 * c.n_heads * c.n_ctx) + 3 * c.d_vocab
    return 4 * batch * c.n_ctx * per_token


def _train(
    cfg: TrainConfig,
    out: Path,
    resume: bool = False,
    minutes: float | None = None,
    device: str = "cpu",
    progress: bool = True,
    stop_at: int | None = None,
    threads: int | None = None,
    precision: str | None = None,
) -> TrainResult:
    """``train`` inside the folder's lock."""
    out = Path(out)
    rank, world = _distributed()
    dev = torch.device(device if device != "cuda" or world == 1 else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    if threads:
        torch.set_num_threads(threads)
    model_cfg = cfg.model_config()
    if dev.type == "cpu":
        check_memory(_step_bytes(model_cfg, cfg.batch_size), f"training batches of {cfg.batch_size:,} games")
        check_memory(cfg.eval_games * GAME_BYTES, f"{cfg.eval_games:,} evaluation games")
    state_path = out / "train_state.safetensors"
    if resume and state_path.exists():
        saved = read_run_config(out)
        # a field added since the run was written reads as its default (the behaviour before it existed)
        before = {**TrainConfig().to_dict(), **saved["train"]}
        if before.get("minutes") is not None:
            # a planned run resumes on the schedule it planned, whatever bound on steps this call gives
            cfg = dataclasses.replace(
                cfg, steps=before["steps"], warmup_steps=before["warmup_steps"], minutes=before["minutes"]
            )
        diffs = {k: (before.get(k), v) for k, v in cfg.to_dict().items() if before.get(k) != v}
        if diffs:
            raise ConfigError(f"{out}: cannot resume with a different training config (saved vs given: {diffs})")
    elif (out / "config.json").exists() and not resume:
        raise FileExistsError(f"{out} already holds a run: pass resume=True (--resume) or choose another folder")
    torch.manual_seed(cfg.seed)
    model = build_model(model_cfg, device=dev)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=cfg.betas,
    )
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # every process has checked the folder before rank 0 writes into it
    stream = make_stream(cfg.data, cfg.data_seed, cfg.batch_size, rank, world)
    eval_set = stream.eval_games(cfg.eval_games)
    step = 0
    if resume and state_path.exists():
        step = load_train_state(state_path, model, optimizer)
    else:
        if cfg.init_from:
            init_weights(model, model_cfg, cfg.init_from)
        if cfg.minutes is not None:
            cfg = _plan(cfg, model, stream, eval_set, dev, world)
        if rank == 0:
            write_run_config(out, model_cfg, cfg.to_dict())
    ddp_model: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    metrics_path = out / "metrics.jsonl"
    last_eval: dict[str, Any] = {}
    evaluated_at = -1  # the step of the last logged evaluation
    if rank == 0:
        _truncate_metrics(metrics_path, step)
    logged = read_metrics(out)
    if logged and logged[-1]["step"] == step and "val_top1_legal" in logged[-1]:
        # resumed where the last evaluation was logged: it stands (and is not logged twice)
        evaluated_at = step
        last_eval = {k[4:]: v for k, v in logged[-1].items() if k.startswith("val_")}
    started = time.time()
    end = min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {out.name}", unit="step", disable=not progress or rank > 0)
    tokens_seen, window_start = 0, time.time()
    precision = precision or ("bf16" if dev.type == "cuda" else "fp32")
    if precision not in ("bf16", "fp32"):
        raise ConfigError(f"precision must be bf16 or fp32, got {precision!r}")
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    while step < end:
        if minutes is not None and time.time() - started > minutes * 60:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        moves = stream.batch(step)
        with autocast:
            loss = loss_on(ddp_model, moves, cfg.soft_targets, dev, cfg.pass_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        step += 1
        tokens_seen += int((moves[:, :N_CTX] >= 0).sum()) * world
        bar.update(1)
        row: dict[str, Any] | None = None
        if step % cfg.log_every == 0 or step == end:
            elapsed = time.time() - window_start
            row = {
                "step": step,
                "games": step * cfg.batch_size * world,
                "loss": loss.item(),
                "lr": lr_at(step - 1, cfg),
                "grad_norm": float(grad_norm),
                "tokens_per_s": tokens_seen / max(elapsed, 1e-9),
                "time": time.time(),
            }
            tokens_seen, window_start = 0, time.time()
        if step % cfg.eval_every == 0 or step == end:
            last_eval = evaluate(model, eval_set)
            row = {
                **(row or {"step": step, "games": step * cfg.batch_size * world, "time": time.time()}),
                **{f"val_{k}": v for k, v in last_eval.items()},
            }
        if row is not None and rank == 0:
            _log(metrics_path, row)
            shown = {"loss": f"{row.get('loss', loss.item()):.3f}", "tok_s": f"{row.get('tokens_per_s', 0):.0f}"}
            if last_eval:  # no evaluation yet: nothing to show rather than nan
                shown["legal"] = f"{last_eval['top1_legal']:.3f}"
            bar.set_postfix(shown)
            evaluated_at = step if "val_top1_legal" in row else evaluated_at
        if rank == 0 and (step % cfg.checkpoint_every == 0 or step == end):
            save_train_state(state_path, model, optimizer, step)
            save_model(out, model, step)
    bar.close()
    if rank == 0:
        save_train_state(state_path, model, optimizer, step)
        save_model(out, model, step)
    if evaluated_at != step:
        # stopped between evaluations (the time bound): evaluate where it stopped, and log it for the curves
        last_eval = evaluate(model, eval_set)
        if rank == 0 and step > 0:
            _log_evaluation(metrics_path, step, {f"val_{k}": v for k, v in last_eval.items()}, cfg.batch_size * world)
    model.eval()
    return TrainResult(model=model, step=step, metrics=last_eval)


def _log(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def _log_evaluation(path: Path, step: int, evaluation: dict[str, Any], games_per_step: int) -> None:
    """Log ``evaluation`` at ``step``: into that step's row when one was logged already (one row per step), else as
    a row of its own."""
    rows = read_metrics(path.parent)
    if rows and rows[-1]["step"] == step:
        rows[-1].update(evaluation)
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        _log(path, {"step": step, "games": step * games_per_step, "time": time.time(), **evaluation})


def _plan(
    cfg: TrainConfig,
    model: torch.nn.Module,
    stream: Any,
    eval_set: np.ndarray,
    device: torch.device,
    world: int,
) -> TrainConfig:
    """``cfg`` with ``steps`` (at most ``cfg.steps``) and ``warmup_steps`` (at most a tenth of them) planned so
    that the run ends in ``cfg.minutes``: a step's cost is timed on drawing a batch and a forward and backward pass
    of it, for the second and third batches (after the first, to warm up; no optimizer step, so the weights are
    untouched), an evaluation's cost on the
    validation games (``plan_steps``). With several processes, the first one's plan is used by all."""
    timings = []
    for i in range(3):
        t = time.perf_counter()
        moves = stream.batch(i)  # a step draws its games too (synthetic games are generated on the fly)
        loss_on(model, moves, cfg.soft_targets, device, cfg.pass_weight).backward()
        timings.append(time.perf_counter() - t)
    model.zero_grad(set_to_none=True)
    t = time.perf_counter()
    evaluate(model, eval_set)
    eval_seconds = time.perf_counter() - t
    steps = plan_steps(60 * cfg.minutes, float(np.median(timings[1:])), eval_seconds, cfg.eval_every)
    if world > 1:
        import torch.distributed as dist

        shared = torch.tensor([steps], device=device)
        dist.broadcast(shared, 0)
        steps = int(shared.item())
    steps = min(cfg.steps, steps)
    return dataclasses.replace(cfg, steps=steps, warmup_steps=min(cfg.warmup_steps, steps // 10))


def init_weights(model: torch.nn.Module, model_cfg: ModelConfig, folder: str | os.PathLike) -> None:
    """Start a run from the weights of checkpoint ``folder``, whose model config must equal ``model_cfg``, or
    differ only in having fewer blocks.

    Only the weights are taken: the optimizer, the schedule and the data stream start afresh, so a
    finished model can be trained on with a new schedule (a warm restart) in a new run folder. A checkpoint
    with fewer blocks grows the model in depth: its blocks keep their order, its last block stays last, and
    the new blocks go just before it with the output weights and biases of their attention and MLP at zero,
    so each new block adds nothing to the residual stream and the grown model starts out computing exactly
    what the checkpoint did, and training decides what they write. They go before the last block because that
    block turns the board into next-move logits (the board reads best just inside it), so the extra depth
    lands where the board is still being built.
    """
    source = load_model(folder)
    saved: ModelConfig = source.othello_config
    if saved != model_cfg.replace(n_layers=saved.n_layers) or saved.n_layers > model_cfg.n_layers:
        diffs = {k: (v, getattr(model_cfg, k)) for k, v in saved.to_dict().items() if getattr(model_cfg, k) != v}
        raise CheckpointError(
            f"{folder}: its model config differs from the run's other than by having fewer "
            f"blocks (checkpoint vs run: {diffs})"
        )
    old, new = saved.n_layers, model_cfg.n_layers
    # block i of the checkpoint becomes block i, except the last, which becomes the run's last
    block_map = {i: i for i in range(old - 1)} | {old - 1: new - 1}
    state = model.state_dict()
    for key, value in source.state_dict().items():
        if key.startswith("blocks."):
            _, index, rest = key.split(".", 2)
            key = f"blocks.{block_map[int(index)]}.{rest}"
        state[key] = value
    for block in range(old - 1, new - 1):
        for name in ("attn.o.weight", "attn.o.bias", "mlp.out.weight", "mlp.out.bias"):
            state[f"blocks.{block}.{name}"] = torch.zeros_like(state[f"blocks.{block}.{name}"])
    model.load_state_dict(state)


@dataclasses.dataclass
class TrainResult:
    """What ``train`` returns: the model (in eval mode), the step it reached and its validation metrics."""

    model: torch.nn.Module
    step: int
    metrics: dict[str, Any]


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop log rows past ``step`` (written after the checkpoint a resumed run starts from), and a torn last line."""
    if not path.exists():
        return
    rows = [r for r in read_metrics(path.parent) if r["step"] <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))


def read_metrics(run: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of ``run/metrics.jsonl``. A torn last line (what kill -9 during a write leaves) is dropped with a
    warning; a bad line anywhere else is an error naming it."""
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return []
    lines = [(n, line) for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1) if line.strip()]
    rows = []
    for i, (number, line) in enumerate(lines):
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                raise ValueError("no step")
        except ValueError:
            if i == len(lines) - 1:
                warnings.warn(f"{path}: line {number} is torn (an interrupted write); dropped", stacklevel=2)
                break
            raise CheckpointError(f"{path}: line {number} is not a metrics row: {line[:80]!r}") from None
        rows.append(row)
    return rows
