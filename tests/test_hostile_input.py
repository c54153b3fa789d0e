"""Hostile input, generated: damaged game files of every format, bad HDF5 files, bad checkpoints and configs, bad
flag values. For each case, through the command line as a user meets it: exit status 2 with one line naming the
input, never a traceback and never a half-written or destroyed file; or, with ``--skip-invalid``, exactly the good
games kept and the bad ones counted.

The cases are drawn from seeded generators (``random.Random(case)``), so a failure names a case that reproduces.
"""

from __future__ import annotations

import json
import os
import random
import struct

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from othello.cli.entry import build_parser, main
from othello.data.datasets import load_moves
from othello.data.importers import GameImportError, read_pgn, read_text
from othello.engine.board import Board
from othello.engine.games import random_games
from othello.engine.notation import moves_to_string, square_name
from othello.errors import OthelloError

GAMES = random_games(400, 11)


def _game(rng: random.Random) -> list[int]:
    g = GAMES[rng.randrange(len(GAMES))]
    return [int(s) for s in g if s >= 0]


def _write(rng: random.Random, game: list[int]) -> str:
    """A good game in one of the notations people write."""
    names = [square_name(s) for s in game]
    style = rng.randrange(3)
    if style == 0:
        return " ".join(names)
    if style == 1:
        return "".join(names).upper()
    return " ".join(n.upper() for n in names)


def _bad(rng: random.Random, game: list[int]) -> str:
    """A game that must not import: each way a line goes wrong."""
    names = [square_name(s) for s in game]
    kind = rng.randrange(7)
    k = rng.randrange(1, len(names) - 1)
    if kind == 0:  # a typo
        names[k] = names[k][0] + "9"
    elif kind == 1:  # a square played twice
        names[k] = names[k - 1]
    elif kind == 2:  # a pass where the player to move has moves (after the first move white always has some)
        names.insert(1, "pass")
    elif kind == 3:  # more than 60 moves
        names = names + ["f5"] * (61 - len(names) + rng.randrange(3))
    elif kind == 4:  # no moves at all
        return rng.choice(["pass", "--", "pass pass"])
    elif kind == 5:  # two passes in a row (Othello has none: the game is over), inside the game or after it
        names.insert(rng.choice([k, len(names)]), rng.choice(["pass pass", "-- --", "PA pass"]))
    else:  # a move that flips nothing (a corner early on is never legal at move 1)
        names[0] = "a1"
    return " ".join(names)


def _text_file(rng: random.Random, path) -> tuple[list[list[int]], int]:
    """A text or CSV game file with good and bad lines; returns (the good games in order, the number of bad)."""
    n = rng.randrange(1, 6)
    bad_at = {i for i in range(n) if rng.random() < 0.35}
    good: list[list[int]] = []
    lines = []
    layout = rng.choice(["plain", "bom", "csv-header", "csv", "csv-opening", "crlf"])
    for i in range(n):
        game = _game(rng)
        text = _bad(rng, game) if i in bad_at else _write(rng, game)
        if i not in bad_at:
            good.append(game)
        if layout.startswith("csv"):
            text = f"{i + 1},{text}" + (f",{square_name(game[-1])}" if layout == "csv-opening" else "")
        lines.append(text)
    if layout == "csv-header":
        lines.insert(0, "id,moves")
    if layout == "csv-opening":
        lines.insert(0, "id,moves,opening")
    body = ("\r\n" if layout == "crlf" else "\n").join(lines) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if layout == "bom" else b"") + body.encode())
    return good, len(bad_at)


def _pgn_entry(rng: random.Random, game: list[int] | None, bad: str | None) -> str:
    tags = f'[Event "E{rng.randrange(99)}"]\n[Black "B"]\n[White "W"]\n\n'
    if game is None:  # an entry without moves: a result alone, or its tags alone
        return tags + rng.choice(["1. *\n\n", ""])
    names = bad.split() if bad else [square_name(s) for s in game]
    parts = []
    for i, name in enumerate(names):
        if i % 2 == 0:
            parts.append(f"{i // 2 + 1}.")
        parts.append(name + (rng.choice(["", "", "!", "?!"])))
        roll = rng.random()
        if roll < 0.05:
            parts.append("{a comment}")
        elif roll < 0.08:
            parts.append("$1")
        elif roll < 0.1:  # a variation, nested up to 200 deep
            depth = rng.choice([1, 2, 200])
            parts.append("(3. a1 " * depth + "b2" + ")" * depth)
    text = " ".join(parts)
    if rng.random() < 0.2:
        text += " ; a comment to the end of the line"
    return tags + text + "\n" + rng.choice(["*", "33-31", "1-0"]) + "\n\n"


def _pgn_file(rng: random.Random, path) -> tuple[list[list[int]], int, int]:
    """(good games, bad games, entries without moves)."""
    good, bad, empty, entries = [], 0, 0, []
    for _ in range(rng.randrange(1, 6)):
        roll = rng.random()
        game = _game(rng)
        if roll < 0.15:
            entries.append(_pgn_entry(rng, None, None))
            empty += 1
        elif roll < 0.45:
            text = _bad(rng, game)
            if text in ("pass", "--", "pass pass"):
                text = " ".join(square_name(s) for s in game) + " zz"
            entries.append(_pgn_entry(rng, game, text))
            bad += 1
        else:
            entries.append(_pgn_entry(rng, game, None))
            good.append(game)
    path.write_text("".join(entries))
    return good, bad, empty


def _one_line_error(code: int, err: str, name: str) -> None:
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if "Warning" not in line]
    assert len(lines) == 1 and "Traceback" not in err and name in lines[0], err


def _import(tmp_path, source, skip: bool, capsys) -> tuple[int, str]:
    out = tmp_path / "out.h5"
    if out.exists():
        out.unlink()
    code = main(["import", str(source), "--out", str(out), "--quiet"] + (["--skip-invalid"] if skip else []))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", range(120))
def test_damaged_text_files(case, tmp_path, capsys):
    rng = random.Random(case)
    path = tmp_path / f"g{case}.{rng.choice(['txt', 'csv'])}"
    good, bad = _text_file(rng, path)
    _check_import(tmp_path, path, good, refused=bool(bad), skipped=bad, capsys=capsys)


def _check_import(tmp_path, path, good: list[list[int]], refused: bool, skipped: int, capsys) -> None:
    """Without --skip-invalid: refused in one line (nothing written) or exactly ``good`` imported; with it:
    exactly ``good`` kept and ``skipped`` games named on stderr (or refused when no game is good)."""
    code, err = _import(tmp_path, path, False, capsys)
    if refused:
        _one_line_error(code, err, path.name)
        assert not (tmp_path / "out.h5").exists()
    else:
        assert code == 0, err
        assert [list(g[g >= 0]) for g in load_moves(tmp_path / "out.h5")] == good
    code, err = _import(tmp_path, path, True, capsys)
    if good:
        assert code == 0, err
        assert [list(g[g >= 0]) for g in load_moves(tmp_path / "out.h5")] == good
        assert sum(line.startswith("skipped:") for line in err.splitlines()) == skipped
    else:
        _one_line_error(code, err, path.name)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporaries left


