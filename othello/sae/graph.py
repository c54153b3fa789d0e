"""Attribution graphs over transcoders (Ameisen et al., "Circuit Tracing", 2025): why the model gives a move its
logit at one position, as direct linear effects between the active transcoder latents, the move embeddings,
error nodes and the logit.

    ```python
    graph = build_graph(model, transcoders, "f5 d6 c3 d3 c4", "f3")   # every direct effect
    kept = prune_graph(graph)                                          # nodes 0.8, edges 0.98 of the influence
    graph_scores(graph)                                                # {"replacement": ..., "completeness": ...}
    ```

The local replacement model of one game prefix: every MLP replaced by its block's transcoder, the attention
patterns and every LayerNorm scale frozen at their values on this prefix, and at each (block, position) an error
node holding what the transcoder misses there (MLP output minus transcoder output), so that the replacement model
computes exactly the real model's logits on this prefix. With the nonlinearities frozen, the stream is linear in
what the nodes write: the latents (activation x decoder row), the errors and the embeddings (the move and position
embeddings at each position, ``blocks.0.hook_resid_pre``). The weight of the edge from source s to target t is
s's direct effect on t through the frozen attention and LayerNorms (no other node in between): for a target
latent its pre-activation (without ``b_enc``), for the target move its logit. Edges are computed as gradients of
each target, in batches of targets, through that frozen model with the MLP outputs held constant.

Node order, as circuit-tracer's: the active latents, the error nodes (block-major), the embeddings, the logit.
Pruning and the two scores follow circuit-tracer (``prune_graph``, ``compute_graph_scores``): influence is the
logit's row of ``A + A^2 + ...`` over the row-normalised absolute adjacency; the replacement score is the share
of the embeddings' influence among embeddings and errors, the completeness score the influence-weighted share of
every node's input that does not come from error nodes.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from othello.engine.notation import SQUARE_TO_TOKEN, parse_square, square_name
from othello.errors import ConfigError
from othello.model.tokens import check_game, to_tokens
from othello.sae.autoencoder import SparseAutoencoder
from othello.sae.transcoders import input_hook, output_hook

__all__ = [
    "AttributionGraph",
    "Node",
    "build_graph",
    "graph_json",
    "graph_summary",
    "graph_scores",
    "node_influence",
    "node_label",
    "prune_graph",
    "supernodes",
]

EMBED = "blocks.0.hook_resid_pre"


@dataclass
class Node:
    """One node: ``kind`` "latent", "error", "embedding" or "logit"; ``block`` (latents and errors), ``position``
    (the model position: the move it reads last), ``latent`` (latents), ``activation`` (a latent's activation, an
    error's norm, the logit's probability)."""

    kind: str
    position: int
    block: int | None = None
    latent: int | None = None
    activation: float = 0.0


@dataclass
class AttributionGraph:
    """``adjacency`` ``[nodes, nodes]``: row = target, column = source, the direct effect (logit units for the
    logit's row, pre-activation units for a latent's). ``moves`` the prefix, ``move`` the target square."""

    moves: list[int]
    move: int
    nodes: list[Node]
    adjacency: np.ndarray
    logit: float
    probability: float
    meta: dict[str, Any] = field(default_factory=dict)

    def indices(self, kind: str) -> np.ndarray:
        return np.array([i for i, n in enumerate(self.nodes) if n.kind == kind], dtype=np.int64)

    def label(self, i: int) -> str:
        """A node's name: ``L3 #17 @ c4 (pos 4)``, ``error L3 @ pos 4``, ``emb c4 (pos 4)``, ``logit f3``."""
        n = self.nodes[i]
        where = f"{square_name(self.moves[n.position])} (pos {n.position})"
        return {
            "latent": f"L{n.block} #{n.latent} @ {where}",
            "error": f"error L{n.block} @ {where}",
            "embedding": f"emb {where}",
            "logit": f"logit {square_name(self.move)}",
        }[n.kind]


@dataclass
class _Clean:
    """The clean run of one prefix and the replacement model's pieces on it."""

    tokens: torch.Tensor  # [1, T]
    frozen: dict[str, torch.Tensor]  # attention patterns and LayerNorm scales, [1, ...]
    resid0: torch.Tensor  # [T, d]: the embeddings
    inputs: dict[int, torch.Tensor]  # block -> transcoder input [T, d]
    latents: dict[int, torch.Tensor]  # block -> [T, d_sae]
    constant: dict[int, torch.Tensor]  # block -> what the MLP output is held at, skip term excluded [T, d]
    errors: dict[int, torch.Tensor]  # block -> [T, d]
    logits: torch.Tensor  # [T, vocab]


