"""The local replacement model of one game prefix, and its exact linear backward pass: what an attribution graph's
edges are read from (``othello.sae.graph``).

Every MLP is replaced by its block's transcoder, the attention patterns and every LayerNorm scale are frozen at
their values on the prefix, and each MLP's output is held at its clean value (its latents' writes plus an error
node: exact on the prefix). What is left is linear in the stream, so the gradient of a target (a latent's
pre-activation, or a move's logit) with respect to the stream at every earlier point is a product of small
matrices. ``stream_gradients`` writes that backward pass out by hand, block by block, for a batch of targets at
once, only over the positions the targets can see (attention is causal):

- through block b's MLP only its skip connection passes a gradient (the rest is held constant);
- through block b's attention, the frozen pattern carries the gradient from each query back to its keys:
  ``grad_pre[k] = centre(w1 * sum_h W_V[h] @ sum_q P[h, q, k] W_O[h] @ grad_mid[q]) / scale1[k]``;
- a LayerNorm with its scale frozen is ``centre(x) / scale``, whose gradient is the centred gradient over the scale.

This is the same backward pass autograd would take through the hooked model (the tests check every edge against a
finite difference of that hooked model), without the hook and autograd overhead that made a graph take minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from othello.model.convert import to_hooked
from othello.model.tokens import to_tokens
from othello.sae.autoencoder import SparseAutoencoder
from othello.sae.transcoders import input_hook, output_hook

EMBED = "blocks.0.hook_resid_pre"


@dataclass
class Clean:
    """The clean run of one prefix and the replacement model's pieces on it."""

    tokens: torch.Tensor  # [1, T]
    frozen: dict[str, torch.Tensor]  # attention patterns [1, heads, T, T] and LayerNorm scales [1, T, 1]
    resid0: torch.Tensor  # [T, d]: the embeddings
    latents: dict[int, torch.Tensor]  # block -> [T, d_sae]
    constant: dict[int, torch.Tensor]  # block -> what the MLP output is held at, skip term excluded [T, d]
    errors: dict[int, torch.Tensor]  # block -> [T, d]
    logits: torch.Tensor  # [T, vocab]


def frozen_names(model: torch.nn.Module) -> list[str]:
    """The hooks whose clean values the replacement model freezes: every attention pattern and LayerNorm scale."""
    n = model.cfg.n_layers
    names = [f"blocks.{b}.attn.hook_pattern" for b in range(n)]
    names += [f"blocks.{b}.{ln}.hook_scale" for b in range(n) for ln in ("ln1", "ln2")] + ["ln_final.hook_scale"]
    return [name for name in names if name in model.hook_dict]


def skip_term(tc: SparseAutoencoder, x: torch.Tensor) -> torch.Tensor:
    """What a skip transcoder's linear path adds to its output for input ``x`` ``[..., d]`` (zeros without one)."""
    if tc.W_skip is None:
        return torch.zeros(*x.shape[:-1], tc.cfg.width_out, device=x.device)
    return (x * tc.input_scale) @ tc.W_skip / tc.scale_out


@torch.no_grad()
def clean_run(model: torch.nn.Module, transcoders: dict[int, SparseAutoencoder], squares: list[int]) -> Clean:
    """Run the prefix ``squares`` once and keep what the replacement model holds fixed."""
    device = next(model.parameters()).device
    tokens = to_tokens(squares).to(device)
    names = frozen_names(model)
    wanted = set(names) | {EMBED} | {input_hook(b) for b in transcoders} | {output_hook(b) for b in transcoders}
    logits, cache = model.run_with_cache(tokens, names_filter=lambda n: n in wanted)
    latents, constant, errors = {}, {}, {}
    for b, tc in transcoders.items():
        x = cache[input_hook(b)][0].float()
        f = tc.encode(x)
        recon = tc.decode(f, x)
        errors[b] = cache[output_hook(b)][0].float() - recon
        latents[b], constant[b] = f, recon - skip_term(tc, x) + errors[b]
    frozen = {n: cache[n].detach().float() for n in names}
    return Clean(tokens, frozen, cache[EMBED][0].float(), latents, constant, errors, logits[0].float())