@pytest.mark.parametrize("case", range(60))
def test_damaged_pgn_files(case, tmp_path, capsys):
    rng = random.Random(1000 + case)
    path = tmp_path / "g.pgn"
    good, bad, empty = _pgn_file(rng, path)
    _check_import(tmp_path, path, good, refused=bool(bad) or not good, skipped=bad + empty, capsys=capsys)


def _wtb(games, year=2001, count=None, codes=None) -> bytes:
    header = struct.pack("<BBBBIHHBBBB", 20, 1, 1, 1, len(games) if count is None else count, 0, year, 8, 0, 22, 0)
    body = b""
    for i, g in enumerate(games):
        c = [(s // 8 + 1) * 10 + s % 8 + 1 for s in g]
        body += struct.pack("<HHHBB", 0, i, i + 1, 32, 32) + bytes(c + [0] * (60 - len(c)))
    return header + body


@pytest.mark.parametrize("case", range(30))
def test_damaged_wthor_files(case, tmp_path, capsys):
    rng = random.Random(2000 + case)
    games = [_game(rng) for _ in range(rng.randrange(2, 6))]
    kind = case % 6
    data = bytearray(_wtb(games, year=rng.choice([1977, 2001, 40000])))
    bad_game = rng.randrange(len(games))
    ply = rng.randrange(2, len(games[bad_game]))
    offset = 16 + 68 * bad_game + 8 + ply
    if kind == 0:  # fewer games in the header than records
        struct.pack_into("<I", data, 4, len(games) - 1)
    elif kind == 1:  # more games in the header than records
        struct.pack_into("<I", data, 4, len(games) + 3)
    elif kind == 2:  # truncated
        data = data[: -rng.randrange(1, 60)]
    elif kind == 3:  # an off-board byte
        data[offset] = rng.choice([9, 19, 90, 99, 255])
    elif kind == 4:  # a square played twice
        data[offset] = data[offset - 1]
    path = tmp_path / "g.wtb"
    path.write_bytes(bytes(data))
    code, err = _import(tmp_path, path, False, capsys)
    if kind == 5:  # undamaged (a year over 32767 included)
        assert code == 0, err
        assert len(load_moves(tmp_path / "out.h5")) == len(games)
        return
    _one_line_error(code, err, "g.wtb")
    if kind == 3:
        assert f"ply {ply + 1}: byte" in err
    code, err = _import(tmp_path, path, True, capsys)
    if kind in (3, 4):  # one bad game: the others are kept
        assert code == 0, err
        kept = [list(g[g >= 0]) for g in load_moves(tmp_path / "out.h5")]
        assert kept == [g for i, g in enumerate(games) if i != bad_game]
    else:  # the file itself is damaged: nothing is imported from it
        _one_line_error(code, err, "g.wtb")


def _h5(path, **datasets) -> None:
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            if isinstance(value, str):
                f.create_group(name)
            else:
                f.create_dataset(name, data=value)


def _bad_h5_files(tmp_path) -> dict[str, object]:
    good = random_games(20, 3)
    centre, illegal, far, negative = good.copy(), good.copy(), good.copy(), good.copy()
    centre[7, 4] = 27
    illegal[12, 9] = illegal[12, 8]
    far[15, 3] = 99
    negative[3, 2] = -5
    return {
        "59-plies": good[:, :59],
        "int16": good.astype(np.int16),
        "group": "group",
        "no-moves": None,
        "zero-games": np.empty((0, 60), np.int8),
        "centre-square": centre,
        "illegal": illegal,
        "value-99": far,
        "value-minus-5": negative,
        "garbage": b"not an HDF5 file at all",
        "empty": b"",
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["eval", "--data", "{path}"],
        ["export", "{path}", "--out", "{out}"],
        ["info", "{path}"],
        ["train", "--preset", "tiny", "--steps", "1", "--data", "{path}", "--out", "{out}"],
    ],
)
def test_bad_hdf5_files(command, tmp_path, capsys, tiny_model):
    for name, content in _bad_h5_files(tmp_path).items():
        path = tmp_path / f"{name}.h5"
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is None:
            _h5(path, other=np.zeros(3))
        else:
            _h5(path, moves=content)
        out = tmp_path / f"{name}-out"
        argv = [a.format(path=path, out=out) for a in command] + (
            ["--model", str(tiny_model)] if command[0] == "eval" else []
        )
        code = main(argv)
        err = capsys.readouterr().err
        if name == "zero-games" and command[0] in ("info", "export"):
            assert code == 0  # an empty file is summarised or exported (as an empty file), not refused
            continue
        _one_line_error(code, err, path.name)
        assert not out.exists() or (command[0] == "train" and not (out / "model.safetensors").exists())


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from othello.model import build_model, preset
    from othello.model.checkpoints import save_model, write_run_config

    folder = tmp_path_factory.mktemp("tiny")
    write_run_config(folder, preset("tiny"), None)
    save_model(folder, build_model(preset("tiny")))
    return folder


def _config(**model) -> dict:
    from othello.model import preset

    return {"format_version": 1, "model": {**preset("tiny").to_dict(), **model}, "train": None}


BAD_CONFIGS = {
    "n_heads 0": _config(n_heads=0),
    "n_layers 0": _config(n_layers=0),
    "n_layers -1": _config(n_layers=-1),
    "n_layers string": _config(n_layers="2"),
    "d_model float": _config(d_model=32.5),
    "d_model huge": _config(d_model=100_000),
    "too many weights": _config(n_layers=64, d_model=8192, n_heads=8, d_mlp=32768),
    "n_layers huge": _config(n_layers=1_000_000),
    "d_vocab 62": _config(d_vocab=62),
    "n_ctx 60": _config(n_ctx=60),
    "heads do not divide": _config(n_heads=5),
    "unknown field": _config(width=3),
    "normalization": _config(normalization_type="RMS"),
    "act_fn number": _config(act_fn=3),
    "no model key": {"format_version": 1, "train": None},
    "model a list": {"format_version": 1, "model": [1, 2]},
    "a list": [1, 2, 3],
    "format from the future": {"format_version": 99, "model": _config()["model"]},
    "format a word": {"format_version": "one", "model": _config()["model"]},
    "more blocks than the weights": _config(n_layers=3),
    "wider than the weights": _config(d_mlp=128),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_bad_checkpoint_configs(name, tmp_path, capsys, tiny_model):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes((tiny_model / "model.safetensors").read_bytes())
    (folder / "config.json").write_text(json.dumps(BAD_CONFIGS[name]))
    code = main(["predict", "f5 d6", "--model", str(folder)])
    _one_line_error(code, capsys.readouterr().err, str(folder))


def _weights_variants(tiny_model) -> dict[str, bytes]:
    import torch
    from safetensors.torch import load_file, save_file

    good = (tiny_model / "model.safetensors").read_bytes()
    tensors = load_file(str(tiny_model / "model.safetensors"))
    nan, inf = dict(tensors), dict(tensors)
    nan["blocks.0.mlp.in.weight"] = nan["blocks.0.mlp.in.weight"].clone()
    nan["blocks.0.mlp.in.weight"][0, 0] = float("nan")
    inf["unembed.weight"] = inf["unembed.weight"].clone()
    inf["unembed.weight"][3, 1] = float("inf")
    out = {"empty": b"", "truncated": good[: len(good) // 2], "header only": good[:200], "garbage": b"\x00" * 64}
    out["huge header"] = struct.pack("<Q", 10**12) + b"{}"
    out["text"] = b"this is not a checkpoint"
    for name, t in (("nan", nan), ("inf", inf)):
        path = tiny_model.parent / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in t.items()}, str(path))
        out[name] = path.read_bytes()
    wrong = {k: v for k, v in tensors.items() if k != "unembed.weight"}
    path = tiny_model.parent / "missing.safetensors"
    save_file(wrong, str(path))
    out["a tensor missing"] = path.read_bytes()
    assert torch is not None
    return out


def test_bad_weights(tmp_path, capsys, tiny_model):
    for name, data in _weights_variants(tiny_model).items():
        folder = tmp_path / name.replace(" ", "-")
        folder.mkdir()
        (folder / "config.json").write_text((tiny_model / "config.json").read_text())
        (folder / "model.safetensors").write_bytes(data)
        code = main(["predict", "f5 d6", "--model", str(folder)])
        _one_line_error(code, capsys.readouterr().err, str(folder))


@pytest.mark.slow
def test_torn_metrics_line_is_dropped_and_resume_works(tmp_path, capsys):
    args = ["train", "--preset", "tiny", "--steps", "6", "--batch-size", "8", "--eval-every", "3"]
    args += ["--eval-games", "16", "--checkpoint-every", "3", "--warmup-steps", "1", "--out", str(tmp_path / "r")]
    assert main(args + ["--stop-at", "3", "--quiet"]) == 0
    metrics = tmp_path / "r" / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"step": 4, "loss": 1.')  # what kill -9 mid-write leaves
    with pytest.warns(UserWarning, match="torn"):  # the report reads it as resume does: the torn line dropped
        assert main(["report", str(tmp_path / "r")]) == 0
    assert main(args + ["--resume", "--quiet"]) == 0
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert rows[-1]["step"] == 6 and len({r["step"] for r in rows}) == len(rows)
    assert main(["report", str(tmp_path / "r")]) == 0
    capsys.readouterr()


BAD_FLAGS = [
    (["train", "--out", "x", "--batch-size", "0"], "--batch-size"),
    (["train", "--out", "x", "--checkpoint-every", "0"], "--checkpoint-every"),
    (["train", "--out", "x", "--eval-every", "0"], "--eval-every"),
    (["train", "--out", "x", "--steps", "-1"], "--steps"),
    (["train", "--out", "x", "--warmup-steps", "-1"], "--warmup-steps"),
    (["train", "--out", "x", "--pass-weight", "-1"], "--pass-weight"),
    (["train", "--out", "x", "--lr", "nan"], "--lr"),
    (["train", "--out", "x", "--threads", "-1"], "--threads"),
    (["train", "--out", "x", "--seed", str(2**64)], "--seed"),
    (["train", "--out", "x", "--set", "foo=1"], "--set"),
    (["train", "--out", "x", "--set", "act_fn=nope"], "--set"),
    (["train", "--out", "x", "--minutes", "0"], "--minutes"),
    (["train", "--out", "x", "--minutes", "1e308"], "--minutes"),
    (["train", "--out", "x", "--minutes", "inf"], "--minutes"),
    (["train", "--out", "x", "--grad-clip", "nan"], "--grad-clip"),
    (["sae", "train", "--out", "x", "--tokens", "inf"], "--tokens"),
    (["sae", "train", "--out", "x", "--tokens", "1e400"], "--tokens"),
    (["sae", "train", "--out", "x", "--tokens", "1e15"], "--tokens"),
    (["sae", "train", "--out", "x", "--latents", "0"], "--latents"),
    (["generate", "--games", "-1", "--out", "x.h5"], "--games"),
    (["generate", "--games", "10", "--out", "x.h5", "--shard", "3/2"], "--shard"),
    (["eval", "--data", "x.h5", "--games", "-1"], "--games"),
    (["probe", "--data", "x.h5", "--games", "-5"], "--games"),
    (["probe", "--data", "x.h5", "--epochs", "0"], "--epochs"),
    (["probe", "--data", "x.h5", "--positions", "0-59"], "--positions"),
    (["probe", "--data", "x.h5", "--positions", "-3"], "--positions"),
    (["probe", "--data", "x.h5", "--layers", "x"], "--layers"),
    (["probe", "--data", "x.h5", "--kind", "cubic"], "--kind"),
    (["intervene", "--game", "f5", "--flip", "e4", "--scale", "nan"], "--scale"),
    (["intervene", "--game", "f5", "--flip", "e4", "--edit-last", "0"], "--edit-last"),
    (["intervene", "--game", "f5", "--flip", "e4", "--positions", "-3"], "--edit-last"),
    (["intervene", "--game", "f5", "--flip", "e4", "--reg", "-1"], "--reg"),
    (["intervene-eval", "--cases", "0"], "--cases"),
    (["intervene-eval", "--scales", "0,1"], "--scales"),
    (["readout", "--game", "f5", "--layer", "-1"], "--layer"),
    (["explore", "--port", "70000"], "--port"),
    (["demo", "--cases", "0"], "--cases"),
    (["perft", "99"], "depth"),
]


@pytest.mark.parametrize("argv, flag", BAD_FLAGS)
def test_bad_flags_are_refused_while_parsing(argv, flag, capsys):
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(argv)
    assert stopped.value.code == 2 and flag in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, named",
    [
        (["predict", "f5", "--device", "cuda:7"], "--device cuda:7"),
        (["predict", "f5", "--device", "tpu"], "--device tpu"),
        (["show", "f5 f5"], "ply 2"),
        (["show", "f5 zz"], "'zz'"),
        (["predict", " ".join(["f5"] * 70)], "ply 2"),
        (["attribute", "--game", "f5 f5 c3", "--move", "c4"], "ply 2"),
        (["attribute", "--game", "f5 d6 c3", "--move", "c4", "--position", "999"], "position 999"),
        (["attribute", "--game", "f5 d6 c3", "--move", "c4", "--position", "-999"], "position -999"),
        (["patch", "--clean", "f5 f5 c3", "--corrupt", "f5 d6 c3", "--move", "c4"], "the clean game: ply 2"),
        (["patch", "--clean", "f5 d6 c3", "--corrupt", "f5 f5 c3", "--move", "c4"], "the corrupted game: ply 2"),
        # counts too large for any memory: refused before the arrays are made (MemoryError or the kernel's kill)
        (["neurons", "--layer", "1", "--games", "1000000000", "--quiet"], "1,000,000,000 games need about"),
        (["neurons", "--layer", "1", "--games", "400000", "--quiet"], "over 400,000 games need about"),
        (["heads", "--games", "1000000000"], "ask for less"),
        (["intervene-eval", "--cases", "1000000000", "--quiet"], "ask for less"),
    ],
)
def test_bad_values_found_after_parsing_are_one_line(argv, named, capsys):
    import torch

    if "cuda" in named and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(argv)
    _one_line_error(code, capsys.readouterr().err, named)


def test_an_output_that_is_an_input_is_refused(tmp_path, capsys):
    games = tmp_path / "g.txt"
    games.write_text(moves_to_string(GAMES[0]) + "\n")
    before = games.read_bytes()
    code = main(["import", str(games), "--out", str(games)])
    _one_line_error(code, capsys.readouterr().err, "would destroy the input")
    assert games.read_bytes() == before
    assert main(["import", str(games), "--out", str(tmp_path / "g.h5"), "--quiet"]) == 0
    h5 = (tmp_path / "g.h5").read_bytes()
    link = tmp_path / "link.h5"
    link.symlink_to(tmp_path / "g.h5")
    code = main(["export", str(tmp_path / "g.h5"), "--out", str(link)])
    _one_line_error(code, capsys.readouterr().err, "would destroy the input")
    assert (tmp_path / "g.h5").read_bytes() == h5 and link.is_symlink()


def _spellings(tmp_path, path):
    import os

    """The same file written four ways: as it is, through '..', through a link to its folder, as a hard link."""
    alias, hard = tmp_path / "alias", tmp_path / f"hard-{path.name}"
    if not alias.exists():
        alias.symlink_to(path.parent)
    if not hard.exists():
        os.link(path, hard)
    return [path, path.parent / ".." / path.parent.name / path.name, alias / path.name, hard]


def test_import_refuses_an_output_inside_its_folder_input_in_every_spelling(tmp_path, capsys):
    folder = tmp_path / "games"
    folder.mkdir()
    for i in range(2):
        (folder / f"g{i}.txt").write_text(moves_to_string(GAMES[i]) + "\n")
    before = (folder / "g1.txt").read_bytes()
    for out in _spellings(tmp_path, folder / "g1.txt"):
        code = main(["import", str(folder), "--out", str(out), "--quiet"])
        _one_line_error(code, capsys.readouterr().err, "would destroy the input")
    assert (folder / "g1.txt").read_bytes() == before


@pytest.mark.slow
def test_convert_refuses_to_write_over_the_model_it_reads(tmp_path, capsys):
    model = _tiny_model(tmp_path / "m")
    files = {p.name: p.read_bytes() for p in model.iterdir()}
    for out in [*_spellings(tmp_path, model / "model.safetensors"), model / "config.pth"]:
        # --out M/config.pth would also write M/config.json beside it
        code = main(["convert", "--to", "hooked", str(model), "--out", str(out)])
        _one_line_error(code, capsys.readouterr().err, "would destroy the input")
    hooked = tmp_path / "d" / "model.safetensors"
    hooked.parent.mkdir()
    assert main(["convert", "--to", "hooked", str(model), "--out", str(hooked)]) == 0
    before = hooked.read_bytes()
    code = main(["convert", str(hooked), "--layout", "hooked", "--out", str(hooked.parent)])
    _one_line_error(code, capsys.readouterr().err, "would destroy the input")
    assert hooked.read_bytes() == before and {p.name: p.read_bytes() for p in model.iterdir()} == files


def test_writing_through_a_symlink_keeps_the_link(tmp_path, capsys):
    games = tmp_path / "g.h5"
    assert main(["generate", "--games", "5", "--seed", "1", "--out", str(games), "--quiet"]) == 0
    target = tmp_path / "real.txt"
    target.write_text("old\n")
    link = tmp_path / "out.txt"
    link.symlink_to(target)
    assert main(["export", str(games), "--out", str(link)]) == 0
    assert link.is_symlink() and len(target.read_text().splitlines()) == 5


def test_stale_temporaries_of_killed_processes_are_swept(tmp_path, capsys):
    out = tmp_path / "g.h5"
    dead = tmp_path / ".g.h5.tmp-999999999"  # no such process
    dead.write_bytes(b"x" * 1000)
    alive = tmp_path / f".g.h5.tmp-{1}"  # init: alive, not ours to remove
    alive.write_bytes(b"y")
    assert main(["generate", "--games", "5", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    assert not dead.exists() and alive.exists() and out.exists()


_HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, str(os.getpid()).encode(), 0)
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, capsys):
    import subprocess
    import sys

    out = tmp_path / "g.h5"
    assert main(["generate", "--games", "5", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    lock = tmp_path / "g.h5.lock"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main(["generate", "--games", "5", "--seed", "1", "--out", str(out), "--append", "--quiet"])
        _one_line_error(code, capsys.readouterr().err, f"being written by process {holder.pid}")
    finally:
        holder.kill()  # kill -9: it never releases the lock itself
        holder.wait()
    assert main(["generate", "--games", "5", "--seed", "1", "--out", str(out), "--append", "--quiet"]) == 0
    assert len(load_moves(out)) == 10 and not lock.exists()


def _tiny_model(folder):
    from othello.model import build_model, preset, save_model
    from othello.model.checkpoints import write_run_config

    write_run_config(folder, preset("tiny"), None)
    save_model(folder, build_model(preset("tiny")))
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["bool", "int", "nan", "inf"])
def test_converted_weights_must_be_finite_floats(tmp_path, capsys, damage):
    """A state dict of bool or integer tensors, or one holding NaN or Infinity, is refused naming a tensor (they
    were cast and run)."""
    import torch

    model = _tiny_model(tmp_path / "m")
    hooked = tmp_path / "h.pth"
    assert main(["convert", "--to", "hooked", str(model), "--out", str(hooked)]) == 0
    tensors = torch.load(hooked, weights_only=True)
    name = next(k for k, v in tensors.items() if v.is_floating_point() and v.ndim == 2)
    if damage in ("bool", "int"):
        tensors = {k: v.to(torch.bool if damage == "bool" else torch.int32) for k, v in tensors.items()}
    else:
        tensors[name] = torch.full_like(tensors[name], float(damage))
    torch.save(tensors, hooked)
    code = main(["convert", str(hooked), "--layout", "hooked", "--out", str(tmp_path / "c")])
    _one_line_error(code, capsys.readouterr().err, "floating point" if damage in ("bool", "int") else "NaN or infinite")


def _huge_header(path):
    """A safetensors file whose header claims far more bytes than the file holds."""
    path.write_bytes(struct.pack("<Q", 2**40) + b'{"W": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}')


SAE_DAMAGE = {
    "cfg-list": ("cfg.json", lambda p: p.write_text("[1, 2]"), "expected an object"),
    "cfg-string-d_in": (
        "cfg.json",
        lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "d_in": "16"})),
        "d_in",
    ),
    "cfg-huge-d_sae": (
        "cfg.json",
        lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "d_sae": 32_000_000_000})),
        "before allocating",
    ),
    "cfg-deep": ("cfg.json", lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "unreadable"),
    "weights-header": ("sae_weights.safetensors", _huge_header, "not a readable safetensors"),
    "weights-truncated": ("sae_weights.safetensors", lambda p: p.write_bytes(p.read_bytes()[:50]), "safetensors"),
    "state-garbage": ("state.json", lambda p: p.write_text("{not json"), "not a training state"),
    "state-list": ("state.json", lambda p: p.write_text("[]"), "not a training state"),
    "state-step": (
        "state.json",
        lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "step": "3"})),
        "not a training state",
    ),
    "state-truncated": ("state.safetensors", lambda p: p.write_bytes(p.read_bytes()[:100]), "safetensors"),
}


