"""The circuits toolkit against independent computations on tiny models and planted signals."""

import json

import numpy as np
import pytest
import torch

from othello.circuits.attribution import average_logit_attribution, direct_logit_attribution
from othello.circuits.directions import directions_from_probes, neuron_weights, probe_attribution
from othello.circuits.heads import attention_scores, classify_head, head_pattern, head_scores, move_makers
from othello.circuits.neurons import FEATURES, board_features, fit_rules, neuron_page, neuron_profiles, rule_ablation
from othello.circuits.patching import activation_patching, attribution_patching, patched_effect, patching_agreement
from othello.cli.entry import main
from othello.engine.games import random_games
from othello.engine.notation import parse_square
from othello.model import build_model, preset, save_model, to_tokens
from othello.model.tokens import model_inputs
from othello.probes.fit import LinearProbe

GAME = "f5 d6 c3 d3 c4 f4 f6 f3 e6 e7 d7 c6"
CORRUPT = "f5 d6 c3 d3 c4 f4 f6 g5 e6 e7 d7 c6"  # the eighth move replaced (f3 -> g5), the rest still legal


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model(preset("tiny"))


def test_direct_logit_attribution_sums_to_the_logit(tiny):
    for move in ("e3", "c5", "g4"):
        result = direct_logit_attribution(tiny, GAME, move)
        logits = tiny(to_tokens(GAME))[0, -1]
        from othello.engine.notation import SQUARE_TO_TOKEN, parse_square

        assert result["logit"] == pytest.approx(float(logits[SQUARE_TO_TOKEN[parse_square(move)]]), abs=1e-4)
        assert result["total"] == pytest.approx(result["logit"], abs=1e-4)
        n, H = tiny.cfg.n_layers, tiny.cfg.n_heads
        assert len(result["rows"]) == 2 + n * (H + 1) + 1
    average = average_logit_attribution(tiny, random_games(6, 3))
    assert average["total"] == pytest.approx(average["logit"], abs=1e-4)
    with pytest.raises(Exception, match="centre square"):
        direct_logit_attribution(tiny, GAME, "d4")


def test_the_logit_difference_is_the_difference_of_the_two_attributions(tiny):
    one, other = direct_logit_attribution(tiny, GAME, "e3"), direct_logit_attribution(tiny, GAME, "c5")
    diff = direct_logit_attribution(tiny, GAME, "e3", against="c5")
    assert diff["metric"] == "logit(e3) - logit(c5)" and one["metric"] == "logit(e3)"
    assert diff["logit"] == pytest.approx(one["logit"] - other["logit"], abs=1e-4)
    assert diff["total"] == pytest.approx(diff["logit"], abs=1e-4)
    for a, b, d in zip(one["rows"], other["rows"], diff["rows"]):
        assert d["component"] == a["component"] and d["logit"] == pytest.approx(a["logit"] - b["logit"], abs=1e-5)
    with pytest.raises(Exception, match="the same move"):
        direct_logit_attribution(tiny, GAME, "e3", against="e3")


