import argparse

import pytest

from othello.cli import args as types
from othello.cli.entry import build_parser, main


def test_ranges_lists_and_windows():
    assert types.int_range("2-4") == (2, 3, 4) and types.int_range("1,3") == (1, 3)
    assert types.int_range("1-2,5") == (1, 2, 5) and types.int_range("7") == (7,)
    assert types.window("5-53") == slice(5, 54) and types.window("7") == slice(7, 8)
    assert types.number_list("1,2,4") == (1.0, 2.0, 4.0)
    assert types.head_id("2.5") == (2, 5)
    assert types.choice_list(("a", "b"))("b,a") == ("b", "a")
    for parse, bad in (
        (types.int_range, "4-2"),
        (types.int_range, "x"),
        (types.int_range, "-1"),
        (types.window, "0-59"),
        (types.window, "5:54"),  # one way to write a range everywhere: FIRST-LAST, both ends included
        (types.number_list, "1,nan"),
        (types.number_list, "0"),
        (types.choice_list(("a",)), "b"),
        (types.positive_int, "0"),
        (types.non_negative_int, "-3"),
        (types.positive_float, "inf"),
        (types.seed, str(2**64)),
        (types.head_id, "2"),
        (types.head_id, "2.-1"),
    ):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


def test_model_overrides_take_the_field_type():
    assert types.model_override("n_layers=6") == ("n_layers", 6)
    assert types.model_override("act_fn=relu") == ("act_fn", "relu")
    for bad in ("nlayers=3", "n_layers=abc", "n_layers"):
        with pytest.raises(argparse.ArgumentTypeError):
            types.model_override(bad)


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["train", "--out", "x", "--set", "nlayers=3"], "--set"),
        (["train", "--out", "x", "--set", "n_layers=abc"], "--set"),
        (["train", "--out", "x", "--steps", "-1"], "--steps"),
        (["train", "--out", "x", "--eval-every", "0"], "--eval-every"),
        (["probe", "--data", "x.h5", "--positions", "5-99"], "--positions"),
        (["probe", "--data", "x.h5", "--labels", "relative,colr"], "--labelling"),
        (["probe", "--data", "x.h5", "--positions", "5:54"], "--positions"),
        (["probe", "--data", "x.h5", "--layers", "3-1"], "--layers"),
        (["intervene", "--game", "f5", "--flip", "e4", "--scale", "nan"], "--scale"),
        (["generate", "--games", "-1", "--out", "x.h5"], "--games"),
    ],
)
def test_bad_flag_values_fail_while_parsing_and_name_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2 and f"argument {flag}" in capsys.readouterr().err


def test_defaults_are_shown_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["probe", "--help"])
    assert "(default: 2000)" in capsys.readouterr().out


def test_a_bug_keeps_its_traceback(monkeypatch):
    import othello.cli.commands.world

    def broken(args):
        raise KeyError("a bug, not bad input")

    monkeypatch.setattr(othello.cli.commands.world, "cmd_show", broken)
    with pytest.raises(KeyError):
        main(["show", "f5"])


def test_one_vocabulary_of_flags_across_commands():
    parse = build_parser().parse_args
    # the labelling: --labelling everywhere, the old names still read
    assert parse(["probe", "--data", "a.h5", "--labels", "colour"]).labelling == ("colour",)
    assert parse(["probe", "--data", "a.h5", "--labelling", "relative,colour"]).labelling == ("relative", "colour")
    assert parse(["readout", "--game", "f5", "--label", "colour"]).labelling == "colour"
    assert parse(["readout", "--game", "f5", "--labelling", "colour"]).labelling == "colour"
    # "last N positions" of an edit is --edit-last (--positions is probe's window); the old name still reads
    for command in (["intervene", "--game", "f5", "--flip", "e4"], ["intervene-eval"]):
        assert parse([*command, "--edit-last", "5"]).edit_last == 5
        assert parse([*command, "--positions", "5"]).edit_last == 5
    # game files: space- or comma-separated on every command that reads several
    for command in (["eval"], ["probe"], ["train", "--out", "x"]):
        assert parse([*command, "--data", "a.h5,b.h5"]).data == ["a.h5", "b.h5"]
        assert parse([*command, "--data", "a.h5", "b.h5"]).data == ["a.h5", "b.h5"]
    assert parse(["export", "a.h5,b.h5", "--out", "g.txt"]).data == ["a.h5", "b.h5"]
    assert parse(["intervene-eval"]).data == ["synthetic"] and parse(["train", "--out", "x"]).data == ["synthetic"]


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "--games", "1", "--out", "g.h5"],
        ["import", "g.txt", "--out", "g.h5"],
        ["labels", "g.h5"],
        ["train", "--out", "r"],
        ["eval", "--data", "g.h5"],
        ["probe", "--data", "g.h5"],
        ["readout", "--game", "f5"],
        ["intervene", "--game", "f5", "--flip", "e4"],
        ["intervene-eval"],
        ["demo"],
    ],
)
def test_every_command_with_progress_bars_takes_quiet_and_json(command):
    args = build_parser().parse_args([*command, "--quiet", "--json"])
    assert args.quiet and args.json and not types.show_progress(args)


@pytest.mark.parametrize(
    "command",
    [["export", "g.h5", "--out", "g.txt"], ["convert", "--to", "hooked", "m", "--out", "h.pth"], ["report", "r"]],
)
def test_every_reporting_command_takes_json(command):
    assert build_parser().parse_args([*command, "--json"]).json


def test_the_parser_and_its_defaults_need_no_torch():
    """``othello-gpt --help`` answers at once: the commands' defaults come from torch-free config dataclasses."""
    import subprocess
    import sys

    code = (
        "import sys, othello.cli.entry; othello.cli.entry.build_parser(); "
        "print(sorted({'torch', 'h5py', 'numba'} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"