@torch.no_grad()
def _clean_run(model: torch.nn.Module, transcoders: dict[int, SparseAutoencoder], squares: list[int]) -> _Clean:
    device = next(model.parameters()).device
    tokens = to_tokens(squares).to(device)
    frozen_names = _frozen_names(model)
    wanted = set(frozen_names) | {EMBED} | {input_hook(b) for b in transcoders} | {output_hook(b) for b in transcoders}
    logits, cache = model.run_with_cache(tokens, names_filter=lambda n: n in wanted)
    inputs, latents, constant, errors = {}, {}, {}, {}
    for b, tc in transcoders.items():
        x = cache[input_hook(b)][0].float()
        f = tc.encode(x)
        recon = tc.decode(f, x)
        skip = (x @ tc.W_skip) / tc.scale_out if tc.W_skip is not None else torch.zeros_like(recon)
        errors[b] = cache[output_hook(b)][0].float() - recon
        inputs[b], latents[b], constant[b] = x, f, recon - skip + errors[b]
    frozen = {n: cache[n].detach() for n in frozen_names}
    return _Clean(tokens, frozen, cache[EMBED][0].float(), inputs, latents, constant, errors, logits[0].float())


def _frozen_names(model: torch.nn.Module) -> list[str]:
    n = model.cfg.n_layers
    names = [f"blocks.{b}.attn.hook_pattern" for b in range(n)]
    names += [f"blocks.{b}.{ln}.hook_scale" for b in range(n) for ln in ("ln1", "ln2")] + ["ln_final.hook_scale"]
    return [name for name in names if name in model.hook_dict]


@contextlib.contextmanager
def _replacement(
    model: torch.nn.Module,
    clean: _Clean,
    transcoders: dict[int, SparseAutoencoder],
    batch: int,
    writes: dict[int | str, torch.Tensor],
) -> Iterator[dict[int, torch.Tensor]]:
    """The local replacement model for ``batch`` copies of the prefix: patterns and scales frozen, the embeddings
    and every MLP output held constant plus ``writes`` (``EMBED`` or a block -> ``[batch, T, d]``, added there:
    the points gradients are read at). Yields the transcoder inputs of the run (block -> ``[batch, T, d]``)."""
    seen: dict[int, torch.Tensor] = {}

    def frozen(name: str) -> Callable:
        value = clean.frozen[name]
        return lambda act, hook: value.expand(batch, *value.shape[1:]).to(act.dtype)

    def embed(act: torch.Tensor, hook: Any) -> torch.Tensor:
        return clean.resid0[None].expand(batch, -1, -1).to(act.dtype) + writes[EMBED]

    def keep(block: int) -> Callable:
        def hook(act: torch.Tensor, hook: Any) -> torch.Tensor:
            seen[block] = act
            return act

        return hook

    def mlp(block: int) -> Callable:
        tc = transcoders[block]

        def hook(act: torch.Tensor, hook: Any) -> torch.Tensor:
            out = clean.constant[block][None].expand(batch, -1, -1) + writes[block]
            if tc.W_skip is not None:  # the skip path is linear in the input: gradients go through it
                out = out + (seen[block].float() @ tc.W_skip) / tc.scale_out
            return out.to(act.dtype)

        return hook

    hooks = [(name, frozen(name)) for name in clean.frozen] + [(EMBED, embed)]
    hooks += [(input_hook(b), keep(b)) for b in transcoders] + [(output_hook(b), mlp(b)) for b in transcoders]
    with warnings.catch_warnings(), model.hooks(fwd_hooks=hooks):
        # the bridge warns that an edited LayerNorm scale is recomputed from the hooked values: that is the point
        warnings.filterwarnings("ignore", message=".*hook_scale/hook_normalized.*")
        yield seen