def test_patching_identities(tiny):
    same = activation_patching(tiny, GAME, GAME, "e3")
    for grid in same.grids.values():
        assert np.abs(grid).max() < 1e-5
    assert abs(patched_effect(tiny, GAME, GAME, "e3", "resid_pre", 1, [3])) < 1e-5
    p = activation_patching(tiny, GAME, CORRUPT, "e3")
    # the whole residual stream entering block 0 is the whole input: patching it is the clean run (1 on the 0..1
    # scale; the whole gap in nats where the untrained model's gap is too small to normalise)
    whole = 1.0 if p.normalised else p.clean_metric - p.corrupt_metric
    assert patched_effect(tiny, GAME, CORRUPT, "e3", "resid_pre", 0) == pytest.approx(whole, abs=1e-4)
    assert patched_effect(tiny, GAME, CORRUPT, "e3", "head", 0, heads=[]) == pytest.approx(0.0, abs=1e-5)
    n, H, T = tiny.cfg.n_layers, tiny.cfg.n_heads, len(GAME.split())
    assert p.grids["resid_pre"].shape == (n, T) and p.grids["head"].shape == (n, H)
    # the batched grid agrees with one patch at a time
    assert p.grids["attn_out"][1, 6] == pytest.approx(
        patched_effect(tiny, GAME, CORRUPT, "e3", "attn_out", 1, [6]), abs=1e-4
    )
    assert p.grids["head"][0, 1] == pytest.approx(
        patched_effect(tiny, GAME, CORRUPT, "e3", "head", 0, heads=[1]), abs=1e-4
    )
    rows = p.rows()
    assert {"site", "block", "hook", "layer", "position", "head", "effect"} <= set(rows[0])
    # one vocabulary: the block index and the hook it patches; "layer" is the documented alias of "block"
    assert all(r["layer"] == r["block"] for r in rows)
    assert {r["hook"] for r in rows if r["site"] == "head" and r["block"] == 1} == {"blocks.1.attn.hook_z"}
    assert {r["hook"] for r in rows if r["site"] == "mlp_out" and r["block"] == 0} == {"blocks.0.hook_mlp_out"}
    assert len(rows) == 3 * n * T + n * H
    with pytest.raises(Exception, match="same length"):
        activation_patching(tiny, GAME, "f5 d6 c3", "e3")


def test_attribution_patching_is_exact_where_the_path_is_linear(tiny):
    """With the final LayerNorm's scale held fixed, the logit is affine in the last block's MLP output (which
    nothing but the unembedding reads): there the gradient estimate must equal real patching."""
    _, cache = tiny.run_with_cache(to_tokens(CORRUPT), names_filter=lambda n: n == "ln_final.hook_scale")
    scale = cache["ln_final.hook_scale"].detach().clone()

    def fix(act, hook):
        return scale.expand_as(act).clone()

    last = tiny.cfg.n_layers - 1
    with tiny.hooks(fwd_hooks=[("ln_final.hook_scale", fix)]):
        real = activation_patching(tiny, GAME, CORRUPT, "e3", ("attn_out", "mlp_out"), metric="logit")
        estimate = attribution_patching(tiny, GAME, CORRUPT, "e3", ("attn_out", "mlp_out"), metric="logit")
    np.testing.assert_allclose(estimate.grids["mlp_out"][last], real.grids["mlp_out"][last], atol=1e-4)
    gap = 1.0 if real.normalised else abs(real.clean_metric - real.corrupt_metric)
    assert abs(real.grids["mlp_out"][last, -1]) > 0.05 * gap  # a real effect, not two zeros
    # the last attention output passes through the last MLP: not linear, and the estimate differs
    assert not np.allclose(estimate.grids["attn_out"][last], real.grids["attn_out"][last], atol=1e-4 * gap)
    # elsewhere it is an approximation, still correlated
    real_all = activation_patching(tiny, GAME, CORRUPT, "e3")
    agreement = patching_agreement(real_all, attribution_patching(tiny, GAME, CORRUPT, "e3"))
    assert set(agreement) == {"resid_pre", "attn_out", "mlp_out", "head"}


def test_regression_trees_recover_a_planted_rule_and_match_sklearn():
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(0)
    F = (rng.random((6000, 40)) < 0.4).astype(np.uint8)
    rule = F[:, 3].astype(bool) & F[:, 10].astype(bool) & ~F[:, 7].astype(bool)
    noise = rng.normal(0, 0.1, (6000, 2))
    acts = np.stack([2.0 * rule, F[:, 5] - 0.5 * F[:, 6]], 1) + noise  # two "neurons"
    A, Ft = torch.tensor(acts, dtype=torch.float32), torch.from_numpy(F)
    trees = fit_rules(A[:3000], Ft[:3000], A[3000:], Ft[3000:], depth=3)
    assert trees.r2[0] > 0.95 and trees.r2[1] > 0.95
    conditions = trees.conditions(0)
    assert {(3, True), (10, True), (7, False)} == set(conditions)
    # an independent CART on the same data reaches the same held-out fit
    for k in range(2):
        ref = DecisionTreeRegressor(max_depth=3, min_samples_leaf=20).fit(F[:3000], acts[:3000, k])
        assert trees.r2[k] == pytest.approx(ref.score(F[3000:], acts[3000:, k]), abs=1e-3)


