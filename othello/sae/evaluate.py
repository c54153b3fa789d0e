"""Scoring a dictionary against the board (Karvonen et al., "Measuring progress in dictionary learning ... with
board game models", NeurIPS 2024), and an SAE's reconstruction, in one table.

    ```python
    result = evaluate_sae(model, sae, "blocks.6.hook_resid_mid", games)     # games: held-out [G, 60]
    result["coverage"], result["reconstruction_f1"], result["fvu"], result["loss_recovered"]
    ```

Board properties at every position with a next mover: each square empty / mine / theirs (192, "board"), each
square legal (64) and each square flipped by the last move (64). A latent is on at threshold t when its
activation exceeds t x its maximum over the games (t = 0, 0.1, ..., 1; at 0: above 0).

- coverage (per group): for each t, each property's best F1 over the latents, averaged over the group's
  properties that hold somewhere in the games (the centre squares are never empty nor legal); the best t's value
  (``coverage`` for the whole board, ``coverage_mine_theirs`` for its pieces only, ``coverage_legal``,
  ``coverage_flipped``);
- board reconstruction: on the first half of the games, each latent with precision >= 0.95 for a board property
  and at least 10 firings stands for it; on the second half, the union of the properties of the latents that are
  on is the predicted board, scored by F1 against the true one (``reconstruction_f1``; t chosen on the first half).
  ``reconstruction_f1_mine_theirs`` does the same with the empty squares left out of the board.

Karvonen et al.'s code scores the Othello board both ways: with the empty class and with it masked out (their
``..._blank_mask`` board function), so both are reported.

Any dictionary can be scored: ``dictionary_metrics`` takes the latents as a function of the rows, which is how the
MLP neurons are scored as an identity dictionary (``mlp_neuron_baseline``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from othello.engine.games import replay
from othello.engine.notation import N_CTX
from othello.model.tokens import legal_token_mask, model_inputs, move_logits
from othello.probes.targets import board_labels
from othello.sae.autoencoder import SparseAutoencoder
from othello.train.evaluation import legal_move_scores
from othello.train.loop import loss_of_logits

__all__ = [
    "THRESHOLDS",
    "PROPERTY_GROUPS",
    "PROPERTY_NAMES",
    "board_properties",
    "dictionary_metrics",
    "reconstruction_metrics",
    "downstream_metrics",
    "evaluate_sae",
    "mlp_hook_for",
    "collect_rows",
]

THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(11))
PROPERTY_GROUPS = {
    "board": slice(0, 192),
    "mine_theirs": slice(64, 192),
    "legal": slice(192, 256),
    "flipped": slice(256, 320),
}
# the board as a whole, and with its empty squares masked out
_RECONSTRUCTED = {"reconstruction_f1": slice(0, 192), "reconstruction_f1_mine_theirs": slice(64, 192)}
_SQUARES = [f"{'abcdefgh'[s % 8]}{s // 8 + 1}" for s in range(64)]
PROPERTY_NAMES = tuple(
    [f"{sq} {state}" for state in ("empty", "mine", "theirs") for sq in _SQUARES]
    + [f"{sq} legal" for sq in _SQUARES]
    + [f"{sq} flipped" for sq in _SQUARES]
)
MIN_PRECISION = 0.95
MIN_FIRINGS = 10


def board_properties(moves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Properties ``[G, 59, 320]`` bool (``PROPERTY_NAMES``) and the positions that have them ``[G, 59]``."""
    relative = board_labels(moves, "relative")
    valid = relative[:, :, 0] >= 0
    parts = [relative == c for c in range(3)] + [board_labels(moves, n) == 1 for n in ("legal", "flipped")]
    return np.concatenate(parts, -1) & valid[:, :, None], valid