def build_graph(
    model: torch.nn.Module,
    transcoders: dict[int, SparseAutoencoder],
    moves: str | Sequence[int],
    move: str | int,
    batch_size: int = 128,
) -> AttributionGraph:
    """The attribution graph of ``move``'s logit after the prefix ``moves`` (at its last position), over the
    transcoders of every block (``{block: transcoder}``; a block without one keeps its real MLP as a constant,
    which its error node then holds entirely)."""
    squares = check_game(moves)
    target = parse_square(move) if isinstance(move, str) else int(move)
    if not 0 <= target < 64 or SQUARE_TO_TOKEN[target] <= 0:
        raise ConfigError(f"move {move!r}: a centre square is never a move")
    n_blocks = model.cfg.n_layers
    missing = [b for b in range(n_blocks) if b not in transcoders]
    if missing:
        raise ConfigError(f"no transcoder for blocks {missing}: a graph replaces every MLP (train them all)")
    clean = _clean_run(model, transcoders, squares)
    T = len(squares)
    nodes = _nodes(clean, n_blocks, T)
    token = int(SQUARE_TO_TOKEN[target])
    probability = float(clean.logits[-1, 1:].softmax(-1)[token - 1])
    nodes[-1].activation = probability
    targets = [i for i, n in enumerate(nodes) if n.kind in ("latent", "logit")]
    adjacency = np.zeros((len(nodes), len(nodes)), dtype=np.float32)
    for rows, block in _edges(model, transcoders, clean, [nodes[i] for i in targets], token, nodes, batch_size):
        adjacency[[targets[r] for r in rows]] = block
    return AttributionGraph(
        squares, target, nodes, adjacency, float(clean.logits[-1, token]), probability, {"blocks": n_blocks}
    )


def _nodes(clean: _Clean, n_blocks: int, T: int) -> list[Node]:
    nodes = []
    for b in range(n_blocks):
        f = clean.latents[b]
        for p, j in torch.nonzero(f > 0).tolist():
            nodes.append(Node("latent", p, b, j, float(f[p, j])))
    nodes += [
        Node("error", p, b, activation=float(clean.errors[b][p].norm())) for b in range(n_blocks) for p in range(T)
    ]
    nodes += [Node("embedding", p) for p in range(T)]
    return nodes + [Node("logit", T - 1)]


def _edges(
    model: torch.nn.Module,
    transcoders: dict[int, SparseAutoencoder],
    clean: _Clean,
    targets: list[Node],
    token: int,
    nodes: list[Node],
    batch_size: int,
) -> Iterator[tuple[list[int], np.ndarray]]:
    """``(indices into targets, their rows)`` batch by batch: each target's direct effect from every node. One
    forward pass of the replacement model gives every target's value; each batch of targets is then one batched
    backward pass (a vector-Jacobian product per target, vectorised), ten times faster than a forward and backward
    per batch of copies (measured)."""
    T, d = clean.resid0.shape
    keys = [EMBED, *transcoders]
    writes = {key: torch.zeros(1, T, d, device=clean.resid0.device, requires_grad=True) for key in keys}
    with torch.enable_grad(), _replacement(model, clean, transcoders, 1, writes) as seen:
        logits = model(clean.tokens)
        values, column = _target_values(targets, logits, token, seen, transcoders)
        for a in range(0, len(targets), batch_size):
            rows = list(range(a, min(a + batch_size, len(targets))))
            pick = torch.zeros(len(rows), len(targets), device=values.device)
            pick[torch.arange(len(rows)), torch.tensor([column[r] for r in rows])] = 1.0
            # a write no target of this batch reads (a later block's) has no gradient
            grads = torch.autograd.grad(
                values, [writes[k] for k in keys], pick, retain_graph=True, is_grads_batched=True, allow_unused=True
            )
            grad = {k: torch.zeros(len(rows), T, d) if g is None else g[:, 0] for k, g in zip(keys, grads)}
            yield rows, _rows_from_gradients(grad, transcoders, clean, nodes)


def _target_values(
    targets: list[Node],
    logits: torch.Tensor,
    token: int,
    seen: dict[int, torch.Tensor],
    transcoders: dict[int, SparseAutoencoder],
) -> tuple[torch.Tensor, list[int]]:
    """Every target's value in the replacement model (a latent's pre-activation without its bias, or the logit),
    block by block, and where each target sits in that vector. One dense operation per block and no indexing in
    the autograd graph: a batched backward pass through an index loops over its batch (measured: most of the
    time), and through one node per target it walks thousands of nodes."""
    parts, column = [], [0] * len(targets)
    size = 0
    for block in sorted({t.block for t in targets if t.kind == "latent"}):
        chosen = [i for i, t in enumerate(targets) if t.kind == "latent" and t.block == block]
        x = seen[block][0].float()  # [T, d]
        at = torch.zeros(x.shape[0], len(chosen), device=x.device)  # [T, k]: the position each target reads
        at[[targets[i].position for i in chosen], torch.arange(len(chosen))] = 1.0
        weights = transcoders[block].W_enc[:, [targets[i].latent for i in chosen]]  # [d, k], a constant
        parts.append(((x @ weights) * at).sum(0))
        for n, i in enumerate(chosen):
            column[i] = size + n
        size += len(chosen)
    for i, t in enumerate(targets):
        if t.kind == "logit":
            parts.append(logits[0, t.position, token].float()[None])
            column[i] = size
            size += 1
    return torch.cat(parts), column