def test_head_classification_recovers_planted_heads():
    moves = random_games(20, 4)
    made, next_mover = move_makers(moves)
    G, T = 20, 59
    mine_head = np.zeros((G, T, T))
    for g in range(G):
        for q in range(T):
            keys = [k for k in range(1, q) if made[g, k] == next_mover[g, q] and next_mover[g, q] >= 0]
            if keys:
                mine_head[g, q, keys] = 1 / len(keys)
            else:
                mine_head[g, q, q] = 1
    last_head = np.broadcast_to(np.eye(T), (G, T, T))
    uniform = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    patterns = torch.tensor(np.stack([mine_head, last_head, np.broadcast_to(uniform, (G, T, T))], 1))
    scores = attention_scores(patterns, made, next_mover)
    kinds = [
        classify_head(dict(zip(("mine_score", "theirs_score", "last_score", "first_score"), s)))[0] for s in scores
    ]
    assert kinds == ["mine", "last", "other"]
    assert scores[0, 0] > 0.9 and scores[0, 1] < 0.01


def test_move_makers_follow_passes():
    moves = random_games(300, 11)
    made, next_mover = move_makers(moves)
    from othello.engine.games import replay

    r = replay(moves[:, :59], ("next_mover",))
    # whoever moves after position t made the move read at t + 1
    np.testing.assert_array_equal(made[:, 1:][moves[:, 1:59] >= 0], (r.next_mover[:, :-1] - 1)[moves[:, 1:59] >= 0])
    assert (made[:, 0] == 0).all()


def test_heads_and_patterns_on_a_model(tiny):
    rows = head_scores(tiny, random_games(8, 2))
    assert len(rows) == tiny.cfg.n_layers * tiny.cfg.n_heads
    for r in rows:
        assert r["kind"] in ("mine", "theirs", "last", "other")
        assert 0 <= r["mine_score"] + r["theirs_score"] + r["last_score"] + r["first_score"] <= 1 + 1e-5
    p = head_pattern(tiny, GAME, 0, 1)
    assert p["labels"][:3] == ["f5", "d6", "c3"] and p["makers"][:2] == ["black", "white"]
    assert np.allclose(p["pattern"].sum(-1), 1, atol=1e-5)


def test_probe_directions_and_attribution(tiny):
    probe = LinearProbe(tiny.cfg.d_model, 3)
    flipped = LinearProbe(tiny.cfg.d_model, 2)
    dirs = directions_from_probes(probe, flipped)
    for d in dirs.values():
        assert d.shape == (64, tiny.cfg.d_model) and torch.allclose(d.norm(dim=-1), torch.ones(64), atol=1e-5)
    W = probe.W.detach()
    expected = W[:, 5, 1] - W[:, 5, 2]
    assert torch.allclose(dirs["mine_dir"][5], expected / expected.norm(), atol=1e-6)
    layer = 2
    out = probe_attribution(tiny, GAME, layer, dirs["mine_dir"])
    assert out["components"] == ["embed", "attn 0", "mlp 0", "attn 1", "mlp 1"]
    hook = f"blocks.{layer - 1}.hook_resid_post"
    _, cache = tiny.run_with_cache(to_tokens(GAME), names_filter=lambda n: n == hook)
    direct = (cache[hook][0] @ dirs["mine_dir"].T).detach().numpy()
    np.testing.assert_allclose(out["accumulated"][0, -1], direct, atol=1e-4)
    weights = neuron_weights(tiny, 1, dirs, dirs)
    m = tiny.cfg.d_mlp
    assert weights["in_mine"].shape == (m, 64) and weights["out_moves"].shape == (m, 64)
    assert ((weights["subspace_share"] >= -1e-6) & (weights["subspace_share"] <= 1 + 1e-6)).all()
    assert np.allclose(weights["out_moves"][:, [27, 28, 35, 36]], 0)