@torch.no_grad()
def collect_rows(
    model: torch.nn.Module, moves: np.ndarray, hooks: list[str], batch_size: int = 250
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, torch.Tensor]]:
    """One pass over games ``moves``: ``({hook: [rows, d]}, properties [rows, 320], each row's game [rows], its
    position [rows], {hook: each position's mean activation [59, d]})``. The rows are the positions with a next
    mover; the means (what mean ablation writes) take every position that reads a move."""
    props, valid = board_properties(moves)
    device = next(model.parameters()).device
    parts: dict[str, list[np.ndarray]] = {h: [] for h in hooks}
    sums: dict[str, torch.Tensor] = {}
    count = None
    for a in range(0, len(moves), batch_size):
        batch = moves[a : a + batch_size]
        _, cache = model.run_with_cache(model_inputs(batch).to(device), names_filter=lambda name: name in hooks)
        v = valid[a : a + batch_size]
        for h in hooks:
            act = cache[h].float().cpu()
            parts[h].append(act.numpy()[v])
            read = torch.from_numpy(batch[:, : act.shape[1]] >= 0).float()[:, :, None]
            sums[h] = sums[h] + (act * read).sum(0) if h in sums else (act * read).sum(0)
            if h == hooks[0]:
                count = read.sum(0) if count is None else count + read.sum(0)
    games, positions = np.nonzero(valid)
    means = {h: total / count.clamp_min(1) for h, total in sums.items()}
    return {h: np.concatenate(p) for h, p in parts.items()}, props[valid], games, positions, means


def dictionary_metrics(
    encode: Callable[[torch.Tensor], torch.Tensor],
    rows: np.ndarray,
    props: np.ndarray,
    fit: np.ndarray,
    batch_size: int = 4096,
    progress: bool = False,
) -> dict[str, Any]:
    """Coverage per property group and board reconstruction F1 of the latents ``encode(rows)``; ``fit`` [rows]
    bool marks the rows that pick each latent's properties (the rest score the reconstruction). Also returns
    ``f1`` ``[latents, 320]`` at the board coverage's best threshold and ``fires`` ``[latents]`` (rows where on
    at t = 0), for the feature pages."""
    x = torch.from_numpy(rows)
    P = torch.from_numpy(props).float()
    batches = range(0, len(x), batch_size)
    peak = None
    for a in batches:
        m = encode(x[a : a + batch_size]).amax(0)
        peak = m if peak is None else torch.maximum(peak, m)
    L, T = len(peak), len(THRESHOLDS)
    cuts = torch.stack([torch.where(peak > 0, t * peak, torch.full_like(peak, float("inf"))) for t in THRESHOLDS])
    tp = {s: torch.zeros(T, L, P.shape[1]) for s in ("fit", "test")}
    on_count = {s: torch.zeros(T, L) for s in ("fit", "test")}
    prop_count = {s: torch.zeros(P.shape[1]) for s in ("fit", "test")}
    fit_t = torch.from_numpy(fit)
    for a in tqdm(batches, desc="coverage", unit="batch", disable=not progress):
        f = encode(x[a : a + batch_size])
        p = P[a : a + batch_size]
        for split, rows_in in (("fit", fit_t[a : a + batch_size]), ("test", ~fit_t[a : a + batch_size])):
            if not rows_in.any():
                continue
            fs, ps = f[rows_in], p[rows_in]
            prop_count[split] += ps.sum(0)
            for i in range(T):
                on = (fs > cuts[i]).float()
                tp[split][i] += on.T @ ps
                on_count[split][i] += on.sum(0)
    all_tp = tp["fit"] + tp["test"]
    all_on = on_count["fit"] + on_count["test"]
    all_props = prop_count["fit"] + prop_count["test"]
    f1 = 2 * all_tp / (all_on[:, :, None] + all_props[None, None, :]).clamp_min(1)  # [T, L, P]
    best_f1 = f1.amax(1)  # [T, P]
    out: dict[str, Any] = {}
    occurs = all_props > 0  # the centre squares are never empty nor legal: properties that never hold are left out
    for group, sl in PROPERTY_GROUPS.items():
        per_t = best_f1[:, sl][:, occurs[sl]].mean(1)
        key = "coverage" if group == "board" else f"coverage_{group}"
        out[key] = float(per_t.max())
        out[f"{key}_threshold"] = THRESHOLDS[int(per_t.argmax())]
    t_best = THRESHOLDS.index(out["coverage_threshold"])
    out["f1"] = f1[t_best].numpy()
    out["fires"] = all_on[0].numpy()
    # board reconstruction: properties each latent stands for, from the fit rows
    precision = tp["fit"] / on_count["fit"][:, :, None].clamp_min(1)
    firm = (precision >= MIN_PRECISION) & (on_count["fit"][:, :, None] >= MIN_FIRINGS)  # [T, L, P]
    out |= _reconstruction(encode, x, P.bool(), fit_t, cuts, firm.float(), batch_size)
    return out