@pytest.fixture(scope="module")
def sae_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sae")
    model = _tiny_model(folder / "m")
    args = ["sae", "train", "--hook", "blocks.0.hook_resid_post", "--latents", "32", "--k", "4", "--tokens", "1k"]
    args += ["--batch-size", "128", "--chunk-games", "4", "--model", str(model), "--out", str(folder / "run")]
    assert main([*args, "--quiet"]) == 0
    return folder, args


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(SAE_DAMAGE))
def test_damaged_sae_files_are_one_line(sae_run, tmp_path, capsys, damage):
    """Each file of an SAE run damaged in turn: the command that reads it (sae eval, sae train --resume) answers one
    line naming what is wrong, never a traceback, and allocates nothing for a size it has not checked."""
    import shutil

    folder, args = sae_run
    run = tmp_path / "run"
    shutil.copytree(folder / "run", run)
    name, damage_it, message = SAE_DAMAGE[damage]
    damage_it(run / name)
    model = ["--model", str(folder / "m")]
    if name.startswith("state"):
        commands = [[*args[:-1], str(run), "--resume", "--quiet"]]
    else:
        commands = [["sae", "eval", str(run), "--games", "8", "--quiet", *model]]
    for argv in commands:
        code = main(argv)
        _one_line_error(code, capsys.readouterr().err, message)