def _rows_from_gradients(
    grad: dict[int | str, torch.Tensor],
    transcoders: dict[int, SparseAutoencoder],
    clean: _Clean,
    nodes: list[Node],
) -> np.ndarray:
    """Each target's edges: a source's write (what it adds to the stream) dotted with the target's gradient there:
    a latent's activation x its decoder row, an error's vector, a position's embedding."""
    B = grad[EMBED].shape[0]
    rows = torch.zeros(B, len(nodes))
    index = _index(nodes)
    for b, tc in transcoders.items():
        at, positions, latents, acts = index["latent"].get(b, ([], [], [], []))
        if len(at):
            decoder = tc.W_dec[latents] / tc.scale_out  # [k, d]
            rows[:, at] = torch.einsum("bkd,kd->bk", grad[b][:, positions], decoder) * torch.tensor(acts)
        at, positions = index["error"][b]
        rows[:, at] = torch.einsum("btd,td->bt", grad[b][:, positions], clean.errors[b][positions])
    at, positions = index["embedding"]
    rows[:, at] = torch.einsum("btd,td->bt", grad[EMBED][:, positions], clean.resid0[positions])
    return rows.detach().cpu().numpy()


def _index(nodes: list[Node]) -> dict[str, Any]:
    """Where each kind of node sits in ``nodes``, with what its write needs, grouped by block."""
    latent: dict[int, list[list]] = {}
    error: dict[int, list[list]] = {}
    embedding: list[list] = [[], []]
    for i, n in enumerate(nodes):
        if n.kind == "latent":
            group = latent.setdefault(n.block, [[], [], [], []])
            for part, value in zip(group, (i, n.position, n.latent, n.activation)):
                part.append(value)
        elif n.kind == "error":
            group = error.setdefault(n.block, [[], []])
            group[0].append(i)
            group[1].append(n.position)
        elif n.kind == "embedding":
            embedding[0].append(i)
            embedding[1].append(n.position)
    return {"latent": latent, "error": error, "embedding": embedding}


def _normalised(adjacency: np.ndarray) -> np.ndarray:
    absolute = np.abs(adjacency).astype(np.float64)
    return absolute / np.clip(absolute.sum(1, keepdims=True), 1e-10, None)