def _reconstruction(
    encode: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    truth: torch.Tensor,
    fit: torch.Tensor,
    cuts: torch.Tensor,
    stands: torch.Tensor,
    batch_size: int,
) -> dict[str, Any]:
    """Board reconstruction F1 (each of ``_RECONSTRUCTED``) on the rows not in ``fit`` (``truth`` [rows, P]), each
    latent on at ``cuts`` [T, L] predicting the properties it ``stands`` for ([T, L, P]), the threshold chosen on the
    ``fit`` rows. One pass over the rows serves every board."""
    T = len(cuts)
    scores = {(key, s): torch.zeros(T, 3) for key in _RECONSTRUCTED for s in ("fit", "test")}  # tp, fp, fn
    for a in range(0, len(x), batch_size):
        f = encode(x[a : a + batch_size])
        for split, rows_in in (("fit", fit[a : a + batch_size]), ("test", ~fit[a : a + batch_size])):
            if not rows_in.any():
                continue
            fs, ts = f[rows_in], truth[a : a + batch_size][rows_in]
            for i in range(T):
                on = (fs > cuts[i]).float()
                for key, sl in _RECONSTRUCTED.items():
                    predicted, true = (on @ stands[i][:, sl]) > 0, ts[:, sl]
                    scores[key, split][i] += torch.tensor(
                        [(predicted & true).sum(), (predicted & ~true).sum(), (~predicted & true).sum()],
                        dtype=torch.float32,
                    )

    def f1_of(s: torch.Tensor) -> torch.Tensor:
        return 2 * s[:, 0] / (2 * s[:, 0] + s[:, 1] + s[:, 2]).clamp_min(1)

    out: dict[str, Any] = {}
    for key, sl in _RECONSTRUCTED.items():
        chosen = int(f1_of(scores[key, "fit"]).argmax())
        name = key.replace("_f1", "")
        out[key] = float(f1_of(scores[key, "test"])[chosen])
        out[f"{name}_threshold"] = THRESHOLDS[chosen]
        out[f"{name}_latents"] = int(stands[chosen][:, sl].any(1).sum())
    return out


@torch.no_grad()
def reconstruction_metrics(sae: SparseAutoencoder, rows: np.ndarray, batch_size: int = 4096) -> dict[str, Any]:
    """``fvu`` (fraction of variance unexplained), ``mse`` (per element), ``l0`` (latents on per token), ``dead``
    (latents never on) and ``dense`` (latents on for more than 10 % of tokens) on activations ``[rows, d_in]``."""
    x = torch.from_numpy(rows)
    mean = x.mean(0)
    sse = sst = 0.0
    l0 = 0.0
    fired = torch.zeros(sae.cfg.d_sae)
    for a in range(0, len(x), batch_size):
        xb = x[a : a + batch_size]
        f = sae.encode(xb)
        sse += float(((sae.decode(f) - xb) ** 2).sum())
        sst += float(((xb - mean) ** 2).sum())
        on = f > 0
        l0 += float(on.sum())
        fired += on.sum(0)
    n = len(x)
    return {
        "fvu": sse / max(sst, 1e-12),
        "mse": sse / (n * x.shape[1]),
        "l0": l0 / n,
        "dead": int((fired == 0).sum()),
        "dense": int((fired > 0.1 * n).sum()),
    }