@pytest.mark.slow
def test_sae_train_refuses_a_batch_no_chunk_can_fill(tmp_path, capsys):
    """A batch larger than a chunk of games made no step, ever: refused up front, naming both sizes."""
    args = ["sae", "train", "--hook", "blocks.0.hook_resid_post", "--latents", "32", "--k", "4", "--tokens", "1M"]
    args += ["--chunk-games", "1", "--batch-size", "100000", "--model", str(_tiny_model(tmp_path / "m"))]
    code = main([*args, "--out", str(tmp_path / "run"), "--quiet"])
    _one_line_error(code, capsys.readouterr().err, "a batch of 100000 tokens is more than a chunk of 1 games")


@pytest.mark.slow
@pytest.mark.parametrize("hook", ["blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z", "blocks.0.attn.hook_q"])
def test_sae_train_refuses_a_hook_that_is_not_one_vector_per_position(tmp_path, capsys, hook):
    args = ["sae", "train", "--hook", hook, "--latents", "32", "--k", "4", "--tokens", "1k", "--batch-size", "128"]
    args += ["--chunk-games", "4", "--model", str(_tiny_model(tmp_path / "m")), "--out", str(tmp_path / "run")]
    _one_line_error(main([*args, "--quiet"]), capsys.readouterr().err, "not one vector per position")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "sae train"])
