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
latent its pre-activation (without ``b_enc``), for the target move its logit. Edges are gradients of each target
through that frozen model with the MLP outputs held constant, from its backward pass written out by hand for
batches of targets (``othello.sae.replacement``).

Node order, as circuit-tracer's: the active latents, the error nodes (block-major), the embeddings, the logit.
Pruning and the two scores follow circuit-tracer (``prune_graph``, ``compute_graph_scores``): influence is the
logit's row of ``A + A^2 + ...`` over the row-normalised absolute adjacency; the replacement score is the share
of the embeddings' influence among embeddings and errors, the completeness score the influence-weighted share of
every node's input that does not come from error nodes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch

from othello.engine.notation import SQUARE_TO_TOKEN, parse_square, square_name
from othello.errors import ConfigError
from othello.model.tokens import check_game
from othello.sae.autoencoder import SparseAutoencoder
from othello.sae.replacement import (
    Clean,
    FrozenWeights,
    clean_run,
    latent_gradients,
    logit_gradient,
    stream_gradients,
)

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

    @cached_property
    def influence(self) -> np.ndarray:
        """``[nodes]``: each node's total influence on the logit (``node_influence``), computed once: scoring,
        pruning, the JSON and the summary all read it (read-only; the adjacency is final once built)."""
        influence = _influence(*_absolute(self.adjacency), _logit_weights(len(self.nodes)))
        influence.setflags(write=False)
        return influence

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


def build_graph(
    model: torch.nn.Module,
    transcoders: dict[int, SparseAutoencoder],
    moves: str | Sequence[int],
    move: str | int,
    batch_size: int = 128,
) -> AttributionGraph:
    """The attribution graph of ``move``'s logit after the prefix ``moves`` (at its last position), over the
    transcoders of every block (``{block: transcoder}``). ``batch_size``: targets per backward pass."""
    squares = check_game(moves)
    target = parse_square(move) if isinstance(move, str) else int(move)
    if not 0 <= target < 64 or SQUARE_TO_TOKEN[target] <= 0:
        raise ConfigError(f"move {move!r}: a centre square is never a move")
    n_blocks = model.cfg.n_layers
    missing = [b for b in range(n_blocks) if b not in transcoders]
    if missing:
        raise ConfigError(f"no transcoder for blocks {missing}: a graph replaces every MLP (train them all)")
    clean = clean_run(model, transcoders, squares)
    T = len(squares)
    nodes = _nodes(clean, n_blocks, T)
    token = int(SQUARE_TO_TOKEN[target])
    probability = float(clean.logits[-1, 1:].softmax(-1)[token - 1])
    nodes[-1].activation = probability
    adjacency = np.zeros((len(nodes), len(nodes)), dtype=np.float32)
    for targets, rows in _edges(model, transcoders, clean, nodes, token, batch_size):
        adjacency[targets] = rows
    return AttributionGraph(
        squares, target, nodes, adjacency, float(clean.logits[-1, token]), probability, {"blocks": n_blocks}
    )


def _nodes(clean: Clean, n_blocks: int, T: int) -> list[Node]:
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
    clean: Clean,
    nodes: list[Node],
    token: int,
    batch_size: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(target node indices, their rows [targets, nodes])``, batch by batch: every target's direct effect from
    every node. Targets go block by block and, within a block, in position order, so a batch's backward pass runs
    only below its block and over the positions its targets see (``stream_gradients``)."""
    weights = FrozenWeights.of(model, clean.resid0.device)
    sources = _Sources(transcoders, clean, nodes)
    for block, tc in transcoders.items():
        chosen = [i for i, n in enumerate(nodes) if n.kind == "latent" and n.block == block]
        chosen.sort(key=lambda i: nodes[i].position)
        for a in range(0, len(chosen), batch_size):
            batch = chosen[a : a + batch_size]
            start = latent_gradients(
                clean, tc, block, [nodes[i].latent for i in batch], [nodes[i].position for i in batch]
            )
            yield np.array(batch), sources.rows(stream_gradients(start, block, clean, weights, transcoders))
    start = logit_gradient(clean, weights, token)
    yield (
        np.array([len(nodes) - 1]),
        sources.rows(stream_gradients(start, len(transcoders), clean, weights, transcoders)),
    )


class _Sources:
    """What each source node writes, laid out for one batched product per block: block b's active latents as
    ``[T, m, d]`` (activation x decoder row, padded to the most latents at one position, m), the errors ``[T, d]``
    and the embeddings ``[T, d]``, with the node index of each."""

    def __init__(self, transcoders: dict[int, SparseAutoencoder], clean: Clean, nodes: list[Node]) -> None:
        T, d = clean.resid0.shape
        self.count = len(nodes)
        self.latents: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.errors: dict[int, torch.Tensor] = {}
        for b, tc in transcoders.items():
            at = [[] for _ in range(T)]
            for i, n in enumerate(nodes):
                if n.kind == "latent" and n.block == b:
                    at[n.position].append(i)
            m = max(1, max(len(a) for a in at))
            writes = torch.zeros(T, m, d, device=clean.resid0.device)
            index = torch.full((T, m), -1, dtype=torch.long)
            for p, members in enumerate(at):
                for slot, i in enumerate(members):
                    writes[p, slot] = nodes[i].activation * tc.W_dec[nodes[i].latent] / tc.scale_out
                    index[p, slot] = i
            self.latents[b] = (writes, index)
            self.errors[b] = torch.tensor([i for i, n in enumerate(nodes) if n.kind == "error" and n.block == b])
        self.embeddings = torch.tensor([i for i, n in enumerate(nodes) if n.kind == "embedding"])
        self.clean = clean

    def rows(self, gradients: Iterator[tuple[int, torch.Tensor]]) -> np.ndarray:
        """Each target's edges: a source's write dotted with the target's gradient where it writes."""
        rows = None
        for b, grad in gradients:
            B, t, _ = grad.shape
            if rows is None:
                rows = torch.zeros(B, self.count)
            if b < 0:
                rows[:, self.embeddings[:t]] = torch.einsum("btd,td->bt", grad, self.clean.resid0[:t]).cpu()
                continue
            writes, index = self.latents[b]
            values = torch.einsum("btd,tmd->btm", grad, writes[:t]).cpu()
            real = index[:t] >= 0
            rows[:, index[:t][real]] = values[:, real]
            rows[:, self.errors[b][:t]] = torch.einsum("btd,td->bt", grad, self.clean.errors[b][:t]).cpu()
        return rows.numpy()