def downstream_metrics(
    model: torch.nn.Module, sae: SparseAutoencoder, hook: str, moves: np.ndarray, mean: torch.Tensor
) -> dict[str, Any]:
    """Top-1 legal rate and next-move loss of the clean model, with the SAE's reconstruction spliced in at
    ``hook`` (every position), and with the hook mean-ablated (``mean`` ``[positions, d]``: each position's mean
    activation); ``loss_recovered`` = (ablated - spliced) / (ablated - clean)."""

    def spliced(act: torch.Tensor) -> torch.Tensor:
        shape = act.shape
        return sae(act.reshape(-1, shape[-1]).float()).reshape(shape).to(act.dtype)

    def ablated(act: torch.Tensor) -> torch.Tensor:
        return mean[: act.shape[1]].to(act.device, act.dtype).expand_as(act).clone()

    legal = torch.from_numpy(legal_token_mask(replay(moves[:, :N_CTX], ("legal",)).legal)).reshape(-1, 61)
    has_next = torch.from_numpy(moves[:, 1 : N_CTX + 1] >= 0).reshape(-1)
    out: dict[str, Any] = {}
    for name, fn in (("clean", None), ("sae", spliced), ("ablated", ablated)):
        hooks = [] if fn is None else [(hook, lambda act, hook, fn=fn: fn(act))]  # noqa: B023
        with model.hooks(fwd_hooks=hooks):
            logits = move_logits(model, moves)  # one pass gives both scores
        out[f"top1_legal_{name}"] = legal_move_scores(logits.reshape(-1, 61), legal, has_next)["top1_legal"]
        out[f"loss_{name}"] = float(loss_of_logits(logits, moves))
    gap = out["loss_ablated"] - out["loss_clean"]
    out["loss_recovered"] = (out["loss_ablated"] - out["loss_sae"]) / gap if abs(gap) > 1e-9 else None
    out["top1_legal"] = out["top1_legal_sae"]
    return out


def mlp_hook_for(hook: str, n_layers: int) -> str:
    """The MLP neurons nearest a residual hook: those of the block that reads it (``blocks.L.hook_resid_pre`` and
    ``hook_resid_mid`` -> block L; ``hook_resid_post`` -> block L + 1, or L for the last)."""
    parts = hook.split(".")
    if len(parts) < 3 or parts[0] != "blocks" or not parts[1].isdigit():
        return "blocks.0.mlp.hook_post" if hook.startswith("hook_") else hook
    block = int(parts[1]) + (1 if parts[2] == "hook_resid_post" else 0)
    return f"blocks.{min(block, n_layers - 1)}.mlp.hook_post"


def evaluate_sae(
    model: torch.nn.Module,
    sae: SparseAutoencoder,
    hook: str,
    moves: np.ndarray,
    mlp_baseline: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """The whole table for one SAE on held-out games ``moves``: reconstruction, downstream and board metrics, and
    with ``mlp_baseline`` the nearest MLP's neurons scored as a dictionary (``mlp_neurons``)."""
    hooks = [hook] + ([mlp_hook_for(hook, model.cfg.n_layers)] if mlp_baseline else [])
    rows, props, games, _, means = collect_rows(model, moves, hooks)
    fit = games < len(moves) // 2
    x = rows[hook]
    result: dict[str, Any] = {"hook": hook, "games": len(moves), "tokens": len(x)}
    result |= reconstruction_metrics(sae, x)
    result |= downstream_metrics(model, sae, hook, moves, means[hook])
    board = dictionary_metrics(lambda b: sae.encode(b), x, props, fit, progress=progress)
    arrays = {"f1": board.pop("f1"), "fires": board.pop("fires")}
    result |= board
    if mlp_baseline:
        neurons = dictionary_metrics(lambda b: b, rows[hooks[1]], props, fit, progress=progress)
        neurons.pop("f1")
        fires = neurons.pop("fires")
        result["mlp_neurons"] = {"hook": hooks[1], **neurons, "dead": int((fires == 0).sum())}
    result["_arrays"] = arrays
    return result


def probe_site(hook: str, n_layers: int) -> tuple[int, str] | None:
    """The probes' "layer L at site" that reads the same activations as ``hook``, or None."""
    parts = hook.split(".")
    if hook == "hook_embed" or len(parts) != 3 or parts[0] != "blocks" or not parts[1].isdigit():
        return None
    block, kind = int(parts[1]), parts[2]
    return {
        "hook_resid_pre": (block, "resid_post"),
        "hook_resid_mid": (block + 1, "resid_mid"),
        "hook_resid_post": (block + 1, "resid_post"),
    }.get(kind)
