"""The causal-variable benchmark: exact counterfactual pairs, interchange interventions, DAS on a planted model."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from slow_engine import legal as slow_legal
from slow_engine import replay as slow_replay

from othello.causal.bench import causal_bench
from othello.causal.config import BenchConfig
from othello.causal.das import fit_das
from othello.causal.interchange import (
    Intervention,
    base_logits,
    interchange_logits,
    position_mask,
    score_pairs,
    unit_swap,
    wilson_interval,
)
from othello.causal.methods import full_stream, random_subspace
from othello.engine.counterfactuals import legal_squares, relative_boards, square_pairs
from othello.engine.games import random_games
from othello.engine.notation import SQUARE_KINDS, TOKEN_TO_SQUARE
from othello.errors import ConfigError
from othello.model import build_model, preset
from othello.model.tokens import model_inputs, top_moves


@pytest.fixture(scope="module")
def pairs():
    return square_pairs(random_games(60, 13), 80, seed=0)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model(preset("tiny"))


def test_pairs_are_exact(pairs):
    """The counterfactual board is the base board with the one square set to the source's state; every legal set
    is the independent engine's; the swap changes the legal set."""
    for i in range(len(pairs)):
        t, s = int(pairs.ply[i]), int(pairs.square[i])
        base = slow_replay([int(m) for m in pairs.base_moves[i] if m >= 0])[t]
        source = slow_replay([int(m) for m in pairs.source_moves[i] if m >= 0])[t]
        base_rel = relative_boards(np.array(base[0]), np.array(base[1]))
        source_rel = relative_boards(np.array(source[0]), np.array(source[1]))
        assert np.array_equal(pairs.base_board[i], base_rel)
        assert pairs.base_state[i] == base_rel[s] and pairs.source_state[i] == source_rel[s] != base_rel[s]
        changed = np.flatnonzero(pairs.counterfactual_board[i] != base_rel)
        assert changed.tolist() == [s]
        assert np.flatnonzero(pairs.base_legal[i]).tolist() == base[2]
        assert np.flatnonzero(pairs.source_legal[i]).tolist() == source[2]
        cells = [0 if c == 0 else (1 if c == 1 else 2) for c in pairs.counterfactual_board[i]]
        assert np.flatnonzero(pairs.counterfactual_legal[i]).tolist() == slow_legal(cells, 1)
        assert not np.array_equal(pairs.counterfactual_legal[i], pairs.base_legal[i])
        assert pairs.base_moves[i].tolist() != pairs.source_moves[i].tolist()
    assert square_pairs(random_games(60, 13), 80, seed=0).square.tolist() == pairs.square.tolist()  # seeded
    with pytest.raises(ConfigError, match="plies"):
        square_pairs(random_games(5, 1), 3, seed=0, plies=(40, 70))


def test_position_masks():
    ply = torch.tensor([2, 4])
    assert position_mask(ply, 5, "last").nonzero().tolist() == [[0, 2], [1, 4]]
    assert position_mask(ply, 5, "last:2").sum(1).tolist() == [2, 2]
    assert position_mask(ply, 5, "all").sum(1).tolist() == [3, 5]
    for bad in ("first", "last:0", "last:x"):
        with pytest.raises(ConfigError, match="positions"):
            position_mask(ply, 5, bad)


