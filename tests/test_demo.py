import json
import shutil
import subprocess

import pytest

from othello.cli.entry import main

# the demo end to end (its fixture runs every stage): the slow tier
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    args = [
        "demo",
        "--train",
        "--preset",
        "tiny",
        "--minutes",
        "0.05",
        "--out",
        str(out),
        "--eval-games",
        "40",
        "--probe-games",
        "100",
        "--cases",
        "6",
        "--steps",
        "5",
        "--circuit-games",
        "30",
    ]
    assert main(args) == 0
    return out, args


@pytest.mark.slow
def test_demo_runs_every_stage_and_caches_them(demo_run, capsys):
    out, args = demo_run
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["eval"]) == {"synthetic"} and summary["eval"]["synthetic"]["games"] == 40
    assert summary["eval"]["synthetic"]["after_pass_positions"] < summary["eval"]["synthetic"]["positions"]
    rows = summary["probes"]["rows"]
    assert {(r["label"], r["kind"], r["model"]) for r in rows} >= {
        ("relative", "linear", "trained"),
        ("colour", "mlp", "trained"),
        ("relative", "linear", "untrained"),
        ("next_mover", "linear", "trained"),
    }
    assert all(len(r["per_square"]) == 1 for r in rows if r["label"] == "next_mover")
    irows = summary["interventions"]["rows"]
    # the default demo runs each method's recommended settings once (3 linear scopes, 2 gradient), no sweep
    assert sorted((r["method"], r["whole_board"], r["keep"]) for r in irows) == [
        ("gradient", False, "board"),
        ("gradient", False, "read"),
        ("linear", False, None),
        ("linear", True, "board"),
        ("linear", True, "read"),
    ]
    assert all(r["error_ci"] > 0 and r["null_error_ci"] > 0 for r in irows)
    gallery = summary["figures"]["gallery"]
    assert 1 <= len(gallery) <= 8 and all((out / g["file"]).exists() for g in gallery)
    # a success lowered the error; anything else is a failure
    assert all((g["error"] < g["null_error"]) == (g["kind"] == "success") for g in gallery)
    capsys.readouterr()
    assert main(args) == 0
    text = capsys.readouterr().out
    assert (
        all(f"[{stage}] cached" in text for stage in ("eval", "probes", "interventions"))
        and "probe relative linear" in text
    )
    assert "probe whose turn (next_mover) linear, by layer" in text
    circuits = summary["circuits"]
    assert circuits["games"] == 30 and len(circuits["heads"]) == 2 * 2 and circuits["patching"]["move"]
    assert {"layer", "neuron", "r2", "rule", "top_squares"} <= set(circuits["neurons"][0])
    assert (out / "circuits_patching.png").exists() and (out / "circuits_neuron.png").exists()
    assert main(args + ["--force", "figures"]) == 0
    assert "[figures] running" in capsys.readouterr().out


def test_report_is_one_self_contained_page(demo_run, capsys):
    out, _ = demo_run
    # an SAE trained and evaluated into the run gets its section
    model = ["--model", str(out / "model"), "--quiet"]
    sae = ["sae", "train", "--hook", "blocks.1.hook_resid_mid", "--latents", "32", "--k", "4", "--tokens", "1k"]
    assert main(sae + ["--batch-size", "128", "--chunk-games", "4", "--out", str(out / "sae")] + model) == 0
    assert main(["sae", "eval", str(out / "sae"), "--games", "8"] + model) == 0
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 12 and 'src="http' not in page
    for text in (
        "Legal moves",
        "after a pass",
        "Probes",
        "whose turn, linear",
        "Interventions",
        "Gallery",
        "Nanda et al.",
        "model_fingerprint",
        "<h2>Circuits</h2>",
        "rule-explained neurons",
        "Head classes over 500 games",
        "<h2>SAE features</h2>",
        "board reconstruction F1",
    ):
        assert text in page
    # a training folder gets a report of its own
    assert main(["report", str(out / "model")]) == 0
    assert "Validation" in (out / "model" / "report.html").read_text()
    assert main(["report", str(out / "nothing")]) == 2


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(demo_run, tmp_path):
    out, _ = demo_run
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1200,3000",
            (out / "report.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    image = Image.open(shot).convert("L")
    assert image.size == (1200, 3000)
    # a rendered page with images and tables, not a blank or an error page: many distinct grey levels
    assert len(set(image.getdata())) > 50
