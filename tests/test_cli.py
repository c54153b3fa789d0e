import json

import numpy as np
import pytest

from othello.cli.entry import main
from othello.data.datasets import load_moves
from othello.engine.games import random_games
from othello.engine.notation import moves_to_string


def test_generate_info_export(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert main(["generate", "--games", "500", "--seed", "3", "--out", str(out), "--quiet", "--workers", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["games"] == 500 and info["attrs"][0]["seed"] == 3
    assert main(["export", str(out), "--out", str(tmp_path / "g.txt")]) == 0
    lines = (tmp_path / "g.txt").read_text().splitlines()
    assert lines[0] == moves_to_string(random_games(1, 3)[0])
    assert main(["import", str(tmp_path / "g.txt"), "--out", str(tmp_path / "back.h5")]) == 0
    assert np.array_equal(load_moves(tmp_path / "back.h5"), load_moves(out))


def test_show_and_perft(capsys):
    assert main(["show", "f5 d6 c3"]) == 0
    text = capsys.readouterr().out
    assert "white to move; legal: d3, f3, f4, g5" in text
    assert main(["show", "f5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["next_mover"] == "white" and data["legal_moves"] == ["f4", "d6", "f6"]
    assert main(["perft", "5", "--all"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "perft(5) = 1396"


def test_errors_are_clear(tmp_path, capsys):
    assert main(["show", "f5 f5"]) == 2
    assert "ply 2: f5 is occupied" in capsys.readouterr().err
    (tmp_path / "bad.txt").write_text("f5 d6\nf5 a1\n")
    assert main(["import", str(tmp_path / "bad.txt"), "--out", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert "bad.txt: game 1, ply 2 (a1)" in err and not (tmp_path / "x.h5").exists()
    assert main(["import", str(tmp_path / "bad.txt"), "--out", str(tmp_path / "x.h5"), "--skip-invalid"]) == 0
    assert len(load_moves(tmp_path / "x.h5")) == 1
    assert main(["info", str(tmp_path / "nope.h5")]) == 2


def test_convert_predict_and_eval_json(tmp_path, capsys):
    import torch

    from othello.data.datasets import generate
    from othello.model import build_model, preset
    from othello.model.checkpoints import save_model, write_run_config

    model = build_model(preset("tiny"))
    write_run_config(tmp_path / "m", preset("tiny"), None)
    save_model(tmp_path / "m", model)
    assert main(["predict", "f5 d6 c3", "--model", str(tmp_path / "m"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["legal_moves"] == ["d3", "f3", "f4", "g5"]
    assert abs(sum(data["probabilities"].values()) - 1) < 1e-3 and "d4" not in data["probabilities"]
    assert main(["predict", "f5 d6 c3", "--model", str(tmp_path / "m"), "--png", str(tmp_path / "p.png")]) == 0
    assert "[" in capsys.readouterr().out and (tmp_path / "p.png").stat().st_size > 5000
    # one way for moves and outputs everywhere: --game and --out; the positional moves and --png stay as aliases
    m = ["--model", str(tmp_path / "m"), "--json"]
    assert main(["predict", "--game", "f5 d6 c3", *m, "--out", str(tmp_path / "q.png")]) == 0
    assert json.loads(capsys.readouterr().out) == data and (tmp_path / "q.png").exists()
    assert (
        main(["show", "--game", "f5", "--json"]) == 0 and json.loads(capsys.readouterr().out)["next_mover"] == "white"
    )
    for command in (["predict", *m], ["readout", *m], ["attribute", "--move", "c4", *m]):
        assert main(command) == 2
        assert 'no moves given: --game "f5 d6 c3 ...' in capsys.readouterr().err
    generate(tmp_path / "v.h5", 50, seed=1, progress=False)
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "v.h5"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["games"] == 50 and 0 <= result["top1_legal"] <= 1 and result["legal_set_error"] >= 0
    assert result["positions"] == int((load_moves(tmp_path / "v.h5")[:, 1:] >= 0).sum())
    sd = {"embed.W_E": torch.zeros(3, 4)}
    torch.save(sd, tmp_path / "x.pth")
    assert main(["convert", str(tmp_path / "x.pth"), "--layout", "hooked", "--out", str(tmp_path / "c")]) == 2
    assert "no consecutive blocks" in capsys.readouterr().err


@pytest.mark.slow
def test_probe_command(tmp_path, capsys):
    from othello.data.datasets import generate
    from othello.model import build_model, preset
    from othello.model.checkpoints import save_model, write_run_config

    write_run_config(tmp_path / "m", preset("tiny"), None)
    save_model(tmp_path / "m", build_model(preset("tiny")))
    generate(tmp_path / "v.h5", 150, seed=1, progress=False)
    args = [
        "probe",
        "--model",
        str(tmp_path / "m"),
        "--data",
        str(tmp_path / "v.h5"),
        "--games",
        "150",
        "--epochs",
        "1",
        "--positions",
        "0-9",
        "--layers",
        "0,2",
        "--control",
    ]
    assert main(args + ["--json", "--out", str(tmp_path / "p")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 * 2 * 2
    assert {"hook", "layer", "label", "kind", "accuracy", "baseline"} <= set(rows[0])
    assert {r["model"] for r in rows} == {"trained", "untrained"}
    assert (tmp_path / "p" / "probe_table.csv").read_text().count("\n") == 9
    assert (tmp_path / "p" / "probe_accuracy_by_layer.png").exists() and (
        tmp_path / "p" / "probe_squares_colour.png"
    ).exists()
    assert main(args) == 0
    text = capsys.readouterr().out.splitlines()
    assert (
        text[0].startswith("layer  hook") and "relative, linear" in text[0] and "colour, linear (untrained)" in text[0]
    )
    assert text[1].split()[:2] == ["0", "blocks.0.hook_resid_pre"] and len(text[1].split()) == 2 + 4 + 4
    # positions 0..9 include 5..9 of Nanda et al.'s 5..53
    assert sum("at positions 5..53" in line for line in text) == 4
    mid = args[:-3] + ["--layers", "1,2", "--site", "resid_mid", "--json"]
    assert main(mid) == 0
    assert [r["hook"] for r in json.loads(capsys.readouterr().out)] == ["blocks.0.hook_resid_mid"] * 2 + [
        "blocks.1.hook_resid_mid"
    ] * 2
    # whose turn it is: one target per position, so no per-square board is drawn for it
    turn = args[:7] + [
        "--epochs",
        "1",
        "--layers",
        "2",
        "--labels",
        "relative,next_mover",
        "--out",
        str(tmp_path / "t"),
        "--json",
    ]
    assert main(turn) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in rows] == ["relative", "next_mover"] and 0 <= rows[1]["accuracy"] <= 1
    assert (tmp_path / "t" / "probe_squares_relative.png").exists() and not (
        tmp_path / "t" / "probe_squares_next_mover.png"
    ).exists()


def _tiny_train_args(out) -> list[str]:
    return [
        "train",
        "--preset",
        "tiny",
        "--steps",
        "8",
        "--batch-size",
        "8",
        "--eval-every",
        "4",
        "--eval-games",
        "16",
        "--checkpoint-every",
        "4",
        "--warmup-steps",
        "2",
        "--out",
        str(out),
        "--json",
    ]


@pytest.mark.slow
def test_train_command_writes_curves(tmp_path, capsys):
    out = tmp_path / "run"
    args = _tiny_train_args(out) + ["--pass-weight", "3"]
    assert main(args) == 0
    assert json.loads((out / "config.json").read_text())["train"]["pass_weight"] == 3.0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 8 and {"top1_legal", "legal_set_error"} <= set(result)
    assert (out / "curves.png").stat().st_size > 5000 and (out / "model.safetensors").exists()
    assert main(args) == 2  # the folder holds a run: --resume or another folder
    assert "already holds a run" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0


@pytest.mark.slow
def test_train_command_stops_at_a_step_and_resumes_to_the_end(tmp_path, capsys):
    args = _tiny_train_args(tmp_path / "run")
    assert main(args + ["--stop-at", "3"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 3
    assert main(args + ["--resume"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 8


def test_reporting_commands_print_json(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert main(["generate", "--games", "40", "--seed", "3", "--out", str(out), "--quiet", "--json"]) == 0
    generated = json.loads(capsys.readouterr().out)
    assert generated["games"] == 40 and generated["out"] == str(out)
    assert main(["export", str(out), "--out", str(tmp_path / "g.txt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"out": str(tmp_path / "g.txt"), "games": 40}
    (tmp_path / "g.pgn").write_text('[Event "E"]\n\n1. *\n\n[Event "F"]\n\n1. f5 d6 *\n')
    assert (
        main(["import", str(tmp_path / "g.txt"), str(tmp_path / "g.pgn"), "--out", str(tmp_path / "i.h5")] + ["--json"])
        == 0
    )
    imported = json.loads(capsys.readouterr().out)
    assert imported["games"] == 41 and imported["skipped"] == 1 and "no moves" in imported["skipped_games"][0]
    assert main(["labels", str(out), "--labels", "boards", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"data": str(out), "labels": ["boards"]}


@pytest.mark.slow
def test_train_for_minutes_plans_its_schedule(tmp_path, capsys):
    args = _tiny_train_args(tmp_path / "run")
    i = args.index("--steps")
    del args[i : i + 2]  # no --steps: the schedule is planned for the minutes
    assert main(args + ["--minutes", "0.05"]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert saved["minutes"] == 0.05 and 1 <= saved["steps"] < 1_000_000
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] <= saved["steps"]
