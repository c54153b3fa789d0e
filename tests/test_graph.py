"""Attribution graphs: the replacement model is exact on its prefix, every edge equals a finite difference of the
frozen model, a planted two-block case gives the edges its algebra says, and the scores and the pruning on a
hand-made graph whose answers are worked out below."""

import contextlib
import json
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

from othello.engine.notation import SQUARE_TO_TOKEN, parse_moves, parse_square
from othello.engine.notation import square_name as _name
from othello.model import build_model, preset
from othello.sae.autoencoder import SparseAutoencoder
from othello.sae.config import SAEConfig
from othello.sae.graph import AttributionGraph, Node, build_graph, graph_json, graph_scores, prune_graph, supernodes
from othello.sae.replacement import EMBED, Clean, clean_run, skip_term
from othello.sae.transcoders import input_hook, output_hook

GAME, MOVE = "f5 d6 c3 d3 c4", "f3"


def _transcoders(model, seed=0, latents=48, k=6, skip=False):
    """Random (untrained) transcoders: the graph's algebra holds for any weights. With ``skip``, a skip connection
    and input and output scales other than 1 (as while training, before they are folded)."""
    out = {}
    for b in range(model.cfg.n_layers):
        cfg = SAEConfig(model.cfg.d_model, latents, "topk", k, d_out=model.cfg.d_model, skip=skip)
        tc = SparseAutoencoder(cfg, seed=seed + b)
        with torch.no_grad():
            tc.b_enc.fill_(0.5)  # every latent of the top k is on
            if skip:
                tc.W_skip.normal_(0, 0.2, generator=torch.Generator().manual_seed(seed + b))
                tc.input_scale.fill_(1.7)
                tc.output_scale.fill_(0.6)
        out[b] = tc.eval().requires_grad_(False)
    return out


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = build_model(preset("tiny"))
    return model, _transcoders(model)