def test_a_second_run_into_a_held_folder_is_refused_naming_the_holder(tmp_path, capsys, command):
    """Two runs into one --out folder would interleave their metrics and checkpoints: the second is refused."""
    import subprocess
    import sys

    run = tmp_path / "run"
    if command == "train":
        args = ["train", "--preset", "tiny", "--steps", "4", "--batch-size", "8", "--eval-games", "16"]
    else:
        args = ["sae", "train", "--hook", "blocks.0.hook_resid_post", "--latents", "32", "--k", "4"]
        args += ["--tokens", "1k", "--batch-size", "128", "--chunk-games", "4"]
        args += ["--model", str(_tiny_model(tmp_path / "m"))]
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, f"{run}.lock"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main([*args, "--out", str(run), "--quiet"])
        _one_line_error(code, capsys.readouterr().err, f"being written by process {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    assert not run.exists() or not any(run.iterdir())
    assert main([*args, "--out", str(run), "--quiet"]) == 0 and not (tmp_path / "run.lock").exists()


_RACE = """
import os, sys, time
from othello.errors import OthelloError
from othello.files import writer_lock
target, held, start = sys.argv[1:4]
while not os.path.exists(start):
    pass  # spin, so that every racer starts within microseconds of the others
try:
    with writer_lock(target):
        try:
            fd = os.open(held, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            print("overlap")  # another holder is inside at the same time
            sys.exit(0)
        time.sleep(0.05)
        os.close(fd)
        os.unlink(held)
        print("held")
except OthelloError:
    print("refused")
"""


def _race(tmp_path, script: str, racers: int, *args: str) -> list[str]:
    """Start ``racers`` processes that wait for one start signal, then run ``script``; their outputs."""
    import subprocess
    import sys
    import time

    start = tmp_path / "start"
    start.unlink(missing_ok=True)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, *args, str(start)], stdout=subprocess.PIPE, text=True)
        for _ in range(racers)
    ]
    time.sleep(1.5)  # every racer imported and spinning
    start.touch()
    return [p.communicate(timeout=120)[0].strip() for p in procs]


