import numpy as np
import pytest

from othello.engine.games import random_games
from othello.model import build_model, preset
from othello.probes.fit import ProbeConfig
from othello.probes.layers import probe_accuracy_by_layer
from othello.probes.targets import board_labels


def test_rows_for_every_layer_label_and_kind():
    model = build_model(preset("tiny"))
    moves = random_games(200, 1)
    rows = probe_accuracy_by_layer(
        model,
        moves,
        ("relative", "colour"),
        ("linear", "mlp"),
        positions=slice(0, 20),
        config=ProbeConfig(epochs=1, hidden=16),
        progress=False,
    )
    assert len(rows) == 3 * 2 * 2
    assert [r["hook"] for r in rows[::4]] == [
        "blocks.0.hook_resid_pre",
        "blocks.0.hook_resid_post",
        "blocks.1.hook_resid_post",
    ]
    for r in rows:
        assert 0 <= r["accuracy"] <= 1 and 0 < r["baseline"] < 1 and len(r["per_square"]) == 64
        # knowing the ply beats one guess per square (the later the ply, the more squares are filled)
        assert r["baseline"] < r["ply_baseline"] < 1
        assert r["train_games"] + r["test_games"] == 200 and r["test_games"] > 0
        assert len(r["per_ply"]) == 59 and r["per_ply"][25] is None and 0 <= r["per_ply"][0] <= 1
        # positions 5..19 of the 20 probed: the mean of plies 6..20, each ply weighted by its labelled squares
        assert min(r["per_ply"][5:20]) <= r["midgame_accuracy"] <= max(r["per_ply"][5:20])
    # the embedding alone knows where the last move went, not the whole board: far from perfect
    assert rows[0]["accuracy"] < 0.95


def test_another_site_of_each_block_is_probed_on_its_own_activations():
    import pytest

    from othello.data.datasets import split_mask
    from othello.model import layer_hook
    from othello.probes.activations import collect_activations
    from othello.probes.fit import fit_probe

    model = build_model(preset("tiny"))
    moves = random_games(120, 2)
    cfg = ProbeConfig(epochs=1)
    rows = probe_accuracy_by_layer(
        model, moves, ("relative",), positions=slice(0, 10), config=cfg, progress=False, site="resid_mid"
    )
    assert [(r["layer"], r["hook"], r["site"]) for r in rows] == [
        (1, "blocks.0.hook_resid_mid", "resid_mid"),
        (2, "blocks.1.hook_resid_mid", "resid_mid"),
    ]
    # the same fit by hand on that hook's activations
    acts = collect_activations(model, moves, ["blocks.1.hook_resid_mid"], positions=np.arange(10))[
        "blocks.1.hook_resid_mid"
    ]
    y = board_labels(moves, "relative")[:, :10]
    tr = split_mask(moves, "train")
    _, m = fit_probe(
        acts[tr].reshape(-1, 32),
        y[tr].reshape(-1, 64),
        ProbeConfig(epochs=1, n_classes=3),
        acts[~tr].reshape(-1, 32),
        y[~tr].reshape(-1, 64),
    )
    assert rows[1]["accuracy"] == pytest.approx(m["accuracy"], abs=1e-6)
    assert layer_hook(0, 2) == "blocks.0.hook_resid_pre" and layer_hook(2, 2, "mlp_out") == "blocks.1.hook_mlp_out"
    with pytest.raises(ValueError, match="out of range 1..2"):
        probe_accuracy_by_layer(model, moves, ("relative",), layers=[0], site="attn_out", progress=False)


