import numpy as np

from othello.games import random_games
from othello.model import build_model, preset
from probes.layers import probe_accuracy_by_layer
from probes.probes import ProbeConfig


def test_rows_for_every_layer_label_and_kind():
    model = build_model(preset("tiny"))
    moves = random_games(200, 1)
    rows = probe_accuracy_by_layer(model, moves, ("relative", "colour"), ("linear", "mlp"), positions=slice(0, 20),
                                   config=ProbeConfig(epochs=1, hidden=16), progress=False)
    assert len(rows) == 3 * 2 * 2
    assert [r["hook"] for r in rows[::4]] == ["blocks.0.hook_resid_pre", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
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


def test_plots_are_written(tmp_path):
    from probes.plots import plot_accuracy_by_layer, plot_square_accuracy

    rows = [{"layer": L, "label": lab, "kind": "linear", "accuracy": 0.5 + 0.1 * L, "baseline": 0.4}
            for L in range(3) for lab in ("relative", "colour")]
    for path in (plot_accuracy_by_layer(rows, tmp_path / "a.png"),
                 plot_square_accuracy(np.linspace(0.8, 1, 64), tmp_path / "b.png", "best layer")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