@dataclass
class FrozenWeights:
    """What the backward pass multiplies by, per block (HookedTransformer layout, float32): ``W_V`` [heads, d,
    d_head], ``W_O`` [heads, d_head, d], the LayerNorm weights ``ln1`` [d] and ``final`` [d] (ones where the
    checkpoint folds them), the unembedding ``W_U`` [d, vocab]."""

    W_V: list[torch.Tensor]
    W_O: list[torch.Tensor]
    ln1: list[torch.Tensor]
    final: torch.Tensor
    W_U: torch.Tensor

    @classmethod
    def of(cls, model: torch.nn.Module, device: torch.device) -> FrozenWeights:
        cfg = model.othello_config
        sd = to_hooked(cfg, model.state_dict())
        ones = torch.ones(cfg.d_model)
        n = range(cfg.n_layers)
        put = lambda t: t.to(device)  # noqa: E731
        return cls(
            [put(sd[f"blocks.{b}.attn.W_V"]) for b in n],
            [put(sd[f"blocks.{b}.attn.W_O"]) for b in n],
            [put(sd.get(f"blocks.{b}.ln1.w", ones)) for b in n],
            put(sd.get("ln_final.w", ones)),
            put(sd["unembed.W_U"]),
        )


def _centre(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(-1, keepdim=True)


def _scale(clean: Clean, name: str, width: int) -> torch.Tensor:
    """A frozen LayerNorm scale over the first ``width`` positions, ``[width, 1]``."""
    return clean.frozen[name][0, :width]


def _through_attention(grad: torch.Tensor, clean: Clean, weights: FrozenWeights, block: int) -> torch.Tensor:
    """The gradient at block ``block``'s ``hook_resid_pre`` from the gradient ``[B, t, d]`` at its
    ``hook_resid_mid`` (the residual path plus the attention's frozen linear map)."""
    t = grad.shape[1]
    pattern = clean.frozen[f"blocks.{block}.attn.hook_pattern"][0, :, :t, :t]  # [heads, query, key]
    per_head = torch.einsum("bqd,hed->bhqe", grad, weights.W_O[block])
    at_keys = torch.einsum("hqk,bhqe->bhke", pattern, per_head)
    to_input = torch.einsum("bhke,hde->bkd", at_keys, weights.W_V[block]) * weights.ln1[block]
    return grad + _centre(to_input) / _scale(clean, f"blocks.{block}.ln1.hook_scale", t)


def _through_skip(grad: torch.Tensor, clean: Clean, tc: SparseAutoencoder, block: int) -> torch.Tensor:
    """The gradient at block ``block``'s ``hook_resid_mid`` from the gradient at its ``hook_resid_post``: the MLP
    output is held, except a skip transcoder's linear path."""
    if tc.W_skip is None:
        return grad
    to_input = grad @ (tc.W_skip.T * tc.input_scale / tc.scale_out)
    return grad + _centre(to_input) / _scale(clean, f"blocks.{block}.ln2.hook_scale", grad.shape[1])


def latent_gradients(
    clean: Clean, tc: SparseAutoencoder, block: int, latents: list[int], positions: list[int]
) -> torch.Tensor:
    """``[B, t, d]`` (t = the last position + 1): the gradient of each latent's pre-activation without its bias
    (``latents[i]`` at ``positions[i]``) at its block's ``hook_resid_mid``."""
    t = max(positions) + 1
    out = torch.zeros(len(latents), t, tc.cfg.d_in, device=clean.resid0.device)
    rows = _centre((tc.W_enc[:, latents] * tc.input_scale).T)
    scale = clean.frozen[f"blocks.{block}.ln2.hook_scale"][0, positions]  # [B, 1]
    out[torch.arange(len(latents)), positions] = rows / scale
    return out


def logit_gradient(clean: Clean, weights: FrozenWeights, token: int) -> torch.Tensor:
    """``[1, T, d]``: the gradient of the token's logit at the last position, at the last ``hook_resid_post``."""
    T = clean.tokens.shape[1]
    out = torch.zeros(1, T, weights.W_U.shape[0], device=clean.resid0.device)
    out[0, -1] = _centre(weights.final * weights.W_U[:, token]) / clean.frozen["ln_final.hook_scale"][0, -1]
    return out


def stream_gradients(
    start: torch.Tensor,
    from_block: int,
    clean: Clean,
    weights: FrozenWeights,
    transcoders: dict[int, SparseAutoencoder],
) -> Iterator[tuple[int, torch.Tensor]]:
    """Walk a batch of gradients ``start`` ``[B, t, d]``, given at block ``from_block``'s ``hook_resid_mid``
    (``from_block`` = the number of blocks: at the last ``hook_resid_post``), down the frozen model. Yields
    ``(b, gradient at block b's hook_resid_post)`` for b = from_block - 1 .. 0, then ``(-1, gradient at the
    embeddings)``: where block b's latents and error, and the embeddings, write."""
    grad = start
    if from_block < len(weights.W_V):
        grad = _through_attention(grad, clean, weights, from_block)
    for b in range(from_block - 1, -1, -1):
        yield b, grad
        grad = _through_attention(_through_skip(grad, clean, transcoders[b], b), clean, weights, b)
    yield -1, grad