@pytest.mark.slow
@pytest.mark.parametrize("stale", [False, True])
def test_the_lock_admits_one_writer_among_many_racing_processes(tmp_path, stale):
    """Eight processes take the lock at the same instant, five rounds: never two holders at once; with a stale lock
    file of a dead process in place, exactly the same (the takeover is the kernel's, not a race)."""
    target = tmp_path / "g.h5"
    for _ in range(5):
        if stale:
            (tmp_path / "g.h5.lock").write_text("999999999")
        outcomes = _race(tmp_path, _RACE, 8, str(target), str(tmp_path / "held"))
        assert "overlap" not in outcomes and "held" in outcomes
        assert sorted(set(outcomes)) <= ["held", "refused"], outcomes


_APPEND = """
import os, sys
from othello.data.datasets import generate
from othello.errors import OthelloError
out, start = sys.argv[1:3]
while not os.path.exists(start):
    pass
try:
    generate(out, 100, seed=3, append=True, progress=False)
    print("appended")
except OthelloError:
    print("refused")
"""


@pytest.mark.slow
def test_racing_appends_never_lose_games(tmp_path):
    """Six appends of 100 games at the same instant: the file gains exactly 100 games for each one that says it
    appended, and the others are refused."""
    from othello.data.datasets import generate

    out = tmp_path / "g.h5"
    generate(out, 100, seed=3, progress=False)
    total = 100
    for _ in range(2):
        outcomes = _race(tmp_path, _APPEND, 6, str(out))
        assert sorted(set(outcomes)) <= ["appended", "refused"] and "appended" in outcomes, outcomes
        total += 100 * outcomes.count("appended")
        moves = load_moves(out)
        assert len(moves) == total
        assert len(np.unique(moves, axis=0)) == total  # no two appends continued the stream from the same game