def test_neuron_profiles_against_direct_means(tiny):
    moves = random_games(16, 6)
    prof = neuron_profiles(tiny, 1, moves, neurons=[0, 5], depth=2, keep_activations=True, progress=False)
    F, valid = board_features(moves)
    _, cache = tiny.run_with_cache(model_inputs(moves))
    acts = cache["blocks.1.mlp.hook_post"].detach().numpy()[..., [0, 5]][valid]
    f = F[valid]
    square = FEATURES.index("c4 empty")
    expect = acts[f[:, square] == 1].mean(0)
    assert prof.conditional["empty"][:, 26] == pytest.approx(expect, abs=1e-4)
    rows = prof.rows()
    assert [r["neuron"] for r in rows] == [0, 5]
    assert {"layer", "neuron", "r2", "rule", "top_squares"} <= set(rows[0])
    assert rows[0]["block"] == 1 and rows[0]["hook"] == "blocks.1.mlp.hook_post"
    assert prof.top_values[0, 0] == pytest.approx(acts[:, 0].max(), abs=1e-5)
    page = neuron_page(prof, 5)
    assert len(page["examples"]) == 8 and len(page["conditional"]["mine"]) == 64
    assert page["spectrum"] is None or sum(page["spectrum"]["on"]) + sum(page["spectrum"]["off"]) == len(acts)
    result = rule_ablation(tiny, prof, random_games(6, 8), threshold=-1e9, progress=False)
    assert result["neurons"] == 2 and 0 <= result["rule_legal"] <= 1 and result["positions"] > 0
    with pytest.raises(Exception, match="at least 2 games"):
        neuron_profiles(tiny, 1, moves[:1], progress=False)


@pytest.mark.slow
def test_circuits_commands(tiny, tmp_path, capsys):
    from othello.model.checkpoints import write_run_config

    folder = tmp_path / "m"
    write_run_config(folder, preset("tiny"), None)
    save_model(folder, tiny)
    base = ["--model", str(folder), "--quiet"]
    assert (
        main(
            ["neurons", "--layer", "1", "--games", "6", "--no-weights", "--json", "--ablate", "--ablate-games", "4"]
            + base
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert len(out["rows"]) == tiny.cfg.d_mlp and {"layer", "neuron", "r2", "rule", "top_squares"} <= set(
        out["rows"][0]
    )
    assert out["ablation"]["positions"] > 0
    assert main(["heads", "--games", "4", "--json", "--out", str(tmp_path / "h")] + base) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"layer", "head", "kind", "mine_score", "theirs_score"} <= set(rows[0])
    assert all(r["hook"] == f"blocks.{r['block']}.attn.hook_pattern" for r in rows)
    assert (tmp_path / "h" / "head_classes.png").exists()
    assert main(["attribute", "--game", GAME, "--move", "e3", "--json"] + base) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total"] == pytest.approx(result["logit"], abs=1e-3)
    by_name = {r["component"]: r for r in result["rows"]}
    assert by_name["L1H0"]["block"] == 1 and by_name["L1H0"]["hook"] == "blocks.1.attn.hook_z"
    assert by_name["mlp 0"]["hook"] == "blocks.0.hook_mlp_out" and by_name["embed"]["block"] is None
    args = ["patch", "--clean", GAME, "--corrupt", CORRUPT, "--move", "e3", "--method", "both", "--json"]
    assert main(args + ["--out", str(tmp_path / "p")] + base) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"site", "layer", "position", "head", "effect"} <= set(payload["activation"]["rows"][0])
    assert (tmp_path / "p" / "patching_activation.png").exists() and "agreement" in payload
    assert main(["patch", "--clean", GAME, "--corrupt", CORRUPT, "--move", "e3", "--by", "head", "--json"] + base) == 0
    assert {r["site"] for r in json.loads(capsys.readouterr().out)["activation"]["rows"]} == {"head"}
    assert main(["patch", "--clean", GAME, "--corrupt", "f5 d6", "--move", "e3"] + base) == 2
    assert "same length" in capsys.readouterr().err
    assert main(["neuron", "1", "3", "--games", "6", "--no-weights", "--out", str(tmp_path / "n")] + base) == 0
    assert "rule:" in capsys.readouterr().out
    assert (tmp_path / "n" / "neuron_L1N3.png").exists() and (tmp_path / "n" / "neuron_L1N3_examples.png").exists()
    assert main(["neuron", "1", "9999", "--games", "6"] + base) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["heads", "--pattern", "0.1"] + base) == 2
    assert "--game" in capsys.readouterr().err


