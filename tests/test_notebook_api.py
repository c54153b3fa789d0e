"""What a notebook user relies on: no backend switch on import, plots returned as Figures, saved only on request."""

import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.slow
def test_importing_the_package_keeps_the_matplotlib_backend():
    # a fresh interpreter: pick a backend, import every layer that draws, and see it unchanged
    code = (
        "import matplotlib; matplotlib.use('svg'); "
        "import othello, othello.probes, othello.views.plots, othello.lab.figures, othello.lab.report; "
        "import othello.lab.outputs; "
        "import matplotlib.pyplot as plt; "
        "print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"


def _readout_probs() -> np.ndarray:
    probs = np.full((64, 3), 0.1)
    probs[:, 0] = 0.8
    return probs


@pytest.mark.parametrize(
    "draw",
    [
        lambda p, plots: plots.plot_square_accuracy(np.linspace(0.8, 1, 64), p, "squares"),
        lambda p, plots: plots.plot_move_probabilities([0] * 64, np.full(64, 1 / 64), [19, 26], p, "moves"),
        lambda p, plots: plots.plot_probe_readout(_readout_probs(), ("empty", "mine", "theirs"), p, 1, [0] * 64),
        lambda p, plots: plots.plot_accuracy_by_layer(
            [{"layer": 0, "label": "relative", "kind": "linear", "accuracy": 0.7, "baseline": 0.5}], p
        ),
        lambda p, plots: plots.plot_training_curves([{"games": 10, "loss": 2.0}, {"games": 20, "loss": 1.5}], p),
        lambda p, plots: plots.plot_intervention_errors(
            [
                {
                    "method": "linear",
                    "layers": f"{s}-4",
                    "scale": 2.0,
                    "positions": 1,
                    "whole_board": False,
                    "keep": None,
                    "error": 1.0 / s,
                    "error_ci": 0.1,
                    "null_error": 2.5,
                    "null_error_ci": 0.2,
                    "data": "synthetic",
                }
                for s in (1, 2, 3)
            ],
            p,
        ),
    ],
)
def test_plot_functions_return_the_figure_and_save_only_with_a_path(tmp_path, draw):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from othello.views import plots

    open_before = plt.get_fignums()
    fig = draw(None, plots)
    assert isinstance(fig, Figure) and fig.axes
    assert list(tmp_path.iterdir()) == []  # no path: nothing written
    assert plt.get_fignums() == open_before  # not registered with pyplot: no double display in a notebook
    path = tmp_path / "figure.png"
    fig = draw(path, plots)
    assert isinstance(fig, Figure)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]  # no temporary left beside it


def test_numbers_on_a_heatmap_contrast_with_their_cell():
    import matplotlib

    from othello.views.plots import _text_colour

    viridis = matplotlib.colormaps["viridis"]
    assert _text_colour(viridis, 0.0) == "white"  # dark purple
    assert _text_colour(viridis, 1.0) == "black"  # light yellow


def test_the_pictures_say_what_they_show():
    from matplotlib.ticker import PercentFormatter

    from othello.views import plots

    # colour bars in %, like the numbers on the cells
    fig = plots.plot_square_accuracy(np.linspace(0.8, 1, 64), None, "squares")
    assert isinstance(fig.axes[-1].yaxis.get_major_formatter(), PercentFormatter)
    # both baselines and the untrained control are labelled
    rows = [
        {"layer": L, "label": "relative", "kind": "linear", "accuracy": 0.9, "baseline": 0.5, "ply_baseline": 0.6}
        for L in range(3)
    ] + [{"layer": L, "label": "relative", "kind": "linear", "accuracy": 0.6, "model": "untrained"} for L in range(3)]
    labels = plots.plot_accuracy_by_layer(rows).axes[0].get_legend_handles_labels()[1]
    assert {"relative: majority baseline", "relative: by-ply baseline", "relative, linear, untrained model"} <= set(
        labels
    )
    # the read-out's confidence has a panel of its own, numbers on every square
    fig = plots.plot_probe_readout(_readout_probs(), ("empty", "mine", "theirs"), None, 1, [0] * 64)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 3 and len(fig.axes[1].texts) == 64


def test_the_report_keeps_wide_tables_inside_the_page():
    from othello.lab.report import _table

    assert _table(["a"] * 30, [[1] * 30]).startswith("<div class='wide'><table>")