@pytest.mark.parametrize("count", [3, 7, 0])
def test_append_refuses_a_file_whose_count_disagrees_with_its_rows(tmp_path, capsys, count):
    out = tmp_path / "g.h5"
    assert main(["generate", "--games", "5", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    with h5py.File(out, "a") as f:
        f.attrs["count"] = count
    before = out.read_bytes()
    code = main(["generate", "--games", "5", "--seed", "1", "--out", str(out), "--append", "--quiet"])
    _one_line_error(code, capsys.readouterr().err, f"says {count} games but it holds 5 rows")
    assert out.read_bytes() == before


BAD_ATTRIBUTES = {
    "format_version": ["one", float("nan"), 1.5, [1, 2]],
    "first_game": ["zero", float("inf"), None],
    "seed": ["seven", float("nan"), None],
    "count": ["five", -0.5, None],
}


@pytest.mark.parametrize("name", sorted(BAD_ATTRIBUTES))
def test_game_file_attributes_of_the_wrong_type_or_missing_are_one_line(tmp_path, capsys, name):
    """Each integer attribute a game file carries, set to a string, NaN, a fraction or removed (None), read by the
    commands that use it: one line naming the file and the attribute, never a traceback."""
    for value in BAD_ATTRIBUTES[name]:
        path = tmp_path / f"g-{name}.h5"
        path.unlink(missing_ok=True)
        assert main(["generate", "--games", "5", "--seed", "1", "--out", str(path), "--quiet"]) == 0
        with h5py.File(path, "a") as f:
            if value is None:
                del f.attrs[name]
            else:
                f.attrs[name] = value
        code = main(["info", str(path)])
        err = capsys.readouterr().err
        if code or name == "format_version":  # info reads the version; the others it only shows
            _one_line_error(code, err, name)
        code = main(["generate", "--games", "2", "--seed", "1", "--out", str(path), "--append", "--quiet"])
        if name == "count" and value is None:  # a count left out is the rows it holds
            assert code == 0
        else:  # an append continues the stream where first_game + count says it stopped, of that seed
            _one_line_error(code, capsys.readouterr().err, name)


@pytest.mark.slow
def test_a_file_declaring_a_billion_games_costs_only_what_is_read(tmp_path, capsys, tiny_model):
    """The header says 10^9 games (a chunked dataset, nearly empty on disk): --games 10 reads ten, not 56 GiB."""
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        moves = f.create_dataset("moves", shape=(10**9, 60), dtype=np.int8, chunks=(1024, 60), fillvalue=-1)
        moves[:20] = random_games(20, 5)
        f.attrs.update({"format_version": 1, "source": "test", "count": 10**9})
    assert main(["eval", "--data", str(path), "--games", "10", "--model", str(tiny_model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["games"] == 10


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_deep_perft_stops_at_a_signal(signal_name):
    """perft 20 counts for days in one compiled call: the signal stops it at once (bound generous for a loaded
    machine; before, it was ignored until the count ended)."""
    import signal
    import subprocess
    import sys
    import time

    # compile the kernel first (numba caches it): on a fresh clone the signal would otherwise land while numba
    # compiles, which is not what this test is about, and a loaded machine compiles for longer than the wait below
    subprocess.run([sys.executable, "-m", "othello.cli", "perft", "1"], check=True, capture_output=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "othello.cli", "perft", "20", "--all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # as a shell starts it: a signal the test process was left ignoring (an earlier test's server installs its
        # own handlers) would otherwise be inherited, and the child would never see the Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # counting once the quick depths are printed (however long a loaded machine took to start it): a signal
        # sent earlier would land in the imports, which is not what this test is about
        for line in proc.stdout:
            if line.startswith("perft(7)"):
                break
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(getattr(signal, signal_name))
        code = proc.wait(timeout=20)
        waited = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    assert code == 130 and waited < 10, (code, waited, proc.stderr.read()[-500:])


DEVICE_COMMANDS = [
    ["train", "--out", "{tmp}/r"],
    ["eval", "--data", "{tmp}/none.h5"],
    ["predict", "f5"],
    ["probe", "--data", "{tmp}/none.h5"],
    ["intervene-eval"],
    ["intervene", "--game", "f5 d6", "--flip", "e4"],
    ["readout", "--game", "f5"],
    ["neurons", "--layer", "0"],
    ["neuron", "0", "1"],
    ["heads"],
    ["attribute", "--game", "f5", "--move", "d6"],
    ["patch", "--clean", "f5 d6", "--corrupt", "f5 f6", "--move", "c3"],
    ["sae", "train", "--out", "{tmp}/s"],
    ["sae", "eval", "{tmp}/s"],
    ["demo", "--out", "{tmp}/d"],
    ["explore"],
]


@pytest.mark.slow
@pytest.mark.parametrize("argv", DEVICE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_refuses_a_cuda_device_this_machine_lacks(tmp_path, capsys, argv):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    command = [x.replace("{tmp}", str(tmp_path)) for x in argv]
    code = main([*command, "--device", "cuda:7"])
    _one_line_error(code, capsys.readouterr().err, "--device cuda:7")


def test_probe_refuses_a_figure_from_a_handful_of_games(tmp_path, capsys, tiny_model):
    games = tmp_path / "g.h5"
    assert main(["generate", "--games", "3", "--seed", "1", "--out", str(games), "--quiet"]) == 0
    code = main(["probe", "--data", str(games), "--model", str(tiny_model), "--quiet"])
    _one_line_error(code, capsys.readouterr().err, "means nothing")


@pytest.mark.parametrize("link", ["soft-loop", "soft-dangling", "external"])
def test_a_moves_link_that_loops_dangles_or_leaves_the_file_is_one_line(tmp_path, capsys, link):
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        target = {"soft-loop": "/moves", "soft-dangling": "/nowhere"}.get(link)
        f["moves"] = h5py.SoftLink(target) if target else h5py.ExternalLink(str(tmp_path / "other.h5"), "/moves")
        f.attrs.update({"format_version": 1, "source": "synthetic", "seed": 1, "first_game": 0, "count": 5})
    for argv in (["info", str(path)], ["generate", "--games", "2", "--seed", "1", "--out", str(path), "--append"]):
        _one_line_error(main(argv), capsys.readouterr().err, "not the dataset itself")


def test_a_model_config_nested_100000_deep_is_one_line(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"model": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _one_line_error(main(["predict", "f5", "--model", str(tmp_path)]), capsys.readouterr().err, "nested too deep")


def test_labels_are_dropped_when_games_are_appended(tmp_path, capsys):
    out = tmp_path / "g.h5"
    assert main(["generate", "--games", "6", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    assert main(["labels", str(out), "--quiet"]) == 0
    assert main(["generate", "--games", "4", "--seed", "1", "--out", str(out), "--append", "--quiet"]) == 0
    with h5py.File(out) as f:
        assert f["moves"].shape[0] == 10 and "boards" not in f and "labels" not in f.attrs


def test_a_game_file_that_is_too_long_a_line_fails_fast(tmp_path, capsys):
    path = tmp_path / "long.txt"
    path.write_text("f5" * 50_000 + "\n")
    code = main(["import", str(path), "--out", str(tmp_path / "o.h5"), "--quiet"])
    _one_line_error(code, capsys.readouterr().err, "longer than")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from('abcdefghABCDEFGH12345678 ,;.-\n#pas*{}()[]"$!?0'), max_size=300))
def test_any_text_is_read_or_refused_cleanly(tmp_path, text):
    """Whatever a text or PGN file holds, the readers return games or raise the project's error: nothing else."""
    for reader, name in ((read_text, "t.txt"), (read_pgn, "t.pgn")):
        path = tmp_path / name
        path.write_text(text)
        try:
            games = reader(path)
        except (GameImportError, OthelloError):
            continue
        for row in games.moves:
            moves = [int(s) for s in row if s >= 0]
            assert len(moves) <= 60 and all(0 <= s < 64 for s in moves)


def test_a_written_pass_is_checked_and_a_needed_one_kept(tmp_path):
    # find a game with a forced pass, write it with its pass, and see it read; the same pass one move early fails
    for g in GAMES:
        board, game = Board(), [int(s) for s in g if s >= 0]
        for k, s in enumerate(game):
            if board.must_pass():
                names = [square_name(x) for x in game]
                (tmp_path / "p.txt").write_text(" ".join(names[:k] + ["pass"] + names[k:]) + "\n")
                assert read_text(tmp_path / "p.txt").moves[0][: len(game)].tolist() == game
                (tmp_path / "q.txt").write_text(" ".join(names[: k - 1] + ["pass"] + names[k - 1 :]) + "\n")
                assert read_text(tmp_path / "q.txt").invalid
                return
            board.push(s)
    pytest.skip("no forced pass in these games")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB file system (tmpfs), where mounting one is allowed (CI runs as root); skipped elsewhere."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small file system here")
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_nothing(small_disk, capsys):
    code = main(["generate", "--games", "100000", "--seed", "1", "--out", str(small_disk / "g.h5"), "--quiet"])
    _one_line_error(code, capsys.readouterr().err, "no space left")
    args = ["train", "--preset", "small", "--steps", "2", "--eval-games", "16", "--out", str(small_disk / "r")]
    code = main(args + ["--quiet"])
    _one_line_error(code, capsys.readouterr().err, "no space left")
    assert not list(small_disk.rglob(".*.tmp-*"))  # no temporary left behind


@pytest.mark.slow
def test_a_disk_that_fills_during_an_hdf5_write_ends_in_the_one_line(small_disk, tmp_path):
    """labels fills the disk inside HDF5's writes: one line, exit 2, nothing after it (HDF5 crashed the process
    when the failed file's handles were freed: a segmentation fault after the line), the old file intact. In a
    subprocess, since the crash would take the test run with it."""
    import shutil
    import subprocess
    import sys

    games = small_disk / "g.h5"
    assert main(["generate", "--games", "3000", "--seed", "1", "--out", str(tmp_path / "g.h5"), "--quiet"]) == 0
    shutil.copyfile(tmp_path / "g.h5", games)
    before = games.read_bytes()
    for args in (
        ["labels", str(games), "--labels", "boards,legal,flipped", "--quiet"],
        ["labels", str(games), "--quiet"],
    ):
        run = subprocess.run([sys.executable, "-m", "othello.cli", *args], capture_output=True, text=True)
        _one_line_error(run.returncode, run.stderr, "no space left")
        assert games.read_bytes() == before and not list(small_disk.glob(".*"))


def test_sigterm_stops_cleanly_and_removes_the_temporary(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "g.h5"
    process = subprocess.Popen(
        [sys.executable, "-m", "othello.cli.entry", "generate", "--games", "3000000", "--seed", "1", "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while not list(tmp_path.glob(".g.h5.tmp-*")) and time.time() < deadline:
            time.sleep(0.1)  # wait until it writes
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()  # a command that ignored the stop must not go on generating beside the rest of the suite
    assert process.returncode == 130 and "stopped" in err and "Traceback" not in err, err
    assert not out.exists() and not list(tmp_path.glob(".g.h5.tmp-*"))


def test_a_stop_that_a_callback_drops_is_raised_again():
    """SIGTERM landing in a finaliser (or a ctypes callback, as when numba compiles) is printed and dropped by
    Python; the command must stop all the same."""
    import os
    import signal
    import time

    from othello.cli.entry import Terminated, stops_on_sigterm

    class StoppedWhileFinalising:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, inside the finaliser

    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), stops_on_sigterm():
        StoppedWhileFinalising()
        deadline = time.time() + 5
        while time.time() < deadline:
            time.sleep(0.01)
    assert signal.getsignal(signal.SIGTERM) is handler and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def _protected_cases(model, games, folder):
    """(argv, the input it must not replace) for every command that writes: a file output named as an input is
    refused before any work; a file written inside an --out folder that is an input (a hard link here) is refused
    as it is written."""
    import os

    folder.mkdir(exist_ok=True)
    m = ["--model", str(model)]

    def linked(name, target):
        out = folder / name.replace("/", "-")
        out.mkdir(exist_ok=True)
        link = out / name.split("/")[-1]
        if not link.exists():
            os.link(target, link)
        return str(out)

    run = folder / "run"
    run.mkdir(exist_ok=True)
    (run / "config.json").write_text('{"model": {"n_layers": 1}, "train": null}\n')
    (run / "report.html").symlink_to(run / "config.json")
    return {
        "predict": (["predict", "f5 d6", *m, "--png", str(model / "model.safetensors")], model / "model.safetensors"),
        "readout": (["readout", "--game", "f5 d6", *m, "--out", str(model / "config.json")], model / "config.json"),
        "intervene": (
            ["intervene", "--game", "f5 d6", "--flip", "e4", *m, "--out", str(model / "model.safetensors")],
            model / "model.safetensors",
        ),
        "attribute": (
            [
                "attribute",
                "--game",
                "f5 d6",
                "--move",
                "c3",
                *m,
                "--out",
                linked("a/attribution.json", model / "config.json"),
            ],
            model / "config.json",
        ),
        "heads": (
            ["heads", "--games", "4", *m, "--out", linked("h/head_rows.json", model / "model.safetensors")],
            model / "model.safetensors",
        ),
        "train": (
            [
                "train",
                "--data",
                str(games),
                "--preset",
                "tiny",
                "--steps",
                "1",
                "--quiet",
                "--out",
                linked("t/model.safetensors", games),
            ],
            games,
        ),
        "report": (["report", str(run)], run / "config.json"),
    }


@pytest.mark.parametrize(
    "flag, value, named",
    [
        ("--batch-size", "3000000", "training batches of 3,000,000 games"),
        ("--eval-games", "2000000000", "evaluation games"),
    ],
)
def test_train_refuses_what_cannot_fit_before_allocating(flag, value, named, tmp_path, capsys):
    games = tmp_path / "g.h5"
    assert main(["generate", "--games", "200", "--seed", "1", "--out", str(games), "--quiet"]) == 0
    code = main(
        ["train", "--data", str(games), "--preset", "small", flag, value, "--out", str(tmp_path / "r"), "--quiet"]
    )
    _one_line_error(code, capsys.readouterr().err, named)
    assert not (tmp_path / "r" / "config.json").exists()


@pytest.mark.parametrize("command", ["predict", "readout", "intervene", "attribute", "heads", "train", "report"])
def test_every_writing_command_refuses_to_replace_what_it_reads(command, tmp_path, capsys, tiny_model):
    import shutil

    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    games = tmp_path / "g.h5"
    assert main(["generate", "--games", "200", "--seed", "1", "--out", str(games), "--quiet"]) == 0  # train: >= 128
    argv, protected = _protected_cases(model, games, tmp_path / "outs")[command]
    before = protected.read_bytes()
    capsys.readouterr()
    code = main(argv)
    _one_line_error(code, capsys.readouterr().err, "would destroy the input")
    assert protected.read_bytes() == before


def test_protected_inputs_belong_to_one_context(tmp_path):
    """The inputs a command protects are its own: another thread writing the same name is not refused."""
    import threading

    from othello.files import OutputPathError, protecting_inputs, write_text

    target = tmp_path / "f.txt"
    target.write_text("input\n")
    seen = []
    with protecting_inputs([target]):
        with pytest.raises(OutputPathError, match="would destroy the input"):
            write_text(target, "lost\n")
        worker = threading.Thread(target=lambda: seen.append(write_text(target, "theirs\n")))
        worker.start()
        worker.join()
    assert seen == [None] and target.read_text() == "theirs\n"


@pytest.mark.parametrize(
    "summary, named",
    [("{}", "'provenance'"), ('{"provenance": 3, "model_config": []}', "summary.json"), ("{", "not a JSON file")],
)
def test_report_on_a_summary_it_did_not_write(summary, named, tmp_path, capsys):
    (tmp_path / "summary.json").write_text(summary)
    code = main(["report", str(tmp_path)])
    _one_line_error(code, capsys.readouterr().err, named)
    assert not (tmp_path / "report.html").exists()


@pytest.fixture(scope="module")
def hooked_tiny(tiny_model, tmp_path_factory):
    """The tiny model's weights as a TransformerLens HookedTransformer state dict."""
    import torch

    out = tmp_path_factory.mktemp("hooked") / "h.pth"
    assert main(["convert", "--to", "hooked", str(tiny_model), "--out", str(out)]) == 0
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize("layout", ["hooked", "mingpt"])
@pytest.mark.parametrize("damage", ["scalar", "odd name", "block number", "shape"])
def test_published_checkpoints_with_odd_tensors_are_one_line(layout, damage, tmp_path, capsys, hooked_tiny):
    """A published checkpoint whose tensors are scalars, oddly named or of shapes that do not fit together is
    refused naming the file (a failed unpacking or reshape raised a traceback)."""
    import torch

    sd = dict(hooked_tiny)
    if layout == "mingpt":  # the same weights under minGPT's names (only what the reader looks at first matters)
        sd = {
            "tok_emb.weight": sd["embed.W_E"],
            "pos_emb": sd["pos_embed.W_pos"][None],
            "head.weight": sd["unembed.W_U"].T,
            "blocks.0.mlp.0.weight": sd["blocks.0.mlp.W_in"].T,
            "blocks.1.mlp.0.weight": sd["blocks.1.mlp.W_in"].T,
        }
    first = "embed.W_E" if layout == "hooked" else "tok_emb.weight"
    if damage == "scalar":
        sd[first] = torch.tensor(1.0)
    elif damage == "odd name":
        sd["blocks.x.w"] = torch.zeros(2)
    elif damage == "block number":
        sd["blocks.99999999999.w"] = torch.zeros(2)
    else:
        sd["blocks.0.attn.W_Q" if layout == "hooked" else "pos_emb"] = torch.zeros(3, 3, 3)
    torch.save(sd, tmp_path / "bad.pth")
    code = main(["convert", str(tmp_path / "bad.pth"), "--layout", layout, "--out", str(tmp_path / "out")])
    _one_line_error(code, capsys.readouterr().err, "bad.pth")
    assert not (tmp_path / "out" / "model.safetensors").exists()