def test_patching_says_when_its_gap_cannot_be_normalised():
    """A pair whose corrupted run scores the target higher, or within MIN_GAP of the clean run, keeps its grids in
    the metric's units and says why; a wide gap gives the 0..1 scale."""
    from othello.circuits.patching import MIN_GAP, Patching

    clean = [int(parse_square(m)) for m in GAME.split()]
    wide = Patching(clean, clean, clean[-1], "log_prob", -0.5, -4.0)
    assert wide.normalised and "0 = corrupted run, 1 = clean run" in wide.scale
    for corrupt_metric in (-0.5 - MIN_GAP / 2, 1.0):
        narrow = Patching(clean, clean, clean[-1], "log_prob", -0.5, corrupt_metric)
        assert not narrow.normalised and "nats" in narrow.scale and narrow.warning
        assert narrow.summary()["warning"] == narrow.warning
    assert "higher" in Patching(clean, clean, clean[-1], "logit", 1.0, 2.0).warning


def test_activation_patching_of_a_pair_without_a_gap_is_in_the_metrics_units(tiny):
    """The same game as clean and corrupted: no gap at all, so the grids are the metric's changes (all zero), not a
    division by almost nothing."""
    from othello.circuits.patching import activation_patching

    result = activation_patching(tiny, GAME, GAME, "e3", ("resid_pre",))
    assert not result.normalised and np.allclose(result.grids["resid_pre"], 0, atol=1e-5)


def test_a_blocks_neuron_pages_are_computed_once_and_read_after(tiny, tmp_path, monkeypatch):
    import othello.circuits.neuron_cache as cache
    from othello.circuits.neuron_cache import cached_neuron_pages

    games = random_games(6, 2)
    pages = cached_neuron_pages(tiny, 1, games, depth=2, cache=tmp_path)
    table = pages.table()
    assert table["layer"] == 1 and len(table["rows"]) == tiny.cfg.d_mlp and table["depth"] == 2
    first = pages.page(5)
    assert first["neuron"] == 5 and "rule" in first and len(first["conditional"]["mine"]) == 64

    def never(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(cache, "neuron_profiles", never)
    again = cached_neuron_pages(tiny, 1, games, depth=2, cache=tmp_path)  # read, not computed
    assert again.page(5)["rule"] == first["rule"] and again.table()["explained_share"] == table["explained_share"]
    with pytest.raises(AssertionError, match="computed again"):  # another depth, other games: another key
        cached_neuron_pages(tiny, 1, games, depth=3, cache=tmp_path)
    with pytest.raises(AssertionError, match="computed again"):
        cached_neuron_pages(tiny, 1, random_games(6, 3), depth=2, cache=tmp_path)
    (pages.folder / "table.json").unlink()  # a computation cut short: no table, computed again
    with pytest.raises(AssertionError, match="computed again"):
        cached_neuron_pages(tiny, 1, games, depth=2, cache=tmp_path)