def _absolute(adjacency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The absolute effects ``[nodes, nodes]`` and each row's total ``[nodes]`` (float32: a graph's matrix is
    large, and shares of influence need no more). Row-normalising is left to the products, which divide the
    vector instead of the matrix."""
    absolute = np.abs(adjacency, dtype=np.float32)
    totals = absolute.sum(1, dtype=np.float64)
    return absolute, np.clip(totals, 1e-10, None).astype(np.float32)


def _influence(absolute: np.ndarray, totals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``weights @ (A + A^2 + ...)`` for the row-normalised absolute adjacency ``A = absolute / totals[:, None]``:
    the graph is acyclic (effects run forward), so the series ends."""
    current = (weights / totals) @ absolute
    total = current.copy()
    for _ in range(len(absolute)):
        if not current.any():
            return total
        current = (current / totals) @ absolute
        total += current
    raise ConfigError("the adjacency has a cycle: not an attribution graph")


def _logit_weights(count: int) -> np.ndarray:
    weights = np.zeros(count, dtype=np.float32)
    weights[-1] = 1.0  # the logit is the last node
    return weights


def node_influence(graph: AttributionGraph) -> np.ndarray:
    """Each node's total (direct and indirect) influence on the logit, on row-normalised absolute effects."""
    return graph.influence


def graph_scores(graph: AttributionGraph) -> dict[str, float]:
    """``replacement``: the share of the embeddings' influence on the logit among the embeddings' and the error
    nodes'; ``completeness``: the influence-weighted share of each node's input that does not come from error
    nodes (circuit-tracer's two scores)."""
    weights = _logit_weights(len(graph.nodes))
    absolute, totals = _absolute(graph.adjacency)
    influence = graph.influence
    errors, embeddings = graph.indices("error"), graph.indices("embedding")
    token, error = float(influence[embeddings].sum()), float(influence[errors].sum())
    replacement = token / (token + error) if token + error > 0 else 0.0
    own = 1.0 - absolute[:, errors].sum(1) / totals
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
    count = len(graph.nodes)
    influence = node_influence(graph)
    always = np.isin(np.arange(count), np.concatenate([graph.indices("embedding"), [count - 1]]))
    kept = np.flatnonzero((influence >= _threshold(influence, node_threshold)) | always)
    # the edge stage sees only the kept nodes (the logit stays last): a small matrix instead of the whole graph's
    pruned = graph.adjacency[np.ix_(kept, kept)]
    weights = _logit_weights(len(kept))
    absolute, totals = _absolute(pruned)
    edge_scores = absolute / totals[:, None] * (_influence(absolute, totals, weights) + weights)[:, None]
    edges = (edge_scores >= _threshold(edge_scores[edge_scores > 0], edge_threshold)) & (pruned != 0)
    nodes, always = np.ones(len(kept), dtype=bool), always[kept]
    latents = np.isin(kept, graph.indices("latent"))
    while True:
        before = nodes.copy()
        edges &= nodes[:, None] & nodes[None, :]
        nodes &= always | edges.any(0)  # every kept latent and error sends an edge
        nodes &= ~latents | edges.any(1)  # every kept latent receives one
        if (nodes == before).all():
            break
    node_mask = np.zeros(count, dtype=bool)
    node_mask[kept[nodes]] = True
    edge_mask = np.zeros((count, count), dtype=bool)
    edge_mask[np.ix_(kept, kept)] = edges & nodes[:, None] & nodes[None, :]
    return node_mask, edge_mask


def _threshold(scores: np.ndarray, share: float) -> float:
    """The score from which the largest scores hold ``share`` of the total."""
    ordered = np.sort(scores)[::-1]
    total = ordered.sum(dtype=np.float64)
    if total <= 0:
        return 0.0
    index = int(np.searchsorted(np.cumsum(ordered, dtype=np.float64) / total, share))
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