def test_the_full_stream_at_the_last_layer_is_the_source_run(tiny, pairs):
    """The identity worth writing down: swapping the whole last residual stream at every position makes the base
    run the source run, so its IIA is the share of pairs whose source run's top move is legal on the
    counterfactual board (not, as one might guess, the share whose source legal set equals the counterfactual's:
    the model need not play every legal move, and the two sets differ elsewhere)."""
    n, d = tiny.cfg.n_layers, tiny.cfg.d_model
    swapped = interchange_logits(tiny, pairs, full_stream(n, n, d), positions="all")
    from othello.engine.counterfactuals import SquarePairs

    as_source = SquarePairs(**{**pairs.__dict__, "base_moves": pairs.source_moves})
    source = base_logits(tiny, as_source)
    assert torch.allclose(swapped, source, atol=1e-4)
    scores = score_pairs(swapped, pairs, base_logits(tiny, pairs))
    top = TOKEN_TO_SQUARE[top_moves(source).numpy()]
    assert scores["hit"].mean() == pytest.approx(pairs.counterfactual_legal[np.arange(len(pairs)), top].mean())
    # and a swap of nothing changes nothing
    none = Intervention("none", full_stream(1, n, d).hook, lambda b, s, q: b, 0.0)
    assert torch.allclose(interchange_logits(tiny, pairs, none), base_logits(tiny, pairs), atol=1e-5)


def test_the_gradient_edit_writes_the_source_state_at_the_square():
    """Li et al.'s edit as an interchange: afterwards the probe reads the square as it reads the source there (nearly
    always), and (mostly) every other square as it read the base."""
    from othello.causal.methods import gradient_edit
    from othello.probes.config import ProbeConfig
    from othello.probes.fit import make_probe

    torch.manual_seed(0)
    probe = make_probe(16, ProbeConfig(kind="mlp", hidden=32))
    edit = gradient_edit(probe, 2, 2, 16)
    base, source = torch.randn(12, 16) * 0.3, torch.randn(12, 16) * 0.3  # within reach of 1,000 Adam steps of 1e-3
    square = torch.arange(12) * 5
    rows = torch.arange(12)
    out = edit.swap(base, source, square)
    with torch.no_grad():
        read, wanted, before = probe(out).argmax(-1), probe(source).argmax(-1), probe(base).argmax(-1)
    # an optimisation of 1,000 steps against 63 other squares kept as read: it may stop short of a far class
    assert (read[rows, square] == wanted[rows, square]).sum() >= 10
    with torch.no_grad():
        gain = probe(out).log_softmax(-1) - probe(base).log_softmax(-1)
    assert gain[rows, square, wanted[rows, square]].mean() > 0.1
    others = torch.ones(12, 64, dtype=torch.bool)
    others[rows, square] = False
    assert (read == before)[others].float().mean() > 0.6  # a random probe on small inputs: many near-ties
    assert edit.hook == "blocks.1.hook_resid_post" and edit.size == 16


def test_wilson_interval():
    low, high = wilson_interval(90, 100)
    assert 0.82 < low < 0.9 < high < 0.95
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)


HOOK = "blocks.0.hook_resid_post"