@contextlib.contextmanager
def frozen_model(
    model: torch.nn.Module,
    clean: Clean,
    transcoders: dict[int, SparseAutoencoder],
    batch: int,
    writes: dict[int | str, torch.Tensor],
) -> Iterator[dict[int, torch.Tensor]]:
    """The reference the graph's hand-written backward pass is checked against: the local replacement model run
    through the hooked model, for ``batch`` copies of the prefix: patterns and scales frozen, the embeddings and
    every MLP output held constant plus ``writes`` (``EMBED`` or a block -> ``[batch, T, d]``, added there:
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
            out = out + skip_term(tc, seen[block].float())  # the skip path is linear: its effects pass
            return out.to(act.dtype)

        return hook

    hooks = [(name, frozen(name)) for name in clean.frozen] + [(EMBED, embed)]
    hooks += [(input_hook(b), keep(b)) for b in transcoders] + [(output_hook(b), mlp(b)) for b in transcoders]
    with warnings.catch_warnings(), model.hooks(fwd_hooks=hooks):
        # the bridge warns that an edited LayerNorm scale is recomputed from the hooked values: that is the point
        warnings.filterwarnings("ignore", message=".*hook_scale/hook_normalized.*")
        yield seen


def _frozen_value(model, transcoders, clean, target, writes):
    """The target (a latent's pre-activation without b_enc, or the logit) in the replacement model with ``writes``."""
    with torch.no_grad(), frozen_model(model, clean, transcoders, 1, writes) as seen:
        logits = model(clean.tokens)
        if target.kind == "logit":
            return float(logits[0, target.position, int(SQUARE_TO_TOKEN[parse_square(MOVE)])])
        tc = transcoders[target.block]
        return float(seen[target.block][0, target.position] * tc.input_scale @ tc.W_enc[:, target.latent])


def test_the_replacement_model_is_exact_on_its_prefix(tiny):
    model, transcoders = tiny
    clean = clean_run(model, transcoders, parse_moves(GAME))
    zero = {k: torch.zeros(1, 5, model.cfg.d_model) for k in [EMBED, *transcoders]}
    with torch.no_grad(), frozen_model(model, clean, transcoders, 1, zero):
        logits = model(clean.tokens)[0]
    torch.testing.assert_close(logits, model(clean.tokens)[0].detach(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("skip", [False, True], ids=["plain", "skip"])
def test_every_edge_is_a_finite_difference_of_the_frozen_model(tiny, skip):
    model = tiny[0]
    transcoders = _transcoders(model, skip=skip)
    graph = build_graph(model, transcoders, GAME, MOVE, batch_size=7)  # several batches
    clean = clean_run(model, transcoders, parse_moves(GAME))
    d = model.cfg.d_model
    targets = [len(graph.nodes) - 1] + [i for i, n in enumerate(graph.nodes) if n.kind == "latent" and n.block == 1][:3]
    checked = 0
    for t in targets:
        target = graph.nodes[t]
        base = _frozen_value(
            model, transcoders, clean, target, {k: torch.zeros(1, 5, d) for k in [EMBED, *transcoders]}
        )
        for s, source in enumerate(graph.nodes):
            if source.kind not in ("latent", "error", "embedding"):
                continue
            if (source.block or 0) >= (target.block or 99):  # written after the target reads
                assert graph.adjacency[t, s] == 0.0
                continue
            writes = {k: torch.zeros(1, 5, d) for k in [EMBED, *transcoders]}
            if source.kind == "latent":
                tc = transcoders[source.block]
                writes[source.block][0, source.position] = source.activation * tc.W_dec[source.latent] / tc.scale_out
            elif source.kind == "error":
                writes[source.block][0, source.position] = clean.errors[source.block][source.position]
            else:
                writes[EMBED][0, source.position] = clean.resid0[source.position]
            # the frozen model is linear in what the sources write: one source's whole write adds its edge
            moved = _frozen_value(model, transcoders, clean, target, writes) - base
            assert moved == pytest.approx(graph.adjacency[t, s], abs=1e-4, rel=1e-3), (graph.label(t), graph.label(s))
            checked += 1
    assert checked > 20


def test_a_planted_two_block_graph_has_the_edges_its_algebra_gives():
    """Attention writes nothing (its output weights and biases are zero), so a block-0 latent reaches a block-1
    latent only at its own position, through block 1's LayerNorm:
    edge = a_j (centred W_dec0[j] / scale) . W_enc1[:, i]."""
    torch.manual_seed(1)
    model = build_model(preset("tiny"))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".attn." in name and ".o." in name:
                param.zero_()
    transcoders = _transcoders(model, seed=5)
    graph = build_graph(model, transcoders, GAME, MOVE)
    clean = clean_run(model, transcoders, parse_moves(GAME))
    scale = clean.frozen["blocks.1.ln2.hook_scale"][0, :, 0]
    sources = [i for i, n in enumerate(graph.nodes) if n.kind == "latent" and n.block == 0]
    targets = [i for i, n in enumerate(graph.nodes) if n.kind == "latent" and n.block == 1]
    for t in targets:
        nt = graph.nodes[t]
        for s in sources:
            ns = graph.nodes[s]
            write = ns.activation * transcoders[0].W_dec[ns.latent]
            expected = 0.0
            if ns.position == nt.position:
                expected = float((write - write.mean()) / scale[nt.position] @ transcoders[1].W_enc[:, nt.latent])
            assert graph.adjacency[t, s] == pytest.approx(expected, abs=1e-4)


def _hand_made() -> AttributionGraph:
    """emb -> A (2), emb -> C (1), A -> B (1), error -> B (1), C -> B (0.01), B -> logit (3), emb -> logit (1)."""
    nodes = [
        Node("latent", 0, 0, 1, 1.0),  # A
        Node("latent", 0, 1, 2, 1.0),  # B
        Node("latent", 0, 0, 3, 1.0),  # C
        Node("error", 0, 0),
        Node("embedding", 0),
        Node("logit", 0),
    ]
    A, B, C, E, M, L = range(6)
    adjacency = np.zeros((6, 6), np.float32)
    adjacency[A, M], adjacency[C, M] = 2.0, 1.0
    adjacency[B, A], adjacency[B, E], adjacency[B, C] = 1.0, -1.0, 0.01
    adjacency[L, B], adjacency[L, M] = 3.0, 1.0
    return AttributionGraph([37], 19, nodes, adjacency, 0.0, 1.0)


def test_scores_of_a_hand_made_graph():
    # rows normalised: B takes A, error, C as 1 : 1 : 0.01; the logit takes B, emb as 0.75 : 0.25
    graph = _hand_made()
    b = 1 / 2.01
    influence = {"B": 0.75, "A": 0.75 * b, "E": 0.75 * b, "C": 0.75 * 0.01 / 2.01}
    emb = 0.25 + influence["A"] + influence["C"]  # through A, C and directly
    scores = graph_scores(graph)
    assert scores["replacement"] == pytest.approx(emb / (emb + influence["E"]))
    out = {"A": influence["A"], "B": 0.75, "C": influence["C"], "E": influence["E"], "M": emb, "L": 1.0}
    own = {"A": 1, "B": 1 - b, "C": 1, "E": 1, "M": 1, "L": 1}
    assert scores["completeness"] == pytest.approx(sum(own[k] * out[k] for k in out) / sum(out.values()))


def test_pruning_a_hand_made_graph_drops_the_latent_that_hardly_matters():
    nodes, edges = prune_graph(_hand_made())
    assert nodes.tolist() == [True, True, False, True, True, True]
    assert edges[1, 0] and edges[5, 1] and not edges[1, 2]
    keep_all, _ = prune_graph(_hand_made(), node_threshold=1.0, edge_threshold=1.0)
    assert keep_all.all()
    with pytest.raises(Exception, match="node_threshold"):
        prune_graph(_hand_made(), node_threshold=1.5)


def test_a_graph_needs_a_transcoder_for_every_block_and_a_real_move(tiny):
    model, transcoders = tiny
    with pytest.raises(Exception, match="no transcoder for blocks"):
        build_graph(model, {0: transcoders[0]}, GAME, MOVE)
    with pytest.raises(Exception, match="centre square"):
        build_graph(model, transcoders, GAME, "d4")
    with pytest.raises(Exception, match="ply 2"):
        build_graph(model, transcoders, "f5 f5", MOVE)


def test_supernodes_group_latents_at_one_position_that_stand_for_the_same_property():
    """Planted labels: A and C (block 0) and B (block 1) at position 0; A and B stand for "e4 theirs", C for
    "d3 legal"; a supernode needs two members with F1 >= 0.5."""
    graph = _hand_made()
    keep = np.ones(6, bool)
    names0, names1 = ["x"] * 8, ["x"] * 8
    names0[1], names0[3], names1[2] = "e4 theirs", "d3 legal", "e4 theirs"
    labels = {0: (names0, np.full(8, 0.9)), 1: (names1, np.full(8, 0.9))}
    groups = supernodes(graph, keep, labels)
    assert [(g["name"], g["nodes"]) for g in groups] == [("e4 theirs @ pos 0", [0, 1])]
    weak = {0: (names0, np.full(8, 0.9)), 1: (names1, np.full(8, 0.3))}  # B's label is too weak to count
    assert supernodes(graph, keep, weak) == []


def test_the_graph_file_follows_circuit_tracers_schema(tiny):
    model, transcoders = tiny
    graph = build_graph(model, transcoders, GAME, MOVE)
    keep, edges = prune_graph(graph)
    data = graph_json(graph, keep, edges, slug="test")
    assert set(data) == {"metadata", "qParams", "nodes", "links"}
    assert data["metadata"]["prompt_tokens"] == GAME.split() and 0 <= data["metadata"]["replacement"] <= 1
    ids = {n["node_id"] for n in data["nodes"]}
    assert all(link["source"] in ids and link["target"] in ids for link in data["links"])
    kinds = {n["feature_type"] for n in data["nodes"]}
    assert {"embedding", "logit"} <= kinds
    logit = next(n for n in data["nodes"] if n["is_target_logit"])
    assert logit["node_id"] == f"{model.cfg.n_layers + 1}_{int(SQUARE_TO_TOKEN[parse_square(MOVE)])}_4"
    assert logit["clerp"].startswith('Output "f3"')
    for n in data["nodes"]:
        assert {"node_id", "feature", "layer", "ctx_idx", "feature_type", "jsNodeId", "clerp", "influence"} <= set(n)


def test_circuit_tracer_reads_the_graph_file(tiny):
    """circuit-tracer's own graph-file model (its frontend's pydantic schema; installed beside TransformerLens 3.9
    in make test, skipped where absent) accepts the file, every node and link as we wrote them."""
    models = pytest.importorskip("circuit_tracer.frontend.graph_models")
    model, transcoders = tiny
    graph = build_graph(model, transcoders, GAME, MOVE)
    keep, edges = prune_graph(graph)
    data = json.loads(json.dumps(graph_json(graph, keep, edges, slug="test")))  # as the file holds it
    read = models.Model.model_validate(data)
    assert len(read.nodes) == int(keep.sum()) and len(read.links) == int(edges.sum())
    assert read.metadata.prompt == GAME and read.qParams.supernodes == data["qParams"]["supernodes"]
    assert [n.node_id for n in read.nodes] == [n["node_id"] for n in data["nodes"]]


@pytest.mark.slow
def test_the_checks_over_many_positions(tiny):
    from othello.sae.graph_checks import check_graphs, edited_logits, held_out_positions

    model, transcoders = tiny
    drawn = held_out_positions(4, seed=1)
    assert len(drawn) == 4 and all(4 <= len(p) <= 59 for p in drawn)
    assert held_out_positions(4, seed=1) == drawn and held_out_positions(4, seed=2) != drawn
    positions = [p[:8] for p in drawn]  # short prefixes: small graphs
    # with nothing edited the spliced model with its error nodes is the model itself
    prefix = positions[0]
    clean = model(torch.tensor([[int(SQUARE_TO_TOKEN[s]) for s in prefix]]))[0, -1].detach()
    graph = build_graph(model, transcoders, prefix, MOVE)
    active = [(n.block, n.position, n.latent) for n in graph.nodes if n.kind == "latent" and n.position == 7]
    logits = edited_logits(model, transcoders, prefix, [((), 1.0), (active, 1.0), (active, 0.0)])
    torch.testing.assert_close(logits[0], clean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits[1], clean, atol=1e-4, rtol=1e-4)  # scale 1 changes nothing
    assert (logits[2] - clean).abs().max() > 1e-3  # the last position's latents ablated do
    result = check_graphs(model, transcoders, positions, ks=(2, 1000), progress=False)
    stats, check = result["scores"], result["ablation"]
    assert result["positions"] == 4 and len(stats["replacement"]["values"]) == 4
    assert 0 <= stats["completeness"]["p25"] <= stats["completeness"]["median"] <= stats["completeness"]["p75"] <= 1
    assert check["2"]["positions"] == 4 and check["1000"]["positions"] == 0 and check["1000"]["ratio"] is None
    assert check["2"]["top_drop"] is not None and check["2"]["random_drop"] is not None
    assert "steering" not in result  # no labels, no supernodes


def test_steering_cases_expect_what_the_engine_says():
    """Every latent labelled with one square's true state at the last position makes one supernode there; what it
    should change is the independent engine's legal set with that disc flipped (or, for an empty square, the
    square itself made illegal)."""
    from slow_engine import legal as slow_legal
    from slow_engine import replay as slow_replay

    from othello.engine.counterfactuals import relative_boards
    from othello.sae.graph_checks import _board, _steering_cases, check_graphs

    torch.manual_seed(0)
    model = build_model(preset("tiny"))
    transcoders = _transcoders(model, latents=16, k=16)  # every latent active: supernodes at every position
    prefix = parse_moves(GAME)
    cells, who, legal, _, _ = slow_replay(prefix)[-1]
    relative = relative_boards(np.array(cells), np.array(who))
    checked = 0
    for square, state in ((parse_square("d4"), None), (parse_square("f3"), "empty")):
        state = state or ("empty", "mine", "theirs")[relative[square]]
        labels = {b: ([f"{_name(square)} {state}"] * 16, np.ones(16)) for b in transcoders}
        graph = build_graph(model, transcoders, prefix, MOVE)
        cases = _steering_cases(graph, labels, _board(prefix))
        assert len(cases) == 1 and cases[0]["state"] == state and cases[0]["left_out"] is None
        assert all(p == len(prefix) - 1 for _, p, _ in cases[0]["latents"])
        expected = cases[0]["expected"]
        if state == "empty":
            assert np.flatnonzero(expected).tolist() == [s for s in legal if s != square]
        else:
            flipped = [0 if c == 0 else (1 if c == 1 else 2) for c in relative]
            flipped[square] = 3 - flipped[square]
            assert np.flatnonzero(expected).tolist() == slow_legal(flipped, 1)
        checked += 1
        result = check_graphs(model, transcoders, [prefix], labels=labels, ks=(2,), progress=False)
        steering = result["steering"]
        assert steering["cases"] == 1 and steering["scale"] == -1.0
        assert 0.0 <= steering["rows"][0]["moved_right"] <= 1.0
        assert steering["by_state"][state]["cases"] == 1
    assert checked == 2
    wrong = ("empty", "theirs", "mine")[relative[parse_square("d4")]]  # d4 holds a disc: never empty, never this
    labels = {b: ([f"d4 {wrong}"] * 16, np.ones(16)) for b in transcoders}
    assert [c["left_out"] for c in _steering_cases(graph, labels, _board(prefix))] == ["label false"]
