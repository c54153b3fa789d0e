import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from othello.probes.fit import (
    LinearProbe,
    ProbeConfig,
    fit_probe,
    majority_classes,
    ply_majority_accuracy,
    predict,
    probe_metrics,
    unit_directions,
)
from othello.probes.store import load_probe, save_probe


def planted(n, d=16, seed=0):
    """Labels that are a linear function of the input for squares 0..31 and noise-free constant elsewhere."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = np.random.default_rng(99).normal(size=(d, 32, 3))
    y = np.zeros((n, 64), dtype=np.int8)
    y[:, :32] = np.einsum("nd,dsc->nsc", x, w).argmax(-1)
    y[:, 60] = -1
    return x, y


@pytest.mark.slow
def test_linear_probe_recovers_a_planted_board_and_matches_sklearn():
    x, y = planted(3000)
    xv, yv = planted(1000, seed=1)
    probe, m = fit_probe(x, y, ProbeConfig(kind="linear", lr=0.1, epochs=30, batch_size=256), xv, yv)
    assert m["accuracy"] > 0.95 and m["accuracy"] > m["baseline"] + 0.2
    sk = []
    for s in range(32):
        clf = LogisticRegression(max_iter=500).fit(x, y[:, s])
        sk.append(clf.score(xv, yv[:, s]))
    ours = np.array(m["per_square"][:32])
    assert abs(ours.mean() - np.mean(sk)) < 0.02
    assert m["per_square"][60] == 0 and m["per_square"][40] == 1.0


@pytest.mark.slow
def test_mlp_probe_learns_a_nonlinear_board():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 8)).astype(np.float32)
    y = np.zeros((4000, 64), dtype=np.int8)
    y[:, 0] = (np.abs(x[:, 0]) > 0.8).astype(np.int8)  # no linear direction separates this
    lin, ml = (
        fit_probe(
            x[:3000], y[:3000], ProbeConfig(kind=k, n_classes=2, lr=3e-3, epochs=20, batch_size=128), x[3000:], y[3000:]
        )[1]
        for k in ("linear", "mlp")
    )
    assert ml["per_square"][0] > 0.9 > lin["per_square"][0] + 0.1


def test_metrics_by_hand():
    y = np.array([[0, 1, -1] + [0] * 61, [2, 1, 1] + [0] * 61])
    pred = np.array([[0, 1, 2] + [0] * 61, [2, 0, 1] + [0] * 61])
    m = probe_metrics(pred, y, majority_classes(y, 3), plies=np.array([3, 7]))
    assert m["accuracy"] == pytest.approx(126 / 127)
    assert m["whole_board"] == 0.5 and m["per_class"][1] == pytest.approx(2 / 3)
    assert len(m["per_ply"]) == 59 and m["per_ply"][2] == 1.0 and m["per_ply"][6] == pytest.approx(63 / 64)
    assert m["per_ply"][0] is None
    # Nanda et al.'s positions (plies 6..54) hold only the second row
    assert m["midgame_accuracy"] == pytest.approx(63 / 64)
    assert probe_metrics(pred, y, majority_classes(y, 3), plies=np.array([3, 55]))["midgame_accuracy"] is None


def test_save_load_and_directions(tmp_path):
    x, y = planted(500)
    probe, m = fit_probe(x, y, ProbeConfig(epochs=2))
    save_probe(tmp_path / "p", probe, ProbeConfig(epochs=2), {"hook": "blocks.0.hook_resid_post", "metrics": m})
    again, cfg, info = load_probe(tmp_path / "p")
    # the file records the settings the probe was trained with, per-kind defaults filled in
    assert cfg.epochs == 2 and cfg.lr == 1e-2 and info["hook"] == "blocks.0.hook_resid_post"
    assert np.array_equal(predict(again, x), predict(probe, x))
    d = unit_directions(again, 1, 2)
    assert d.shape == (64, 16) and torch.allclose(d.norm(dim=-1), torch.ones(64))
    assert isinstance(again, LinearProbe)


def test_ply_majority_accuracy_guesses_each_square_by_ply():
    # square 0 is class 1 at ply 0 and class 2 at ply 1 in every game; square 1 is unlabelled at ply 1
    y = np.zeros((4, 2, 64), dtype=np.int64)
    y[:, 0, 0], y[:, 1, 0], y[:, 1, 1] = 1, 2, -1
    assert ply_majority_accuracy(y, y, 3) == 1.0
    test = y.copy()
    test[:, 1, 0] = 1  # one of 127 labelled squares per game now differs from the ply's majority
    assert ply_majority_accuracy(y, test, 3) == pytest.approx(126 / 127)


def test_per_kind_defaults():
    assert (ProbeConfig().resolved().lr, ProbeConfig().resolved().epochs) == (1e-2, 8)
    assert (ProbeConfig(kind="mlp").resolved().lr, ProbeConfig(kind="mlp").resolved().epochs) == (3e-3, 16)
    assert ProbeConfig(kind="mlp", lr=1e-4, epochs=3).resolved() == ProbeConfig(kind="mlp", lr=1e-4, epochs=3)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_a_probe_of_one_target_per_position_fits_saves_and_loads(tmp_path, kind):
    # whose turn it is: one label per row, a planted linear rule (XOR-free, so both kinds can learn it)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 12)).astype(np.float32)
    y = (x[:, 3] - x[:, 7] > 0).astype(np.int8)[:, None]  # [N, 1]
    cfg = ProbeConfig(kind=kind, n_classes=2, hidden=16, epochs=10, batch_size=64)
    probe, m = fit_probe(x[:2000], y[:2000], cfg, x[2000:], y[2000:])
    assert len(m["per_square"]) == 1 and m["accuracy"] > 0.95 and m["accuracy"] > m["baseline"] + 0.3
    assert predict(probe, x[2000:]).shape == (1000, 1)
    save_probe(tmp_path / kind, probe, cfg, {"label": "next_mover"})
    loaded, _, _ = load_probe(tmp_path / kind)
    assert (predict(loaded, x[2000:]) == predict(probe, x[2000:])).all()


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))],
)
def test_a_probe_fitted_on_a_device_comes_back_on_the_cpu(device):
    x, y = planted(2000)
    xv, yv = planted(500, seed=1)
    cfg = ProbeConfig(kind="linear", lr=0.1, epochs=5, batch_size=256)
    probe, m = fit_probe(x, y, cfg, xv, yv, device=device)
    assert next(probe.parameters()).device.type == "cpu"
    _, on_cpu = fit_probe(x, y, cfg, xv, yv)
    # the same seed and data: the same fit on the CPU, and within rounding on a GPU
    assert m["accuracy"] == pytest.approx(on_cpu["accuracy"], abs=0 if device == "cpu" else 0.01)


def test_metrics_after_a_pass_by_hand():
    y = np.array([[0, 1], [1, 1], [2, -1]])
    pred = np.array([[0, 1], [0, 0], [2, 2]])
    m = probe_metrics(pred, y, np.array([0, 1]), after_pass=np.array([False, True, True]))
    # rows 1 and 2: three labelled squares, one right
    assert m["after_pass_samples"] == 2 and m["after_pass_accuracy"] == pytest.approx(1 / 3)
    assert probe_metrics(pred, y, np.array([0, 1]), after_pass=np.zeros(3, bool))["after_pass_accuracy"] is None
    assert "after_pass_accuracy" not in probe_metrics(pred, y, np.array([0, 1]))


@pytest.mark.slow
def test_probes_streamed_from_disk_match_those_fitted_in_memory():
    # memory=1: every layer goes through a temporary HDF5 file, read a block of games at a time
    from othello.engine.games import random_games
    from othello.model import build_model, preset
    from othello.probes.fit import ProbeConfig
    from othello.probes.layers import probe_accuracy_by_layer

    model = build_model(preset("tiny", seed=2))
    games = random_games(300, 4)
    cfg = ProbeConfig(epochs=3)
    held = probe_accuracy_by_layer(model, games, ("relative",), ("linear",), layers=[1, 2], config=cfg, progress=False)
    streamed = list(
        probe_accuracy_by_layer(
            model, games, ("relative",), ("linear",), layers=[1, 2], config=cfg, progress=False, memory=1
        )
    )
    for a, b in zip(held, streamed):
        assert a["layer"] == b["layer"] and a["test_games"] == b["test_games"]
        assert a["baseline"] == b["baseline"] and len(a["per_ply"]) == len(b["per_ply"])
        # the same fit up to the order minibatches see the rows in
        assert abs(a["accuracy"] - b["accuracy"]) < 0.03


def test_read_board_takes_a_move_string_or_squares_and_refuses_an_illegal_game():
    from othello.errors import OthelloError
    from othello.model import load_model
    from othello.probes import layer_probes
    from othello.probes.layers import read_board

    model = load_model()
    probe = layer_probes(model, "relative", "linear", layers=[4], progress=False)[4]
    as_text = read_board(model, "f5 d6 c3", probe, 4)
    assert as_text.shape == (64, 3) and np.allclose(as_text, read_board(model, [37, 43, 18], probe, 4))
    with pytest.raises(OthelloError, match="ply 2"):
        read_board(model, "f5 f5", probe, 4)