def _influence(normalised: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``weights @ (A + A^2 + ...)``: the graph is acyclic (effects run forward), so the series ends."""
    current = weights @ normalised
    total = current.copy()
    for _ in range(len(normalised)):
        if not current.any():
            return total
        current = current @ normalised
        total += current
    raise ConfigError("the adjacency has a cycle: not an attribution graph")


def node_influence(graph: AttributionGraph) -> np.ndarray:
    """Each node's total (direct and indirect) influence on the logit, on row-normalised absolute effects."""
    weights = np.zeros(len(graph.nodes))
    weights[-1] = 1.0
    return _influence(_normalised(graph.adjacency), weights)


def graph_scores(graph: AttributionGraph) -> dict[str, float]:
    """``replacement``: the share of the embeddings' influence on the logit among the embeddings' and the error
    nodes'; ``completeness``: the influence-weighted share of each node's input that does not come from error
    nodes (circuit-tracer's two scores)."""
    weights = np.zeros(len(graph.nodes))
    weights[-1] = 1.0
    normalised = _normalised(graph.adjacency)
    influence = _influence(normalised, weights)
    errors, embeddings = graph.indices("error"), graph.indices("embedding")
    token, error = float(influence[embeddings].sum()), float(influence[errors].sum())
    replacement = token / (token + error) if token + error > 0 else 0.0
    own = 1.0 - normalised[:, errors].sum(1)
    out = influence + weights
    completeness = float((own * out).sum() / out.sum()) if out.sum() > 0 else 0.0
    return {"replacement": replacement, "completeness": completeness}


def prune_graph(
    graph: AttributionGraph, node_threshold: float = 0.8, edge_threshold: float = 0.98
) -> tuple[np.ndarray, np.ndarray]:
    """(node mask ``[nodes]``, edge mask ``[nodes, nodes]``) keeping the nodes that carry ``node_threshold`` of
    the influence on the logit and then the edges that carry ``edge_threshold`` of it; the embeddings and the
    logit always stay, and latents and errors left without an outgoing (latents: or incoming) edge go, until
    nothing changes (circuit-tracer's ``prune_graph``)."""
    for name, value in (("node_threshold", node_threshold), ("edge_threshold", edge_threshold)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must lie in 0..1, got {value}")
    weights = np.zeros(len(graph.nodes))
    weights[-1] = 1.0
    influence = _influence(_normalised(graph.adjacency), weights)
    nodes = influence >= _threshold(influence, node_threshold)
    always = np.isin(np.arange(len(graph.nodes)), np.concatenate([graph.indices("embedding"), [len(graph.nodes) - 1]]))
    nodes |= always
    pruned = graph.adjacency * nodes[:, None] * nodes[None, :]
    normalised = _normalised(pruned)
    edge_scores = normalised * (_influence(normalised, weights) + weights)[:, None]
    edges = (edge_scores >= _threshold(edge_scores.ravel(), edge_threshold)) & (pruned != 0)
    latents = np.isin(np.arange(len(graph.nodes)), graph.indices("latent"))
    while True:
        before = nodes.copy()
        edges &= nodes[:, None] & nodes[None, :]
        nodes &= always | edges.any(0)  # every kept latent and error sends an edge
        nodes &= ~latents | edges.any(1)  # every kept latent receives one
        if (nodes == before).all():
            return nodes, edges & nodes[:, None] & nodes[None, :]


def _threshold(scores: np.ndarray, share: float) -> float:
    """The score from which the largest scores hold ``share`` of the total."""
    ordered = np.sort(scores)[::-1]
    total = ordered.sum()
    if total <= 0:
        return 0.0
    index = int(np.searchsorted(np.cumsum(ordered) / total, share))
    return float(ordered[min(index, len(ordered) - 1)])


Labels = dict[int, tuple[list[str], np.ndarray]]  # block -> (each latent's best board property, its F1)
MIN_LABEL_F1 = 0.5  # below it a latent's best property does not name what it stands for


def node_label(graph: AttributionGraph, i: int, labels: Labels | None = None) -> str:
    """A node's name with, for a latent, its board label (best property and F1) where its block was evaluated."""
    n = graph.nodes[i]
    text = graph.label(i)
    if n.kind == "latent" and labels and n.block in labels:
        names, f1 = labels[n.block]
        text += f": {names[n.latent]} (F1 {f1[n.latent]:.2f})"
    return text


def supernodes(graph: AttributionGraph, keep: np.ndarray, labels: Labels, min_f1: float = MIN_LABEL_F1) -> list[dict]:
    """Kept latents grouped by what the board says they stand for: the latents at one position whose best
    property is the same (each with F1 >= ``min_f1``) form one supernode, named by the property and the position
    ("e4 theirs @ pos 12"), whatever their blocks. Groups of one are left as nodes. Ordered by size, then name."""
    groups: dict[tuple[int, str], list[int]] = {}
    for i in np.flatnonzero(keep):
        n = graph.nodes[i]
        if n.kind != "latent" or n.block not in labels:
            continue
        names, f1 = labels[n.block]
        if f1[n.latent] >= min_f1:
            groups.setdefault((n.position, names[n.latent]), []).append(int(i))
    found = [
        {"name": f"{prop} @ pos {pos}", "property": prop, "position": pos, "nodes": members}
        for (pos, prop), members in groups.items()
        if len(members) >= 2
    ]
    return sorted(found, key=lambda s: (-len(s["nodes"]), s["name"]))


def graph_json(
    graph: AttributionGraph,
    keep: np.ndarray,
    edges: np.ndarray,
    labels: Labels | None = None,
    slug: str = "othello-gpt",
    node_threshold: float = 0.8,
) -> dict[str, Any]:
    """The pruned graph in circuit-tracer's graph file schema (``metadata``, ``qParams``, ``nodes``, ``links``), its
    node ids as circuit-tracer writes them (``layer_feature_ctx`` for latents, ``0_layer_ctx`` for errors,
    ``E_token_ctx`` for embeddings), each latent's board label in ``clerp`` and the board-labelled supernodes in
    ``qParams.supernodes``."""
    influence = node_influence(graph)
    order = np.argsort(-influence)
    cumulative = np.empty_like(influence)
    cumulative[order] = np.cumsum(influence[order]) / max(influence.sum(), 1e-12)
    ids = [_node_id(graph, i) for i in range(len(graph.nodes))]
    nodes = [_node_json(graph, i, ids[i], float(cumulative[i]), labels) for i in np.flatnonzero(keep)]
    targets, sources = np.nonzero(edges)
    links = [
        {"source": ids[s], "target": ids[t], "weight": float(graph.adjacency[t, s])} for t, s in zip(targets, sources)
    ]
    groups = supernodes(graph, keep, labels or {})
    return {
        "metadata": {
            "slug": slug,
            "scan": "othello-gpt-transcoders",
            "transcoder_list": [f"block_{b}" for b in range(graph.meta.get("blocks", 0))],
            "prompt_tokens": [square_name(s) for s in graph.moves],
            "prompt": " ".join(square_name(s) for s in graph.moves),
            "node_threshold": node_threshold,
            **graph_scores(graph),
        },
        "qParams": {
            "pinnedIds": [],
            "supernodes": [[g["name"], *(ids[i] for i in g["nodes"])] for g in groups],
            "linkType": "both",
            "clickedId": "",
            "sg_pos": "",
        },
        "nodes": nodes,
        "links": links,
    }


def _node_id(graph: AttributionGraph, i: int) -> str:
    n = graph.nodes[i]
    if n.kind == "latent":
        return f"{n.block}_{n.latent}_{n.position}"
    if n.kind == "error":
        return f"0_{n.block}_{n.position}"
    if n.kind == "embedding":
        return f"E_{int(SQUARE_TO_TOKEN[graph.moves[n.position]])}_{n.position}"
    return f"{graph.meta.get('blocks', 0) + 1}_{int(SQUARE_TO_TOKEN[graph.move])}_{n.position}"


def _node_json(graph: AttributionGraph, i: int, node_id: str, influence: float, labels: Labels | None) -> dict:
    n = graph.nodes[i]
    layer = {"latent": str(n.block), "error": str(n.block), "embedding": "E"}.get(n.kind, str(graph.meta["blocks"] + 1))
    kind = {
        "latent": "cross layer transcoder",
        "error": "mlp reconstruction error",
        "embedding": "embedding",
        "logit": "logit",
    }[n.kind]
    feature = {"latent": n.latent, "error": -1, "embedding": n.position}.get(n.kind, int(SQUARE_TO_TOKEN[graph.move]))
    clerp = node_label(graph, i, labels)
    if n.kind == "logit":
        clerp = f'Output "{square_name(graph.move)}" (p={graph.probability:.3f})'
    return {
        "node_id": node_id,
        "feature": int(feature),
        "layer": layer,
        "ctx_idx": n.position,
        "feature_type": kind,
        "token_prob": graph.probability if n.kind == "logit" else 0.0,
        "is_target_logit": n.kind == "logit",
        "run_idx": 0,
        "reverse_ctx_idx": 0,
        "jsNodeId": node_id,
        "clerp": clerp,
        "influence": influence,
        "activation": n.activation if n.kind == "latent" else None,
    }


def graph_summary(
    graph: AttributionGraph, keep: np.ndarray, edges: np.ndarray, labels: Labels | None = None, top: int = 15
) -> dict[str, Any]:
    """What a reader wants first: the target, its logit and probability, the scores, the node and edge counts
    before and after pruning, the ``top`` kept nodes by influence (with their labels) and the supernodes."""
    influence = node_influence(graph)
    kept = [int(i) for i in np.flatnonzero(keep) if graph.nodes[i].kind != "logit"]
    kept.sort(key=lambda i: -influence[i])
    return {
        "game": " ".join(square_name(s) for s in graph.moves),
        "move": square_name(graph.move),
        "logit": graph.logit,
        "probability": graph.probability,
        **graph_scores(graph),
        "nodes": len(graph.nodes),
        "latents": int(len(graph.indices("latent"))),
        "kept_nodes": int(keep.sum()),
        "kept_edges": int(edges.sum()),
        "top": [
            {"node": node_label(graph, i, labels), "kind": graph.nodes[i].kind, "influence": float(influence[i])}
            for i in kept[:top]
        ],
        "supernodes": [
            {"name": g["name"], "nodes": [node_label(graph, i, labels) for i in g["nodes"]]}
            for g in supernodes(graph, keep, labels or {})
        ],
        "labelled": bool(labels),
    }