class PlantedModel(torch.nn.Module):
    """A model whose only variable is square ``square``'s relative state, written into the plane spanned by the
    columns of ``U`` [d, 2] (the three states at the corners of a triangle), the other dimensions noise. Its
    next-move distribution is the legal moves of the true board with that square's state as read from the plane
    (softly: a mixture over the three states), so swapping exactly that plane moves it to the counterfactual
    board. It answers the two calls the benchmark makes of a TransformerLens model."""

    CORNERS = torch.tensor([[1.0, 0.0], [-0.5, 0.866], [-0.5, -0.866]]) * 2

    def __init__(self, square: int, d: int = 8, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.U = torch.linalg.qr(torch.randn(d, 2, generator=g))[0]
        self.noise = torch.nn.Parameter(torch.randn(61, d, generator=g) * 3)  # a token's noise, off the plane
        self.square = square
        self.cfg = SimpleNamespace(d_model=d, d_vocab=61, n_layers=1)
        self._legal: dict[tuple, torch.Tensor] = {}

    def _states(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per position: the square's relative state [B, T] and the log-uniform legal moves [B, T, 3, 61] of the
        board with each of the three states at the square."""
        from othello.engine.games import replay

        moves = np.full((len(tokens), 60), -1, dtype=np.int8)
        moves[:, : tokens.shape[1]] = TOKEN_TO_SQUARE[tokens.numpy()]
        r = replay(moves, ("boards", "next_mover"))
        T = tokens.shape[1]
        rel = relative_boards(r.boards[:, :T], np.maximum(r.next_mover[:, :T], 1))
        state = torch.from_numpy(rel[:, :, self.square].astype(np.int64))
        table = torch.full((len(tokens), T, 3, 61), -30.0)
        for b in range(len(tokens)):
            for t in range(T):
                key = (rel[b, t].tobytes(),)
                if key not in self._legal:
                    rows = torch.full((3, 61), -30.0)
                    for c in range(3):
                        board = rel[b, t].copy()
                        board[self.square] = c
                        legal = np.flatnonzero(legal_squares(board))
                        tokens_legal = [int(np.flatnonzero(TOKEN_TO_SQUARE == s)[0]) for s in legal]
                        if tokens_legal:
                            rows[c, tokens_legal] = -math.log(len(tokens_legal))
                    self._legal[key] = rows
                table[b, t] = self._legal[key]
        return state, table

    def _resid(self, tokens: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return self.CORNERS[state] @ self.U.T + self.noise[tokens] - (self.noise[tokens] @ self.U) @ self.U.T

    def _head(self, h: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        coords = h @ self.U  # [B, T, 2]
        weights = (-((coords[:, :, None] - self.CORNERS) ** 2).sum(-1)).softmax(-1)  # [B, T, 3]
        return torch.logsumexp(weights.clamp_min(1e-9).log()[..., None] + table, 2)

    def run_with_cache(self, tokens: torch.Tensor, names_filter=None):
        state, table = self._states(tokens)
        h = self._resid(tokens, state)
        return self._head(h, table), {HOOK: h}

    def run_with_hooks(self, tokens: torch.Tensor, fwd_hooks=()):
        state, table = self._states(tokens)
        h = self._resid(tokens, state)
        for name, fn in fwd_hooks:
            assert name == HOOK
            h = fn(h)
        return self._head(h, table)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.run_with_hooks(tokens)


@pytest.mark.slow
def test_das_finds_a_planted_subspace():
    """DAS recovers the plane the planted model keeps the square in (principal angles under 10 degrees) and its
    swap scores IIA 1 and legal-set error 0 on held-out pairs; a random plane of the same dimension stays near the
    base run."""
    square = 19  # d3
    model = PlantedModel(square)
    fit = square_pairs(random_games(160, 21), 128, seed=1, plies=(4, 10), squares=np.array([square]))
    test = square_pairs(random_games(80, 22), 48, seed=2, plies=(4, 10), squares=np.array([square]))
    bases = fit_das(model, fit, HOOK, k=2, steps=300, batch_size=32, lr=0.05, suffix=False)
    assert bases[[s for s in range(64) if s != square]].abs().max() == 0  # only the square fitted has a subspace
    Q = bases[square]
    cosines = torch.linalg.svdvals(Q.T @ model.U)  # cosines of the principal angles
    assert torch.rad2deg(torch.arccos(cosines.clamp(max=1))).max() < 10
    from othello.causal.das import das_intervention

    before = base_logits(model, test)
    das = score_pairs(interchange_logits(model, test, das_intervention(bases, HOOK)), test, before)
    base = score_pairs(before, test, before)
    random = random_subspace(1, 1, 8, 2, seed=3)
    random = Intervention(random.method, HOOK, random.swap, random.size)
    chance = score_pairs(interchange_logits(model, test, random), test, before)
    assert das["hit"].mean() == 1.0 and das["error"].max() == 0 and das["moved_right"].min() == 1.0
    # here the base run's top move is legal on every counterfactual board (IIA's base rate is 1, so IIA cannot
    # tell the methods apart): the legal-set error does; the random plane leaves it near the base run's
    assert base["error"].mean() > 0.5 and chance["error"].mean() > 0.75 * base["error"].mean()


def test_the_last_positions_suffix_computes_the_models_logits(tiny, pairs):
    """From any layer on, the last position run alone against the base runs' cached keys and values gives the
    model's own next-move logits, and with a swapped stream the logits of the same interchange run through the
    whole model."""
    from othello.causal.das import das_intervention
    from othello.causal.suffix import Suffix, last_streams

    rows = torch.arange(len(pairs))
    suffix = Suffix.of(tiny, pairs, 0)
    for layer in range(0, tiny.cfg.n_layers + 1):
        with torch.no_grad():
            got = suffix.logits(suffix.streams[layer], rows, layer)
        torch.testing.assert_close(got, base_logits(tiny, pairs), atol=1e-4, rtol=0)
    bases = torch.linalg.qr(torch.randn(64, tiny.cfg.d_model, 3, generator=torch.Generator().manual_seed(0))).Q
    hook = "blocks.0.hook_resid_post"
    swap = das_intervention(bases, hook)
    source = last_streams(tiny, pairs.source_moves, pairs.ply, 1)[1]
    square = torch.as_tensor(pairs.square, dtype=torch.long)
    later = Suffix.of(tiny, pairs, 1)  # read from layer 1 on: the same streams there
    torch.testing.assert_close(later.streams[1], suffix.streams[1])
    with torch.no_grad():
        swapped = later.logits(swap.swap(later.streams[1], source, square), rows, 1)
    torch.testing.assert_close(swapped, interchange_logits(tiny, pairs, swap), atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def tiny_norms(tiny):
    """The tiny model with its LayerNorms' scales and biases moved off 1 and 0, as training leaves them (where a
    hook reads before or after them matters)."""
    import copy

    model = copy.deepcopy(tiny)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln" in name or "ln_final" in name:
                p.add_(0.5 * torch.randn(p.shape, generator=g))
    return model


def test_every_methods_interchange_through_the_suffix_equals_the_whole_models(tiny_norms, pairs, tiny_transcoders):
    """A subspace at a residual stream, units at the MLP's neurons, a transcoder's latents read at the MLP's input
    and written at its output: run at the last position through the suffix, each gives the logits of the same
    interchange through the whole model; a hook the suffix has no point for runs through the whole model."""
    from othello.causal.methods import transcoder_latents
    from othello.causal.suffix import Suffix

    tiny = tiny_norms
    suffix = Suffix.of(tiny, pairs, 1)
    units = torch.zeros(64, tiny.cfg.d_mlp, dtype=torch.bool)
    units[:, ::3] = True
    methods = [
        random_subspace(2, tiny.cfg.n_layers, tiny.cfg.d_model, 4, seed=1),
        Intervention("neurons", "blocks.1.mlp.hook_post", unit_swap(units), 1.0),
        transcoder_latents(tiny_transcoders, 1),
        Intervention("attention", "blocks.1.hook_attn_out", lambda base, source, square: source, 1.0),
    ]
    assert suffix.first_layer(["blocks.1.hook_attn_out"]) is None
    assert suffix.first_layer(["blocks.1.mlp.hook_post"]) == 1 and suffix.first_layer(["blocks.0.hook_resid_post"]) == 1
    for method in methods:
        slow = interchange_logits(tiny, pairs, method)
        fast = interchange_logits(tiny, pairs, method, suffix=suffix)
        torch.testing.assert_close(fast, slow, atol=1e-4, rtol=0)
        assert (slow - base_logits(tiny, pairs)).abs().max() > 1e-3  # each swap changes something


def test_das_fits_the_same_subspace_through_the_suffix_as_through_the_whole_model(tiny, pairs):
    """The same seed, minibatches and steps: the bases fitted on the last position alone equal those fitted
    through the whole model (the suffix changes the speed, not the fit)."""
    hook = "blocks.0.hook_resid_post"
    fast = fit_das(tiny, pairs, hook, k=2, steps=15, batch_size=16, seed=4)
    slow = fit_das(tiny, pairs, hook, k=2, steps=15, batch_size=16, seed=4, suffix=False)
    torch.testing.assert_close(fast, slow, atol=2e-3, rtol=0)
    assert fast.abs().sum() > 0


@pytest.mark.slow
def test_the_bench_on_a_tiny_model(tiny):
    config = BenchConfig(layers=(1, 2), methods=("full", "random", "probe", "das"), pairs=60, games=60)
    config.das_dims, config.das_squares, config.das_pairs, config.das_steps = (1,), ("d3", "c4"), 8, 2
    result = causal_bench(tiny, config, progress=False)
    rows = result["rows"]
    methods = {(r["method"], r["layer"]) for r in rows}
    assert {("none", 0), ("full", 1), ("random (k=2)", 2), ("probe", 1), ("das (k=1)", 2)} <= methods
    for r in rows:
        assert 0 <= r["iia_low"] <= r["iia"] <= r["iia_high"] <= 1
        assert r["squares"] in ("all", "das", "decisive", "das decisive") + tuple(f"decisive {k}" for k in SQUARE_KINDS)
        assert r["hook"] == ("" if r["method"] == "none" else f"blocks.{r['layer'] - 1}.hook_resid_post")
    none = next(r for r in rows if r["method"] == "none" and r["squares"] == "decisive")
    assert none["iia"] == 0.0  # by definition: the base run's move is illegal on those boards
    count = {r["squares"]: r["pairs"] for r in rows if r["method"] == "none"}
    assert count["das decisive"] <= min(count["das"], count["decisive"])
    assert sum(count[f"decisive {k}"] for k in SQUARE_KINDS) == count["decisive"]  # the kinds split them
    probe = {r["squares"]: r for r in rows if r["method"] == "probe" and r["layer"] == 1}
    hits = sum(round(probe[f"decisive {k}"]["iia"] * probe[f"decisive {k}"]["pairs"]) for k in SQUARE_KINDS)
    assert hits == round(probe["decisive"]["iia"] * probe["decisive"]["pairs"])
    with pytest.raises(ConfigError, match="unknown method"):
        causal_bench(tiny, BenchConfig(methods=("telepathy",)), progress=False)
    with pytest.raises(ConfigError, match="layers"):
        causal_bench(tiny, BenchConfig(layers=(9,)), progress=False)


@pytest.mark.slow
def test_the_command(tiny, tmp_path, capsys):
    import json

    from othello.cli.entry import main
    from othello.model.checkpoints import save_model, write_run_config

    folder = tmp_path / "m"
    write_run_config(folder, preset("tiny"), None)
    save_model(folder, tiny)
    base = ["causal-bench", "--model", str(folder), "--layers", "1-2", "--pairs", "40", "--games", "60", "--quiet"]
    out = folder / "causal"  # where the run's report finds it
    assert main(base + ["--methods", "full,random", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"rows", "pairs", "config", "seconds"} <= set(result)
    fields = {"method", "layer", "hook", "squares", "pairs", "iia", "iia_low", "iia_high", "legal_set_error"}
    assert fields | {"moved_right", "size", "fit_seconds", "run_seconds"} <= set(result["rows"][0])
    assert (out / "causal_bench.json").exists() and (out / "causal_bench.csv").exists()
    assert (out / "causal_bench.png").stat().st_size > 10_000
    from othello.errors import OthelloError
    from othello.lab.report import write_report

    page = write_report(folder).read_text()
    assert "<h2>Causal variables</h2>" in page and "blocks.0.hook_resid_post" in page and "data:image/png" in page
    (out / "causal_bench.json").write_text('{"rows": 3}')
    with pytest.raises(OthelloError, match="causal_bench.json"):
        write_report(folder)
    capsys.readouterr()
    assert main(base + ["--methods", "full"]) == 0
    text = capsys.readouterr().out
    assert "IIA [95 %]" in text and "blocks.0.hook_resid_post" in text
    assert "by kind of square" in text and "corner (" in text
    assert main(base + ["--methods", "sae"]) == 2
    assert "needs --sae RUN" in capsys.readouterr().err
    assert main(base + ["--positions", "first"]) == 2
    assert "positions 'first'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_transcoders(tiny, tmp_path_factory):
    """An evaluated-looking transcoder set of the tiny model: every latent of block B labelled a state of one
    square (latent j: square j % 64's "mine")."""
    from othello.sae.config import SAETrainConfig
    from othello.sae.evaluate import PROPERTY_NAMES
    from othello.sae.runs import write_features
    from othello.sae.transcoders import train_transcoders

    out = tmp_path_factory.mktemp("transcoders")
    base = SAETrainConfig(latents=64, k=8, tokens=2 * 128, batch_size=128, chunk_games=4)
    train_transcoders(tiny, range(tiny.cfg.n_layers), base, out, progress=False)
    f1 = np.zeros((64, len(PROPERTY_NAMES)), np.float32)
    f1[np.arange(64), 64 + np.arange(64)] = 0.9  # latent j: "<square j> mine"
    for block in range(tiny.cfg.n_layers):
        write_features(out / f"block_{block}", {"f1": f1, "fires": np.ones(64)})
    return out


def test_a_transcoder_swap_adds_the_decoded_latent_difference_at_the_mlp_output(tiny, pairs, tiny_transcoders):
    """Every latent swapped: the base run's MLP output at the last position gains exactly the decoded difference
    between the source's latents and the base's (b_dec cancels), computed here from the two runs' caches."""
    from othello.causal.interchange import transcoder_hooks
    from othello.causal.methods import transcoder_latents
    from othello.sae.transcoders import input_hook, load_transcoders, output_hook

    tc = load_transcoders(tiny_transcoders)[1]
    every = torch.ones(64, tc.cfg.d_sae, dtype=torch.bool)
    hooks = transcoder_hooks(lambda x: tc.encode(x), tc.W_dec / tc.scale_out, every, input_hook(1), output_hook(1))
    swap = Intervention("transcoder", input_hook(1), None, 64.0, hooks)
    got = interchange_logits(tiny, pairs, swap)
    ply = torch.as_tensor(pairs.ply, dtype=torch.long)
    rows = torch.arange(len(pairs))
    names = lambda n: n in (input_hook(1), output_hook(1))  # noqa: E731
    _, base = tiny.run_with_cache(model_inputs(pairs.base_moves), names_filter=names)
    _, source = tiny.run_with_cache(model_inputs(pairs.source_moves), names_filter=names)
    with torch.no_grad():
        delta = (tc.encode(source[input_hook(1)][rows, ply]) - tc.encode(base[input_hook(1)][rows, ply])) @ tc.W_dec

    def write(act, hook=None):
        act = act.clone()
        act[rows, ply] += delta / tc.scale_out
        return act

    with torch.no_grad():
        expected = tiny.run_with_hooks(model_inputs(pairs.base_moves), fwd_hooks=[(output_hook(1), write)])
    torch.testing.assert_close(got, expected[rows, ply], atol=1e-4, rtol=0)
    chosen = transcoder_latents(tiny_transcoders, 1)  # one latent per square by the planted labels
    assert chosen.method == "transcoder" and chosen.hook == input_hook(1) and chosen.size == 1.0


def test_the_bench_ranks_transcoder_latents(tiny, tiny_transcoders):
    config = BenchConfig(layers=(1, 2), methods=("full", "transcoders"), pairs=40, games=60)
    config.transcoders = str(tiny_transcoders)
    rows = causal_bench(tiny, config, progress=False)["rows"]
    found = {(r["method"], r["layer"], r["hook"]) for r in rows if r["method"] == "transcoder"}
    assert found == {
        ("transcoder", 1, "blocks.0.ln2.hook_normalized"),
        ("transcoder", 2, "blocks.1.ln2.hook_normalized"),
    }
    with pytest.raises(ConfigError, match="--transcoders"):
        causal_bench(tiny, BenchConfig(layers=(1,), methods=("transcoders",)), progress=False)