def test_plots_are_written(tmp_path):
    from othello.views.plots import plot_accuracy_by_layer, plot_square_accuracy

    rows = [
        {"layer": L, "label": lab, "kind": "linear", "accuracy": 0.5 + 0.1 * L, "baseline": 0.4, "ply_baseline": 0.6}
        for L in range(3)
        for lab in ("relative", "colour")
    ]
    plot_accuracy_by_layer(rows, tmp_path / "a.png")
    plot_square_accuracy(np.linspace(0.8, 1, 64), tmp_path / "b.png", "best layer")
    for path in (tmp_path / "a.png", tmp_path / "b.png"):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_read_board_is_the_probe_on_the_stream_at_the_last_move():
    import pytest
    import torch

    from othello.engine.notation import parse_moves, squares_to_tokens
    from othello.probes.fit import LinearProbe
    from othello.probes.layers import read_board

    torch.manual_seed(0)
    model = build_model(preset("tiny"))
    probe = LinearProbe(model.cfg.d_model, 3)
    moves = parse_moves("f5 d6 c3 d3 c4")
    probs = read_board(model, moves, probe, 2)
    _, cache = model.run_with_cache(torch.from_numpy(squares_to_tokens(np.array([moves]))))
    expected = probe(cache["blocks.1.hook_resid_post"][0, -1:]).softmax(-1)[0].detach().numpy()
    assert probs.shape == (64, 3) and np.allclose(probs, expected, atol=1e-5)
    assert not np.allclose(read_board(model, moves[:4], probe, 2), probs)  # it reads the prefix's last position
    with pytest.raises(ValueError, match="1..59 moves"):
        read_board(model, [], probe, 2)


@pytest.mark.slow
def test_readout_command(tmp_path, capsys, probe_cache):
    import json

    from othello.cli.entry import main
    from othello.engine.board import Board
    from othello.engine.notation import square_name
    from othello.model.checkpoints import save_model, write_run_config

    write_run_config(tmp_path / "m", preset("tiny"), None)
    save_model(tmp_path / "m", build_model(preset("tiny")))
    common = ["readout", "--model", str(tmp_path / "m"), "--probe-games", "100", "--game", "f5 d6 c3 d3 c4"]
    assert main([*common, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hook"] == "blocks.1.hook_resid_post" and data["layer"] == 2 and data["label"] == "relative"
    board = Board("f5 d6 c3 d3 c4")  # white to move: white's discs are "mine"
    names = {0: "empty", board.next_mover: "mine", 3 - board.next_mover: "theirs"}
    assert data["true"] == {square_name(s): names[c] for s, c in enumerate(board.to_array())}
    assert data["misread"] == [s for s in data["true"] if data["read"][s] != data["true"][s]]
    assert data["accuracy"] == 1 - len(data["misread"]) / 64
    assert len(list(probe_cache.glob("probes/*/relative-linear/layer-2/probe.json"))) >= 1  # fitted once, kept
    png = tmp_path / "r.png"
    assert main([*common, "--layer", "1", "--label", "colour", "--kind", "mlp", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "mlp colour probe, layer 1 (blocks.0.hook_resid_post), after 5 moves, white to move" in out
    assert f"reads {64 - out.count(' read as ')} of 64 squares right" in out
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10000
    assert main([*common, "--layer", "3"]) == 2
    assert "layer 3 is out of range 0..2" in capsys.readouterr().err


def test_whose_turn_it_is_is_probed_as_one_target_per_position():
    model = build_model(preset("tiny"))
    moves = random_games(150, 4)
    rows = probe_accuracy_by_layer(
        model,
        moves,
        ("next_mover",),
        layers=[0, 2],
        positions=slice(0, 12),
        config=ProbeConfig(epochs=20, batch_size=64),
        progress=False,
    )
    assert [(r["layer"], r["label"]) for r in rows] == [(0, "next_mover"), (2, "next_mover")]
    for r in rows:
        assert len(r["per_square"]) == 1 and r["per_class"].keys() <= {0, 1}
        # with 12 positions that alternate (passes are rare this early), the majority guess is near a half
        assert 0.4 < r["baseline"] < 0.6
    # the embeddings carry the position, and the position its parity: an untrained model's too
    assert rows[0]["accuracy"] > 0.9


def test_positions_after_a_pass_are_scored_apart():
    from othello.data.datasets import split_mask
    from othello.engine.games import replay

    model = build_model(preset("tiny"))
    moves = random_games(300, 6)
    (row,) = probe_accuracy_by_layer(
        model, moves, ("relative",), layers=[2], config=ProbeConfig(epochs=1), progress=False
    )
    off = replay(moves[:, :59], ("passed",)).off_parity()
    held_out = ~split_mask(moves, "train")
    labelled = (board_labels(moves, "relative") >= 0).any(-1)
    assert row["after_pass_samples"] == (off & labelled)[held_out].sum() > 0
    assert 0 <= row["after_pass_accuracy"] <= 1
